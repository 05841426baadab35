//! What a plugin may write into the host's logs and progress: text with
//! control characters escaped (so a newline cannot forge a log line and a
//! terminal escape cannot reach an operator's terminal), cut to a length,
//! and log lines rate-limited per plugin with a "N suppressed" line.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Longest plugin log line kept, characters (the rest is cut, saying how much).
pub const MAX_LOG_CHARS: usize = 2000;

/// Longest progress message kept, characters.
pub const MAX_PROGRESS_CHARS: usize = 300;

/// Log lines one plugin may write per [`LOG_WINDOW`]; more are counted and
/// reported as suppressed.
pub const LOG_LINES_PER_WINDOW: u32 = 20;

/// The rate limit's window.
pub const LOG_WINDOW: Duration = Duration::from_secs(1);

/// `text` with every control character escaped (`\n`, `\r`, `\t`, `\x1b`,
/// `\u{7f}` …) and cut to `max_chars` characters, saying how many more
/// there were.
pub fn sanitize(text: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max_chars + 32));
    for (kept, (index, c)) in text.char_indices().enumerate() {
        if kept >= max_chars {
            let rest = text[index..].chars().count();
            out.push_str(&format!("… ({rest} more characters)"));
            break;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// A per-plugin budget of log lines: [`LOG_LINES_PER_WINDOW`] per
/// [`LOG_WINDOW`]. Shared by every call of one plugin.
#[derive(Debug)]
pub struct LogLimiter {
    state: Mutex<Window>,
}

#[derive(Debug)]
struct Window {
    started: Instant,
    emitted: u32,
    suppressed: u64,
}

/// What the caller should do with one log line.
#[derive(Debug, PartialEq, Eq)]
pub enum Admit {
    /// Write it; first say that this many earlier lines were suppressed (0: none).
    Write { suppressed_before: u64 },
    /// Drop it (it is counted).
    Suppress,
}

impl Default for LogLimiter {
    fn default() -> Self {
        LogLimiter { state: Mutex::new(Window { started: Instant::now(), emitted: 0, suppressed: 0 }) }
    }
}

impl LogLimiter {
    /// Whether one more line may be written now.
    pub fn admit(&self) -> Admit {
        self.admit_at(Instant::now())
    }

    fn admit_at(&self, now: Instant) -> Admit {
        let mut window = self.state.lock().unwrap();
        if now.duration_since(window.started) >= LOG_WINDOW {
            window.started = now;
            window.emitted = 0;
        }
        if window.emitted >= LOG_LINES_PER_WINDOW {
            window.suppressed += 1;
            return Admit::Suppress;
        }
        window.emitted += 1;
        Admit::Write { suppressed_before: std::mem::take(&mut window.suppressed) }
    }

    /// Lines suppressed since the last written one (and forget them): what
    /// a call's end reports, so a flood that stops is still accounted for.
    pub fn take_suppressed(&self) -> u64 {
        std::mem::take(&mut self.state.lock().unwrap().suppressed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_so_no_line_can_be_forged() {
        let forged = "ok\n2026-12-01T00:00:00Z ERROR easel: FORGED\x1b[2J\x1b]0;pwned\x07\r\t";
        let clean = sanitize(forged, 1000);
        assert!(!clean.chars().any(|c| c.is_control()), "{clean:?}");
        assert_eq!(clean, "ok\\n2026-12-01T00:00:00Z ERROR easel: FORGED\\u{1b}[2J\\u{1b}]0;pwned\\u{7}\\r\\t");
    }

    #[test]
    fn long_text_is_cut_saying_how_much_more_there_was() {
        let cut = sanitize(&"é".repeat(5000), 10);
        assert_eq!(cut, format!("{}… (4990 more characters)", "é".repeat(10)));
    }

    #[test]
    fn a_flood_is_cut_to_the_budget_and_the_rest_counted() {
        let limiter = LogLimiter::default();
        let start = Instant::now();
        let written = (0..10_000).filter(|_| limiter.admit_at(start) != Admit::Suppress).count();
        assert_eq!(written, LOG_LINES_PER_WINDOW as usize);
        let later = start + LOG_WINDOW;
        assert_eq!(
            limiter.admit_at(later),
            Admit::Write { suppressed_before: 10_000 - u64::from(LOG_LINES_PER_WINDOW) }
        );
        assert_eq!(limiter.take_suppressed(), 0);
    }
}
