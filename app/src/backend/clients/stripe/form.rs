//! Stripe's request encoding: `application/x-www-form-urlencoded` pairs whose keys spell nested objects and
//! arrays with brackets (`metadata[invoice_id]`, `line_items[0][price_data][currency]`).

use super::error::StripeError;
use super::types::Metadata;

/// Stripe's documented metadata limits.
const METADATA_MAX_KEYS: usize = 50;
const METADATA_KEY_MAX_CHARS: usize = 40;
const METADATA_VALUE_MAX_CHARS: usize = 500;

/// Ordered form parameters, encoded once for the request body.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct FormParams {
    pairs: Vec<(String, String)>,
}

impl FormParams {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn push(&mut self, key: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.pairs.push((key.into(), value.into()));
        self
    }

    /// `prefix[key]=value` for every entry (`prefix` is e.g. `metadata` or `payment_intent_data[metadata]`).
    pub(crate) fn metadata(&mut self, prefix: &str, metadata: &Metadata) -> &mut Self {
        for (k, v) in metadata {
            self.pairs.push((format!("{prefix}[{k}]"), v.clone()));
        }
        self
    }

    pub(crate) fn encode(&self) -> String {
        let mut out = String::new();
        for (i, (k, v)) in self.pairs.iter().enumerate() {
            if i > 0 {
                out.push('&');
            }
            encode_component(&mut out, k);
            out.push('=');
            encode_component(&mut out, v);
        }
        out
    }
}

/// The WHATWG `application/x-www-form-urlencoded` byte serializer: `*-._` and alphanumerics as is, space as
/// `+`, every other byte of the UTF-8 as `%XX`.
fn encode_component(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => out.push(char::from(b)),
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0x0f)]));
            }
        }
    }
}

/// Refuses metadata Stripe would refuse (or misread: a bracket in a key would change the nesting).
pub(crate) fn check_metadata(metadata: &Metadata) -> Result<(), StripeError> {
    if metadata.len() > METADATA_MAX_KEYS {
        return Err(StripeError::InvalidArgument(format!("metadata has more than {METADATA_MAX_KEYS} keys")));
    }
    for (k, v) in metadata {
        if k.is_empty() || k.chars().count() > METADATA_KEY_MAX_CHARS || k.contains(['[', ']']) {
            return Err(StripeError::InvalidArgument(format!(
                "metadata key {k:?} must be 1 to {METADATA_KEY_MAX_CHARS} characters without brackets"
            )));
        }
        if v.chars().count() > METADATA_VALUE_MAX_CHARS {
            return Err(StripeError::InvalidArgument(format!(
                "metadata value of {k:?} is longer than {METADATA_VALUE_MAX_CHARS} characters"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_keys_and_values_are_percent_encoded() {
        let mut p = FormParams::new();
        p.push("line_items[0][price_data][currency]", "usd")
            .push("success_url", "https://a.test/ok?session={CHECKOUT_SESSION_ID}&x=1")
            .push("name", "Zoë Doe");
        p.metadata("metadata", &Metadata::from([("invoice_id".to_owned(), "inv 7".to_owned())]));
        assert_eq!(
            p.encode(),
            "line_items%5B0%5D%5Bprice_data%5D%5Bcurrency%5D=usd\
             &success_url=https%3A%2F%2Fa.test%2Fok%3Fsession%3D%7BCHECKOUT_SESSION_ID%7D%26x%3D1\
             &name=Zo%C3%AB+Doe&metadata%5Binvoice_id%5D=inv+7"
        );
    }

    #[test]
    fn metadata_limits_are_checked_before_sending() {
        let one = |k: &str, v: &str| Metadata::from([(k.to_owned(), v.to_owned())]);
        assert!(check_metadata(&one("invoice_id", "42")).is_ok());
        assert!(check_metadata(&one("a[b]", "x")).is_err());
        assert!(check_metadata(&one("", "x")).is_err());
        assert!(check_metadata(&one(&"k".repeat(41), "x")).is_err());
        assert!(check_metadata(&one("k", &"v".repeat(501))).is_err());
        let many: Metadata = (0..51).map(|i| (format!("k{i}"), String::new())).collect();
        assert!(check_metadata(&many).is_err());
    }
}
