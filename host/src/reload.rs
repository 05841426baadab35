//! Re-reading `plugins.toml` while `easel serve` runs: on SIGHUP, and with
//! `--watch` whenever the file's contents change (checked every
//! [`WATCH_INTERVAL`], by digest, so editors that write a new file and
//! rename it over the old are seen too). A file that does not parse leaves
//! the running deployment as it is and logs the error with its file, line,
//! column and fix; what a good one changes is [`App::reload`]'s business.

use crate::app::App;
use crate::config::Deployment;
use crate::providers::ReloadReport;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// How often `--watch` reads the file.
pub const WATCH_INTERVAL: Duration = Duration::from_millis(500);

/// Read `path` and apply it to `app`; `why` says what asked (for the log).
/// Errors: the file cannot be read or does not parse (nothing changes; the
/// message names file, line and column).
pub async fn reload_from(app: &App, path: &Path, why: &str) -> Result<ReloadReport, String> {
    match Deployment::load(path) {
        Err(error) => {
            let message = format!("{error}");
            tracing::error!("not reloaded ({why}); the running deployment is unchanged: {message}");
            Err(message)
        }
        Ok(next) => {
            let report = app.reload(next).await;
            // An operator's own action: always shown, whatever the log filter.
            eprintln!("easel: reloaded {} ({why}): {report}", path.display());
            Ok(report)
        }
    }
}

/// Reload `path` into `app` on every SIGHUP and, with `watch`, whenever
/// its contents change; runs until the process ends.
pub fn spawn(app: Arc<App>, path: PathBuf, watch: bool) {
    tokio::spawn(async move {
        #[cfg(unix)]
        let mut hangup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(signal) => Some(signal),
            Err(e) => {
                tracing::warn!("cannot listen for SIGHUP, so `kill -HUP` will not reload: {e}");
                None
            }
        };
        let mut seen = digest(&path);
        let mut tick = tokio::time::interval(WATCH_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            #[cfg(unix)]
            let hangup_received = async {
                match hangup.as_mut() {
                    Some(signal) => signal.recv().await,
                    None => std::future::pending().await,
                }
            };
            #[cfg(not(unix))]
            let hangup_received = std::future::pending::<Option<()>>();
            let why = tokio::select! {
                _ = hangup_received => "SIGHUP",
                _ = tick.tick(), if watch => {
                    let now = digest(&path);
                    if now == seen {
                        continue;
                    }
                    "the file changed"
                }
            };
            seen = digest(&path);
            let _ = reload_from(&app, &path, why).await;
        }
    });
}

/// sha256 of the file's bytes; `None` while it cannot be read.
fn digest(path: &Path) -> Option<[u8; 32]> {
    std::fs::read(path).ok().map(|bytes| Sha256::digest(&bytes).into())
}
