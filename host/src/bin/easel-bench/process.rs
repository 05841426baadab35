//! The child `easel` process: the command line every section starts it
//! with ([`Launch`]), what /proc says about it while it runs (CPU time:
//! utime + stime of /proc/PID/stat; memory: VmRSS, VmHWM of
//! /proc/PID/status), and the warnings and errors it logged.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

/// Environment variables the child must not inherit: they would change the
/// deployment, the paths or the HTTP access the bench sets on the command line.
const SCRUBBED_ENV: &[&str] =
    &["EASEL_CONFIG", "EASEL_STORE", "EASEL_CACHE", "EASEL_HTTP_TOKENS", "EASEL_HTTP_TOKENS_FILE", "OPENAI_API_KEY"];

/// How one `easel` child is started: `[--config FILE] --cache DIR --store DIR`,
/// then the subcommand the caller adds, with `env` set on top of a scrubbed
/// environment.
pub struct Launch<'a> {
    pub easel: &'a Path,
    pub cache: &'a Path,
    pub store: &'a Path,
    pub config: Option<&'a Path>,
    pub env: &'a [(&'a str, &'a str)],
}

impl Launch<'_> {
    /// The command up to (not including) the subcommand.
    pub fn command(&self) -> Command {
        let mut command = Command::new(self.easel);
        if let Some(config) = self.config {
            command.arg("--config").arg(config);
        }
        command.arg("--cache").arg(self.cache).arg("--store").arg(self.store);
        for name in SCRUBBED_ENV {
            command.env_remove(name);
        }
        for (name, value) in self.env {
            command.env(name, value);
        }
        command
    }
}

/// Seconds of CPU (user + system, all threads) process `pid` has used.
pub fn cpu_seconds(pid: u32) -> std::io::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // `pid (comm) state ppid …`: comm may hold spaces and parentheses, so
    // count fields from the last `)`. After it, field 3 (state) comes first;
    // utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let tick = |index: usize| fields.get(index).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    Ok((tick(14 - 3) + tick(15 - 3)) as f64 / clock_ticks_per_second())
}

/// A `kB` line of /proc/PID/status (`VmRSS`, `VmHWM`), KiB.
pub fn status_kib(pid: u32, field: &str) -> std::io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':')?.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no {field} in /proc/{pid}/status")))
}

/// `sysconf(_SC_CLK_TCK)`, asked of `getconf` once (the bench links no
/// libc crate); 100, the Linux USER_HZ, if that fails.
fn clock_ticks_per_second() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .and_then(|text| text.trim().parse::<f64>().ok())
            .filter(|ticks| *ticks > 0.0)
            .unwrap_or(100.0)
    })
}

/// The WARN and ERROR lines (and panics) among `lines`, grouped: the
/// timestamp dropped and digits read as `#`, so "3 log messages suppressed"
/// and "1 log messages suppressed" are one group. (count, first example).
pub fn complaints<'a>(lines: impl IntoIterator<Item = &'a str>) -> Vec<(usize, String)> {
    let mut groups: Vec<(String, usize, String)> = Vec::new();
    for line in lines {
        if !(line.contains(" WARN ") || line.contains(" ERROR ") || line.contains("panicked")) {
            continue;
        }
        // tracing's default format starts with an RFC 3339 timestamp.
        let text = match line.split_once(' ') {
            Some((first, rest)) if first.starts_with(|c: char| c.is_ascii_digit()) => rest.trim_start(),
            _ => line,
        };
        let key: String = text.chars().map(|c| if c.is_ascii_digit() { '#' } else { c }).collect();
        match groups.iter_mut().find(|(k, _, _)| *k == key) {
            Some((_, count, _)) => *count += 1,
            None => groups.push((key, 1, text.to_string())),
        }
    }
    groups.into_iter().map(|(_, count, example)| (count, example)).collect()
}
