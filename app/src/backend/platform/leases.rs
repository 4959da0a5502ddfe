//! Work done under a lease in the database: the lease is short (a dead server's work is taken over in
//! seconds) and renewed while the work runs (a slow call keeps it). Jobs, loop passes, workspace syncs and
//! outbox batches all hold theirs this way.

use std::future::Future;
use std::time::Duration;

/// Runs `work` to its end, calling `renew` every `every` meanwhile (first after one `every`).
pub async fn while_renewing<T, R, RF>(work: impl Future<Output = T>, every: Duration, mut renew: R) -> T
where
    R: FnMut() -> RF,
    RF: Future<Output = ()>,
{
    tokio::pin!(work);
    let mut beat = tokio::time::interval(every);
    beat.tick().await;
    loop {
        tokio::select! {
            // Finished work is returned before any further renewal.
            biased;
            out = &mut work => return out,
            _ = beat.tick() => renew().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn renews_while_the_work_runs_and_not_after() {
        let renewals = AtomicUsize::new(0);
        let third = tokio::sync::Notify::new();
        // The work ends once it has been renewed three times.
        let out = while_renewing(
            async {
                third.notified().await;
                7
            },
            Duration::from_millis(1),
            || async {
                if renewals.fetch_add(1, Ordering::Relaxed) + 1 == 3 {
                    third.notify_one();
                }
            },
        )
        .await;
        assert_eq!((out, renewals.load(Ordering::Relaxed)), (7, 3));
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(renewals.load(Ordering::Relaxed), 3, "nothing renews a finished work's lease");
    }
}
