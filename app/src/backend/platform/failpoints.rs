//! Named failure points for crash-and-resume tests. A test arms a point; the next time the code passes
//! it, the step fails as if the process had died or the database had refused. Unarmed points cost one
//! uncontended lock. Production never arms them (nothing outside tests calls `arm`).

use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct Failpoints(Mutex<HashMap<String, u32>>);

impl Failpoints {
    /// The next `times` passes through `name` fail.
    pub fn arm(&self, name: &str, times: u32) {
        if let Ok(mut m) = self.0.lock() {
            m.insert(name.to_owned(), times);
        }
    }

    /// Fails if `name` is armed (and counts the use down).
    pub fn check(&self, name: &str) -> Result<(), crate::backend::BackendError> {
        let Ok(mut m) = self.0.lock() else { return Ok(()) };
        match m.get_mut(name) {
            Some(n) if *n > 0 => {
                *n -= 1;
                Err(crate::backend::BackendError::Failpoint(name.to_owned()))
            }
            _ => Ok(()),
        }
    }
}
