//! Per-user preferences, set on the dashboard's settings page (`/ui/settings`):
//! today one, "my default model", the provider and model a user's request
//! goes to when it names neither. Kept in the store's `preferences.sqlite`
//! (one row per user, keyed by the name the cost ledger uses: an email,
//! `token` or `local`) and held in memory, written through, so routing a
//! request reads no disk.

use anyhow::Result;
use std::collections::HashMap;
use std::path::Path;
use std::sync::RwLock;

/// The file in the store directory.
pub const FILE: &str = "preferences.sqlite";

/// Schema migrations, applied in order (`PRAGMA user_version`).
const MIGRATIONS: &[&str] = &["CREATE TABLE default_models (
        user TEXT PRIMARY KEY NOT NULL,
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );"];

/// A provider id and one of its model ids, as `plugins.toml` and
/// `list_models` name them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultModel {
    pub provider: String,
    pub model: String,
}

/// The preferences of every user of one store.
pub struct Preferences {
    db: crate::db::Db,
    default_models: RwLock<HashMap<String, DefaultModel>>,
}

impl Preferences {
    /// Open (creating or migrating it) the file of the store at `store_root`
    /// and read it into memory.
    ///
    /// Errors: the file cannot be opened, migrated or read.
    pub fn open(store_root: &Path) -> Result<Preferences> {
        let db = crate::db::Db::open(&store_root.join(FILE), MIGRATIONS, "the preferences database")?;
        let default_models = db.with_now(|connection| {
            let mut statement = connection.prepare("SELECT user, provider, model FROM default_models")?;
            let rows = statement.query_map([], |row| {
                Ok((row.get::<_, String>(0)?, DefaultModel { provider: row.get(1)?, model: row.get(2)? }))
            })?;
            Ok(rows.collect::<rusqlite::Result<HashMap<_, _>>>()?)
        })?;
        Ok(Preferences { db, default_models: RwLock::new(default_models) })
    }

    /// `user`'s default model, if they chose one.
    pub fn default_model(&self, user: &str) -> Option<DefaultModel> {
        self.default_models.read().unwrap_or_else(|e| e.into_inner()).get(user).cloned()
    }

    /// Set (`Some`) or clear (`None`) `user`'s default model. The caller has
    /// checked that the model exists; one that later disappears from the
    /// deployment is skipped when routing.
    ///
    /// Errors: the file cannot be written (memory is left as it was).
    pub async fn set_default_model(&self, user: &str, chosen: Option<DefaultModel>) -> Result<()> {
        let (owner, row) = (user.to_string(), chosen.clone());
        self.db
            .with(move |db| {
                match row {
                    Some(m) => db.execute(
                        "INSERT INTO default_models (user, provider, model, updated_at) VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT(user) DO UPDATE SET provider = ?2, model = ?3, updated_at = ?4",
                        (&owner, &m.provider, &m.model, chrono::Utc::now().to_rfc3339()),
                    )?,
                    None => db.execute("DELETE FROM default_models WHERE user = ?1", [&owner])?,
                };
                Ok(())
            })
            .await?;
        let mut models = self.default_models.write().unwrap_or_else(|e| e.into_inner());
        match chosen {
            Some(model) => models.insert(user.to_string(), model),
            None => models.remove(user),
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_choice_survives_reopening_and_clearing_it_forgets_it() {
        let dir = tempfile::tempdir().unwrap();
        let prefs = Preferences::open(dir.path()).unwrap();
        assert_eq!(prefs.default_model("ann@example.com"), None);
        let sketch = DefaultModel { provider: "sketch".into(), model: "placeholder-1".into() };
        prefs.set_default_model("ann@example.com", Some(sketch.clone())).await.unwrap();
        let other = DefaultModel { provider: "fal".into(), model: "fal-ai/flux/dev".into() };
        prefs.set_default_model("bob@example.com", Some(other.clone())).await.unwrap();
        prefs.set_default_model("bob@example.com", Some(sketch.clone())).await.unwrap();
        drop(prefs);
        let prefs = Preferences::open(dir.path()).unwrap();
        assert_eq!(prefs.default_model("ann@example.com"), Some(sketch.clone()));
        assert_eq!(prefs.default_model("bob@example.com"), Some(sketch));
        prefs.set_default_model("ann@example.com", None).await.unwrap();
        assert_eq!(Preferences::open(dir.path()).unwrap().default_model("ann@example.com"), None);
    }
}
