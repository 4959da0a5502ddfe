//! The one global tracing subscriber of the test binary. Every test module runs in this one process, and a
//! process has a single global subscriber, so no test installs its own: whoever needs it first installs this
//! one, once, with everything any test needs.
//!
//! - The request log (target [`server::routes::REQUEST_LOG_TARGET`], debug and up), as JSON lines kept in
//!   memory: the request-log test in `security` reads it (only the lines of its own request ids, so the
//!   lines of tests running beside it do not matter).
//! - With `TEST_LOG` set, also the application's logs on stdout, as `server::telemetry::init` prints them in
//!   development (`RUST_LOG` as usual). The harness used to call that function, whose subscriber then took
//!   the one global place and the request-log test could no longer install its own.
//!
//! Tests that capture the events of their own thread (`kasm_sim`) set a thread-local default on top of it.

use std::sync::{Arc, Mutex, OnceLock};

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// What `server::telemetry::init` logs when `RUST_LOG` is unset.
const DEFAULT_FILTER: &str = "info,sqlx=warn,tower_http=info,leptos=warn";

/// Installs the subscriber (the first call does; the others do nothing) and returns the request log so far.
pub fn request_log() -> Arc<Mutex<Vec<u8>>> {
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer = buf.clone();
        let requests = tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_writer(move || Sink(writer.clone()))
            .with_filter(EnvFilter::new(format!("{}=debug", server::routes::REQUEST_LOG_TARGET)));
        let test_log = std::env::var_os("TEST_LOG").is_some();
        let printed = test_log.then(|| {
            let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
            tracing_subscriber::fmt::layer().compact().with_filter(filter)
        });
        let subscriber = tracing_subscriber::registry().with(requests).with(printed);
        const ONLY: &str = "nothing else in the test binary installs a global subscriber";
        if test_log {
            // As `server::telemetry::init` does (this also forwards the `log` crate's records).
            subscriber.try_init().expect(ONLY);
        } else {
            tracing::subscriber::set_global_default(subscriber).expect(ONLY);
        }
        buf
    })
    .clone()
}

/// Installs the subscriber (see [`request_log`]).
pub fn init() {
    request_log();
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
