//! Resources as every page creates them: loaded on the server, sent in the page as JSON, read back by the
//! browser without asking again.
//!
//! The JSON is read with `serde_json::from_slice`, as server functions read their answers, instead of
//! `from_str` (Leptos's default codec). Both readers are generic, so the browser build otherwise carries two
//! copies of the parsing code of every type a page both hydrates and fetches, one per reader; with one
//! reader the copies are shared. The text on the wire is the same JSON.

use std::future::Future;

use leptos::prelude::*;
use leptos::server::codee::{Decoder, Encoder};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// JSON written with `serde_json::to_string` and read back from its bytes (see the module docs).
pub struct Json;

impl<T: Serialize> Encoder<T> for Json {
    type Error = serde_json::Error;
    type Encoded = String;

    fn encode(val: &T) -> Result<String, serde_json::Error> {
        serde_json::to_string(val)
    }
}

impl<T: DeserializeOwned> Decoder<T> for Json {
    type Error = serde_json::Error;
    type Encoded = str;

    fn decode(val: &str) -> Result<T, serde_json::Error> {
        serde_json::from_slice(val.as_bytes())
    }
}

/// A resource: `fetcher` runs for each value of `source` (as `Resource::new`). A blocking one (the frame's
/// brand) is `Resource::<_, Json>::new_with_options(…, true)`.
#[track_caller]
pub fn new<T, S, Fut>(
    source: impl Fn() -> S + Send + Sync + 'static,
    fetcher: impl Fn(S) -> Fut + Send + Sync + 'static,
) -> Resource<T, Json>
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
    S: Send + Sync + Clone + PartialEq + 'static,
    Fut: Future<Output = T> + Send + 'static,
{
    Resource::new_with_options(source, fetcher, false)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn what_is_written_reads_back_as_leptos_own_codec_would() {
        let value: Result<Vec<(String, Option<i64>)>, String> =
            Ok(vec![("a \"b\" é".into(), Some(-3)), ("".into(), None)]);
        let text = <Json as Encoder<_>>::encode(&value).unwrap();
        assert_eq!(text, <leptos::server::codee::string::JsonSerdeCodec as Encoder<_>>::encode(&value).unwrap());
        let back: Result<Vec<(String, Option<i64>)>, String> = <Json as Decoder<_>>::decode(&text).unwrap();
        assert_eq!(back, value);
        assert!(<Json as Decoder<Result<i64, String>>>::decode("{\"Ok\":").is_err());
    }
}
