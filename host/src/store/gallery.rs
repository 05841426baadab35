//! The gallery: stored images filtered (provider, model, origin, date, text
//! in the prompt, whose they are) and paginated, newest first.

use super::Sidecar;
use chrono::{DateTime, NaiveDate, Utc};

/// Largest page.
pub const MAX_PAGE: usize = 100;

/// Filters; empty fields match everything.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub provider: Option<String>,
    pub model: Option<String>,
    /// `generated`, `edited` or `imported`.
    pub origin: Option<String>,
    /// Case-insensitive substring of the prompt or revised prompt.
    pub text: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Whose images ([`Sidecar::user`]; case-insensitive): the dashboard's
    /// per-user gallery.
    pub user: Option<String>,
}

/// `2026-11-21` (start of day, UTC) or RFC 3339.
pub fn parse_time(field: &str, text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc())
        .map_err(|_| format!("`{field}` must be a date like 2026-11-21 or an RFC 3339 time, not `{text}`"))
}

impl Filter {
    pub fn matches(&self, s: &Sidecar) -> bool {
        let same = |want: &Option<String>, have: Option<&str>| {
            want.as_deref().is_none_or(|w| have.is_some_and(|h| h.eq_ignore_ascii_case(w)))
        };
        let origin = serde_json::to_value(s.origin).ok().and_then(|v| v.as_str().map(String::from));
        let text = self.text.as_deref().map(str::to_lowercase);
        same(&self.provider, s.provider.as_deref())
            && same(&self.user, s.user.as_deref())
            && same(&self.model, s.model.as_deref())
            && same(&self.origin, origin.as_deref())
            && self.since.is_none_or(|since| s.created_at >= since)
            && self.until.is_none_or(|until| s.created_at < until)
            && text.is_none_or(|t| {
                s.prompt.as_deref().is_some_and(|p| p.to_lowercase().contains(&t))
                    || s.revised_prompt.as_deref().is_some_and(|p| p.to_lowercase().contains(&t))
            })
    }
}

/// One page of `all` (already newest first): the matching items after
/// `cursor` (an offset into the filtered list) and the next cursor.
pub fn page(
    all: Vec<Sidecar>,
    filter: &Filter,
    cursor: Option<&str>,
    limit: usize,
) -> Result<(Vec<Sidecar>, Option<String>), String> {
    let offset = match cursor {
        None | Some("") => 0,
        Some(c) => {
            c.parse::<usize>().map_err(|_| format!("`cursor` must be a cursor from a previous page, not `{c}`"))?
        }
    };
    let limit = limit.clamp(1, MAX_PAGE);
    let matching: Vec<Sidecar> = all.into_iter().filter(|s| filter.matches(s)).collect();
    let total = matching.len();
    let items: Vec<Sidecar> = matching.into_iter().skip(offset).take(limit).collect();
    let next = (offset + items.len() < total).then(|| (offset + items.len()).to_string());
    Ok((items, next))
}
