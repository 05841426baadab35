//! The bounded pool for CPU-heavy image work (decode, validate, hash,
//! resize, encode): it runs on tokio's blocking threads, at most
//! [`permits`] jobs at once, so the async workers that answer `/health`,
//! `tools/list` and every other session never run a codec.

use std::sync::OnceLock;
use tokio::sync::Semaphore;

/// Image jobs that may run at once: the machine's cores (1 ..= 8). More wait
/// their turn in FIFO order instead of piling threads onto the CPU.
pub fn permits() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).clamp(1, 8)
}

fn pool() -> &'static Semaphore {
    static POOL: OnceLock<Semaphore> = OnceLock::new();
    POOL.get_or_init(|| Semaphore::new(permits()))
}

/// Run `work` on the image pool and wait for it.
///
/// Errors: only if `work` panicked (the panic is caught; the server goes
/// on), as "image work failed: …". `work`'s own errors are its `R`.
pub async fn image_work<R, F>(work: F) -> anyhow::Result<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let _permit = pool().acquire().await.expect("the image pool is never closed");
    tokio::task::spawn_blocking(work).await.map_err(|e| anyhow::anyhow!("image work failed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn image_work_leaves_the_async_thread_free_and_survives_a_panic() {
        // On a single async thread, a timer must fire while image work spins.
        let spin = image_work(|| {
            let until = std::time::Instant::now() + std::time::Duration::from_millis(300);
            while std::time::Instant::now() < until {}
            std::time::Instant::now()
        });
        let tick = async {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            std::time::Instant::now()
        };
        let (spun, ticked) = tokio::join!(spin, tick);
        assert!(ticked < spun.unwrap(), "the timer had to wait for the image work to end");
        let error = image_work(|| -> u8 { panic!("bad codec") }).await.unwrap_err();
        assert!(format!("{error:#}").contains("image work failed"), "{error:#}");
    }
}
