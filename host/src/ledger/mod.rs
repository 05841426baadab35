//! The cost ledger: one row per generation in SQLite (`ledger.sqlite` in
//! the store; schema migrations by `PRAGMA user_version`): who asked, which
//! provider, model and operation, size, count, the estimated cost (from the
//! model's price, which `plugins.toml` may override), the outcome, the job
//! and the images. Before a job is submitted its row is *reserved* against
//! the deployment's caps ([`caps`]) in one `BEGIN IMMEDIATE` transaction,
//! so concurrent requests cannot overshoot; when it ends the row is
//! settled (`succeeded` keeps the cost of the images made, `failed` and
//! `canceled` cost nothing). A reserved row still counts, so a job whose
//! process died errs on the side of the cap.

pub mod caps;

use anyhow::Result;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::path::Path;

pub use caps::{CapRefusal, Caps};

/// The ledger file, relative to the store.
pub const FILE: &str = "ledger.sqlite";

/// Schema migrations, applied in order; `user_version` counts those applied.
const MIGRATIONS: &[&str] = &["CREATE TABLE generations (
        id INTEGER PRIMARY KEY,
        job_id TEXT NOT NULL UNIQUE,
        user TEXT NOT NULL,
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        operation TEXT NOT NULL,
        width INTEGER,
        height INTEGER,
        count INTEGER NOT NULL,
        estimated_usd REAL NOT NULL,
        outcome TEXT NOT NULL,
        image_ids TEXT NOT NULL DEFAULT '[]',
        created_at TEXT NOT NULL
    );
    CREATE INDEX generations_user_time ON generations (user, created_at);
    CREATE INDEX generations_time ON generations (created_at);"];

/// One generation about to be submitted.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub job_id: String,
    /// The signed-in user's email, `token`, or `local`.
    pub user: String,
    pub provider: String,
    pub model: String,
    /// `generate`, `edit`, `inpaint`, `upscale`, `variation`.
    pub operation: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub count: u32,
    /// Dollars per image (0 for free providers).
    pub price_usd: f64,
}

/// What a user (or everyone) has spent in a period: images and dollars of
/// succeeded and reserved rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Spent {
    pub images: u64,
    pub usd: f64,
}

/// One user's usage today and this month (UTC).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Usage {
    pub user: String,
    pub today: Spent,
    pub this_month: Spent,
    /// Every generation ever recorded for the user.
    pub all_time: Spent,
}

/// The ledger of one store; cheap to clone.
#[derive(Clone)]
pub struct Ledger {
    db: crate::db::Db,
}

impl Ledger {
    /// Open (and create or migrate) the ledger of the store at `store_root`.
    ///
    /// Errors: the file cannot be opened, or a migration fails.
    pub fn open(store_root: &Path) -> Result<Ledger> {
        Ok(Ledger { db: crate::db::Db::open(&store_root.join(FILE), MIGRATIONS, "the cost ledger")? })
    }

    /// Where the ledger lives.
    pub fn path(&self) -> &Path {
        self.db.path()
    }

    async fn with<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.db.with(work).await
    }

    /// Reserve `entry` against `caps` at `now`: refused (nothing written)
    /// when it would pass a cap, else recorded as `reserved`.
    ///
    /// Errors: the outer `Err` when the ledger cannot be read or written;
    /// the inner one when a cap refuses, saying what was spent, the cap
    /// and when it resets.
    pub async fn reserve(
        &self,
        entry: Entry,
        caps: Caps,
        now: DateTime<Utc>,
    ) -> Result<std::result::Result<(), CapRefusal>> {
        self.with(move |connection| {
            let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let cost = entry.price_usd * f64::from(entry.count);
            let spent = |user: Option<&str>, prefix: &str| spent_since(&tx, user, prefix);
            let (day, month) = (day_of(now), month_of(now));
            let totals = caps::Totals {
                user_day: spent(Some(&entry.user), &day)?,
                user_month: spent(Some(&entry.user), &month)?,
                all_day: spent(None, &day)?,
                all_month: spent(None, &month)?,
            };
            if let Err(refusal) = caps.check(&entry.user, &totals, u64::from(entry.count), cost, now) {
                return Ok(Err(refusal));
            }
            tx.execute(
                "INSERT INTO generations (job_id, user, provider, model, operation, width, height, count, estimated_usd, outcome, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'reserved', ?10)",
                params![
                    entry.job_id,
                    entry.user,
                    entry.provider,
                    entry.model,
                    entry.operation,
                    entry.width,
                    entry.height,
                    entry.count,
                    cost,
                    now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
                ],
            )?;
            tx.commit()?;
            Ok(Ok(()))
        })
        .await
    }

    /// Record how job `job_id` ended: `succeeded` with its images (the cost
    /// becomes the price of the images made), or `failed`/`canceled`
    /// (cost 0). A job without a row (a pipeline) is left alone.
    ///
    /// Errors: the ledger cannot be written.
    pub async fn settle(&self, job_id: &str, outcome: &str, image_ids: &[String]) -> Result<()> {
        let (job_id, outcome) = (job_id.to_string(), outcome.to_string());
        let images = serde_json::to_string(image_ids)?;
        let made = image_ids.len() as f64;
        self.with(move |connection| {
            let price: Option<(f64, i64)> = connection
                .query_row(
                    "SELECT estimated_usd, count FROM generations WHERE job_id = ?1 AND outcome = 'reserved'",
                    params![job_id],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()?;
            let Some((reserved, count)) = price else { return Ok(()) };
            let cost = if outcome == "succeeded" { reserved / count.max(1) as f64 * made } else { 0.0 };
            connection.execute(
                "UPDATE generations SET outcome = ?2, image_ids = ?3, estimated_usd = ?4, count = ?5 WHERE job_id = ?1",
                params![job_id, outcome, images, cost, if outcome == "succeeded" { made as i64 } else { 0 }],
            )?;
            Ok(())
        })
        .await
    }

    /// Usage at `now` of `user`, or of every user (`None`), sorted by user.
    ///
    /// Errors: the ledger cannot be read.
    pub async fn usage(&self, user: Option<String>, now: DateTime<Utc>) -> Result<Vec<Usage>> {
        self.with(move |connection| {
            let users: Vec<String> = match &user {
                Some(user) => vec![user.clone()],
                None => {
                    let mut statement = connection.prepare("SELECT DISTINCT user FROM generations ORDER BY user")?;
                    statement.query_map([], |row| row.get(0))?.collect::<rusqlite::Result<_>>()?
                }
            };
            let (day, month) = (day_of(now), month_of(now));
            users
                .into_iter()
                .map(|user| {
                    Ok(Usage {
                        today: spent_since(connection, Some(&user), &day)?,
                        this_month: spent_since(connection, Some(&user), &month)?,
                        all_time: spent_since(connection, Some(&user), "")?,
                        user,
                    })
                })
                .collect()
        })
        .await
    }
}

/// `YYYY-MM-DD` of `now` (the prefix of its rows' `created_at`).
fn day_of(now: DateTime<Utc>) -> String {
    now.format("%Y-%m-%d").to_string()
}

/// `YYYY-MM` of `now`.
fn month_of(now: DateTime<Utc>) -> String {
    now.format("%Y-%m").to_string()
}

/// What `user` (or everyone) spent in rows whose `created_at` starts with
/// `prefix` ("" = ever), counting `reserved` and `succeeded` rows.
fn spent_since(connection: &Connection, user: Option<&str>, prefix: &str) -> Result<Spent> {
    let pattern = format!("{prefix}%");
    let (images, usd): (i64, f64) = connection.query_row(
        "SELECT COALESCE(SUM(count), 0), COALESCE(SUM(estimated_usd), 0.0) FROM generations
         WHERE outcome IN ('reserved', 'succeeded') AND created_at LIKE ?1 AND (?2 IS NULL OR user = ?2)",
        params![pattern, user],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    Ok(Spent { images: images.max(0) as u64, usd })
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
