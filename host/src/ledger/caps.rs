//! The deployment's spending caps (`[caps]` in `plugins.toml`): per user
//! and for everyone together, per UTC day and per UTC month, in dollars
//! (estimated) and in images; and the refusal that says what was spent,
//! the cap, and when it resets.

use super::Spent;
use chrono::{DateTime, Datelike, Duration, NaiveTime, TimeZone, Utc};
use serde::Deserialize;

/// `[caps]`; every cap is optional (none: no limit).
#[derive(Debug, Clone, Copy, Default, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Caps {
    pub user_daily_usd: Option<f64>,
    pub user_monthly_usd: Option<f64>,
    pub user_daily_images: Option<u64>,
    pub user_monthly_images: Option<u64>,
    /// Everyone together.
    pub daily_usd: Option<f64>,
    pub monthly_usd: Option<f64>,
    pub daily_images: Option<u64>,
    pub monthly_images: Option<u64>,
}

/// What has been spent so far, the four ways caps look at it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Totals {
    pub user_day: Spent,
    pub user_month: Spent,
    pub all_day: Spent,
    pub all_month: Spent,
}

/// A request a cap refuses, in words a user can act on.
#[derive(Debug, Clone, PartialEq)]
pub struct CapRefusal {
    pub message: String,
}

impl Caps {
    /// Whether a request for `images` images costing `usd` fits, given
    /// `totals` at `now`.
    ///
    /// Errors: the first cap it would pass.
    pub fn check(
        &self,
        user: &str,
        totals: &Totals,
        images: u64,
        usd: f64,
        now: DateTime<Utc>,
    ) -> Result<(), CapRefusal> {
        let day_end = next_day(now);
        let month_end = next_month(now);
        let checks = [
            (format!("{user}'s daily"), self.user_daily_usd, self.user_daily_images, totals.user_day, day_end, "today"),
            (
                format!("{user}'s monthly"),
                self.user_monthly_usd,
                self.user_monthly_images,
                totals.user_month,
                month_end,
                "this month",
            ),
            ("this server's daily".to_string(), self.daily_usd, self.daily_images, totals.all_day, day_end, "today"),
            (
                "this server's monthly".to_string(),
                self.monthly_usd,
                self.monthly_images,
                totals.all_month,
                month_end,
                "this month",
            ),
        ];
        for (whose, usd_cap, image_cap, spent, resets, period) in checks {
            let reset = resets.format("%Y-%m-%d %H:%M UTC");
            if let Some(cap) = usd_cap
                && spent.usd + usd > cap + 1e-9
            {
                return Err(CapRefusal {
                    message: format!(
                        "{whose} spending cap is ${cap:.2} and ${:.2} is spent or reserved {period}; this call would add ~${usd:.2}. It resets at {reset}",
                        spent.usd
                    ),
                });
            }
            if let Some(cap) = image_cap
                && spent.images + images > cap
            {
                return Err(CapRefusal {
                    message: format!(
                        "{whose} cap is {cap} image(s) and {} are made or reserved {period}; this call asks for {images}. It resets at {reset}",
                        spent.images
                    ),
                });
            }
        }
        Ok(())
    }
}

fn next_day(now: DateTime<Utc>) -> DateTime<Utc> {
    Utc.from_utc_datetime(&(now.date_naive() + Duration::days(1)).and_time(NaiveTime::MIN))
}

fn next_month(now: DateTime<Utc>) -> DateTime<Utc> {
    let (year, month) = if now.month() == 12 { (now.year() + 1, 1) } else { (now.year(), now.month() + 1) };
    Utc.with_ymd_and_hms(year, month, 1, 0, 0, 0).single().unwrap_or_else(|| next_day(now))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn refusals_say_what_was_spent_the_cap_and_when_it_resets() {
        let caps = Caps { user_daily_usd: Some(1.0), monthly_images: Some(10), ..Caps::default() };
        let mut totals = Totals { user_day: Spent { images: 3, usd: 0.96 }, ..Totals::default() };
        let now = at("2026-12-31T18:00:00Z");
        let refused = caps.check("ann@example.com", &totals, 1, 0.08, now).unwrap_err().message;
        assert!(refused.starts_with("ann@example.com's daily spending cap is $1.00 and $0.96 is spent"), "{refused}");
        assert!(refused.contains("~$0.08") && refused.ends_with("resets at 2027-01-01 00:00 UTC"), "{refused}");
        assert!(caps.check("ann@example.com", &totals, 1, 0.04, now).is_ok(), "exactly at the cap is allowed");
        totals.all_month = Spent { images: 9, usd: 0.0 };
        let images = caps.check("ann@example.com", &totals, 2, 0.0, at("2026-11-05T00:00:00Z")).unwrap_err().message;
        assert!(images.contains("this server's monthly cap is 10 image(s) and 9 are made"), "{images}");
        assert!(images.ends_with("resets at 2026-12-01 00:00 UTC"), "{images}");
        assert!(Caps::default().check("x", &totals, 1000, 1000.0, now).is_ok(), "no caps, no limit");
    }
}
