//! The two log backends the store suite (`store.rs`, `tamper.rs`) runs against: sled in a
//! temp data directory, and PostgreSQL in a fresh database on the shared test server
//! (`postgres.rs`) with projection checkpoints in a temp data directory.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use watchfire::events::{DataDir, DataDirError, EventStore, StoreOptions};

/// Which backend a log of the suite lives in.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The embedded sled log in the data directory.
    Sled,
    /// A PostgreSQL database on the test server.
    Postgres,
}

/// Databases made so far by this test process: part of each new database's name.
static DATABASES: AtomicU64 = AtomicU64::new(0);

impl Backend {
    /// A new, empty log for `test` (a name for the database): a temp data directory and,
    /// on PostgreSQL, a database of its own.
    pub fn new_log(self, test: &str) -> TestLog {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().to_owned();
        let url = match self {
            Backend::Sled => None,
            Backend::Postgres => Some(crate::postgres::shared().create_database(&db_name(test))),
        };
        TestLog {
            backend: self,
            path,
            url,
            _dir: Some(dir),
        }
    }
}

/// A database name unique in this test process: `test` (as a lowercase identifier,
/// shortened) and a counter.
fn db_name(test: &str) -> String {
    let n = DATABASES.fetch_add(1, Ordering::Relaxed);
    let plain: String = test
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    format!("suite_{plain}_{n}")
}

/// A log of the suite: its data directory and, on PostgreSQL, its database; it can be
/// opened, closed and opened again any number of times.
pub struct TestLog {
    /// Where the log lives.
    pub backend: Backend,
    path: PathBuf,
    /// The database's URL (PostgreSQL only).
    url: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestLog {
    /// A sled log in `path` (which the caller owns, such as a directory on a test mount).
    pub fn sled_at(path: &Path) -> TestLog {
        TestLog {
            backend: Backend::Sled,
            path: path.to_owned(),
            url: None,
            _dir: None,
        }
    }

    /// The data directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The PostgreSQL database's URL; panics on sled.
    pub fn url(&self) -> &str {
        self.url.as_deref().expect("a PostgreSQL log has a URL")
    }

    /// Opens the log with test-sized options.
    pub fn open(&self) -> EventStore {
        self.open_with(StoreOptions {
            cache_capacity_bytes: 16 * 1024 * 1024,
            ..StoreOptions::default()
        })
    }

    /// Opens the log with `options`, waiting (boundedly) while a store dropped a moment
    /// ago, or a child forked while it was open, still holds the data directory's lock.
    pub fn open_with(&self, options: StoreOptions) -> EventStore {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let data_dir = match DataDir::create_or_open(&self.path) {
                Ok(d) => d,
                Err(DataDirError::Locked { .. }) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                }
                Err(e) => panic!("test data dir opens: {e}"),
            };
            let opened = match &self.url {
                None => EventStore::open(data_dir, options.clone()),
                Some(url) => EventStore::open_postgres(url, Some(data_dir), options.clone()),
            };
            match opened {
                Ok(store) => return store,
                // sled releases its file lock from its own threads, a moment after a store is dropped.
                Err(e)
                    if e.to_string().contains("could not acquire lock")
                        && Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => panic!("test store opens on {:?}: {e}", self.backend),
            }
        }
    }

    /// The arguments `watchfire verify` takes for this log.
    pub fn verify_args(&self) -> Vec<String> {
        let mut args = vec![
            "verify".to_owned(),
            "--data-dir".to_owned(),
            self.path.to_str().expect("utf-8 temp path").to_owned(),
        ];
        if let Some(url) = &self.url {
            args.extend(["--store".to_owned(), url.clone()]);
        }
        args
    }

    /// Runs `sql` in the log's PostgreSQL database: its unaligned rows, trimmed.
    pub fn psql(&self, sql: &str) -> String {
        crate::postgres::shared().psql(self.url(), sql)
    }
}
