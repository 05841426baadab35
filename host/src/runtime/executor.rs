//! The threads plugin code runs on: a tokio runtime of its own (one worker
//! per core, threads named `easel-plugin`), so that guest CPU work — a
//! render, a JSON parse, a base64 decode, each up to an epoch tick between
//! yields — never queues ahead of the server's own tasks (`/health`,
//! `tools/list`, other sessions) on the server's workers. The operating
//! system shares the cores between the two; the server's tasks are short
//! and mostly asleep, so they are scheduled promptly.

use std::future::Future;
use std::sync::OnceLock;
use tokio::task::JoinHandle;

/// Worker threads of the plugin runtime: the machine's cores (1 ..= 16).
pub fn workers() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).clamp(1, 16)
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers())
            .thread_name("easel-plugin")
            .enable_all()
            .build()
            .expect("starting the plugin runtime (threads and timers)")
    })
}

/// Run `future` (a plugin call and the host imports it makes) on the
/// plugin runtime. The runtime lives as long as the process.
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    runtime().spawn(future)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn plugin_work_runs_off_the_callers_thread_so_its_timers_keep_firing() {
        // A busy "guest" on the plugin runtime must not delay a timer on the
        // caller's single thread.
        let busy = spawn(async {
            let until = std::time::Instant::now() + std::time::Duration::from_millis(300);
            while std::time::Instant::now() < until {}
            (std::thread::current().name().map(str::to_string), std::time::Instant::now())
        });
        let tick = async {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            std::time::Instant::now()
        };
        let (busy, ticked) = tokio::join!(busy, tick);
        let (thread, finished) = busy.unwrap();
        assert_eq!(thread.as_deref(), Some("easel-plugin"));
        assert!(ticked < finished, "the caller's timer had to wait for the plugin's work");
    }
}
