//! Text for messages: truncation, body snippets (HTML error pages
//! summarised, see [`crate::html`]), sentences, JSON values as text, and
//! progress read out of log lines.

use serde_json::Value;

/// Cut text (trimmed) to `max` characters, marking a cut with `…`.
pub fn truncate(text: &str, max: usize) -> String {
    let text = text.trim();
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max).collect();
    cut.push('…');
    cut
}

/// At most `max` characters of a response body for an error message (as
/// [`truncate`]), `(empty body)`, or for an HTML page only its
/// [`html::summary`](crate::html::summary): a proxy's error page is
/// markup, not a message.
pub fn snippet(body: &[u8], max: usize) -> String {
    if let Some(summary) = crate::html::summary(body) {
        return summary;
    }
    let text = String::from_utf8_lossy(body);
    if text.trim().is_empty() { "(empty body)".into() } else { truncate(&text, max) }
}

/// `text` trimmed and ending in `.`, `!` or `?`, so that more can follow.
pub fn sentence(text: &str) -> String {
    let text = text.trim();
    if text.is_empty() || text.ends_with(['.', '!', '?']) { text.to_string() } else { format!("{text}.") }
}

/// The text of a JSON value for messages: strings as is, others as JSON.
pub fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The last non-empty line of log text (`\r` counts as a line break, as
/// tqdm progress bars redraw with it).
pub fn last_line(logs: &str) -> Option<String> {
    logs.split(['\n', '\r']).map(str::trim).rfind(|l| !l.is_empty()).map(String::from)
}

/// A fraction from one progress line: tqdm's `NN%|`, or `step 3/8`, `3/8`.
/// Returns `None` for lines that carry no progress.
pub fn fraction_in(line: &str) -> Option<f32> {
    if let Some(pos) = line.find('%') {
        let digits: String = line[..pos].chars().rev().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
        let digits: String = digits.chars().rev().collect();
        if let Ok(percent) = digits.parse::<f32>()
            && (0.0..=100.0).contains(&percent)
        {
            return Some(percent / 100.0);
        }
    }
    // `a/b` with both numbers, the first such pair in the line.
    let bytes: Vec<char> = line.chars().collect();
    for (i, c) in bytes.iter().enumerate() {
        if *c != '/' || i == 0 {
            continue;
        }
        let before: String =
            bytes[..i].iter().rev().take_while(|c| c.is_ascii_digit()).collect::<Vec<_>>().into_iter().rev().collect();
        let after: String = bytes[i + 1..].iter().take_while(|c| c.is_ascii_digit()).collect();
        if let (Ok(done), Ok(total)) = (before.parse::<u32>(), after.parse::<u32>())
            && total > 0
            && done <= total
        {
            return Some(done as f32 / total as f32);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_lines() {
        assert_eq!(fraction_in(" 50%|█████     | 2/4 [00:01<00:01,  2.0it/s]"), Some(0.5));
        assert_eq!(fraction_in("step 3/4"), Some(0.75));
        assert_eq!(fraction_in("Using seed: 42"), None);
        assert_eq!(last_line("a\n 25%|x| 1/4\r 50%|x| 2/4\n\n").as_deref(), Some("50%|x| 2/4"));
    }

    #[test]
    fn truncates_long_text() {
        assert_eq!(truncate("abcdef", 3), "abc…");
        assert_eq!(truncate(" ab ", 3), "ab");
    }

    #[test]
    fn snippets_and_sentences() {
        assert_eq!(snippet(b"  abcdef ", 3), "abc…");
        assert_eq!(snippet(b"  abc ", 3), "abc");
        assert_eq!(snippet(b"", 3), "(empty body)");
        assert_eq!(snippet(b" \n ", 3), "(empty body)");
        assert_eq!(sentence(" no key "), "no key.");
        assert_eq!(sentence("done!"), "done!");
        assert_eq!(sentence(""), "");
        assert_eq!(text_of(&serde_json::json!("a")), "a");
        assert_eq!(text_of(&serde_json::json!({"a": 1})), r#"{"a":1}"#);
    }
}
