//! SQLite files in the store (the cost ledger, the authorization server's
//! clients and grants): opened in WAL mode with a busy timeout, migrated in
//! order by `PRAGMA user_version`, and used from tokio's blocking pool so
//! that a slow disk never holds up a worker.

use anyhow::{Context, Result};
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// One SQLite file; cheap to clone (clones share the connection).
#[derive(Clone)]
pub struct Db {
    connection: Arc<Mutex<Connection>>,
    path: PathBuf,
}

impl Db {
    /// Open (creating it if need be) the file at `path` and apply the
    /// `migrations` not applied yet; `what` names it in errors ("the cost
    /// ledger").
    ///
    /// Errors: the file cannot be opened, or a migration fails.
    pub fn open(path: &Path, migrations: &[&str], what: &str) -> Result<Db> {
        let connection = Connection::open(path).with_context(|| format!("opening {what} {}", path.display()))?;
        connection.busy_timeout(std::time::Duration::from_secs(10))?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        let applied: i64 = connection.pragma_query_value(None, "user_version", |row| row.get(0))?;
        for (index, migration) in migrations.iter().enumerate().skip(applied.max(0) as usize) {
            connection
                .execute_batch(migration)
                .with_context(|| format!("migrating {what} {} to version {}", path.display(), index + 1))?;
            connection.pragma_update(None, "user_version", index as i64 + 1)?;
        }
        Ok(Db { connection: Arc::new(Mutex::new(connection)), path: path.to_path_buf() })
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Run `work` on the connection on this thread: for start-up, before
    /// any request is served.
    ///
    /// Errors: `work`'s own.
    pub fn with_now<T>(&self, work: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        work(&mut self.connection.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }

    /// Run `work` on the connection, on a blocking thread.
    ///
    /// Errors: `work`'s own, or the blocking task stopping.
    pub async fn with<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let connection = self.connection.clone();
        tokio::task::spawn_blocking(move || {
            let mut connection = connection.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            work(&mut connection)
        })
        .await
        .context("the database task stopped")?
    }
}
