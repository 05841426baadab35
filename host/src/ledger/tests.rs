//! Unit tests of the ledger against a real SQLite file.

use super::*;
use std::path::PathBuf;

fn store() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("easel-ledger-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn entry(job: &str, user: &str, count: u32, price: f64) -> Entry {
    Entry {
        job_id: job.into(),
        user: user.into(),
        provider: "fal".into(),
        model: "flux".into(),
        operation: "generate".into(),
        width: Some(1024),
        height: Some(1024),
        count,
        price_usd: price,
    }
}

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

#[tokio::test]
async fn reserve_settle_and_usage_count_what_was_made_per_user_and_period() {
    let dir = store();
    let ledger = Ledger::open(&dir).unwrap();
    let caps = Caps::default();
    let now = at("2026-12-04T10:00:00Z");
    ledger.reserve(entry("j1", "ann", 2, 0.04), caps, now).await.unwrap().unwrap();
    ledger.reserve(entry("j2", "ann", 1, 0.04), caps, at("2026-11-30T10:00:00Z")).await.unwrap().unwrap();
    ledger.reserve(entry("j3", "bob", 4, 0.0), caps, now).await.unwrap().unwrap();
    ledger.reserve(entry("j4", "ann", 3, 0.04), caps, now).await.unwrap().unwrap();
    ledger.settle("j1", "succeeded", &["a".into()]).await.unwrap();
    ledger.settle("j4", "failed", &[]).await.unwrap();
    ledger.settle("pipeline-job", "succeeded", &[]).await.unwrap();
    let usage = ledger.usage(None, now).await.unwrap();
    assert_eq!(usage.iter().map(|u| u.user.as_str()).collect::<Vec<_>>(), ["ann", "bob"]);
    let ann = &usage[0];
    assert_eq!(ann.today.images, 1, "j1 made one of two; j4 failed");
    assert!((ann.today.usd - 0.04).abs() < 1e-9);
    assert_eq!(ann.this_month.images, 1, "j2 was last month");
    assert_eq!(ann.all_time.images, 2, "j2 is still reserved, so it counts");
    assert_eq!(usage[1].today, Spent { images: 4, usd: 0.0 });
    assert_eq!(ledger.usage(Some("bob".into()), now).await.unwrap().len(), 1);
    drop(ledger);
    let reopened = Ledger::open(&dir).unwrap();
    assert_eq!(reopened.usage(Some("ann".into()), now).await.unwrap()[0].all_time.images, 2, "kept on disk");
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn concurrent_reservations_never_pass_a_cap() {
    let dir = store();
    let ledger = Ledger::open(&dir).unwrap();
    let caps = Caps { user_daily_images: Some(10), ..Caps::default() };
    let now = at("2026-12-04T10:00:00Z");
    let tries = (0..64).map(|n| {
        let ledger = ledger.clone();
        tokio::spawn(async move { ledger.reserve(entry(&format!("j{n}"), "ann", 1, 0.0), caps, now).await.unwrap() })
    });
    let outcomes = futures::future::join_all(tries).await;
    let granted = outcomes.iter().filter(|o| matches!(o, Ok(Ok(())))).count();
    assert_eq!(granted, 10);
    assert_eq!(ledger.usage(Some("ann".into()), now).await.unwrap()[0].today.images, 10);
    std::fs::remove_dir_all(dir).unwrap();
}
