//! The data directory: a marker that says it is one, and a lock so one server owns it.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};

/// The file whose presence marks a watchfire data directory.
const MARKER: &str = "WATCHFIRE";
const MARKER_TEXT: &str = "watchfire data directory\nformat = 1\n";
const LOCK: &str = "lock";

/// Why a data directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    /// The path exists but is not a watchfire data directory, so nothing is touched.
    #[error("{path} is not a watchfire data directory ({why}); refusing to use it")]
    NotADataDir {
        /// The path given.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// The directory does not exist (commands that only read never create it).
    #[error("there is no watchfire data directory at {0}")]
    Missing(PathBuf),
    /// Another process holds the lock.
    #[error("{path} is in use by another watchfire process{holder}; stop it or choose another --data-dir")]
    Locked {
        /// The data directory.
        path: PathBuf,
        /// ` (pid N)` when the holder wrote its pid.
        holder: String,
    },
    /// The file system refused: read-only, full, no permission.
    #[error("cannot use data directory {path}: {source}")]
    Io {
        /// The data directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

/// A data directory this process has checked and locked for itself.
#[derive(Debug)]
pub struct DataDir {
    path: PathBuf,
    _lock: File,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> DataDirError + '_ {
    move |source| DataDirError::Io {
        path: path.to_owned(),
        source,
    }
}

impl DataDir {
    /// Opens the data directory for a server: creates it when missing or empty, then locks it.
    pub fn create_or_open(path: &Path) -> Result<DataDir, DataDirError> {
        match fs::metadata(path) {
            Ok(meta) if !meta.is_dir() => {
                return Err(DataDirError::NotADataDir {
                    path: path.to_owned(),
                    why: "it is a file".to_owned(),
                })
            }
            Ok(_) => {
                let empty = fs::read_dir(path).map_err(io_err(path))?.next().is_none();
                if empty {
                    fs::write(path.join(MARKER), MARKER_TEXT).map_err(io_err(path))?;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir_all(path).map_err(io_err(path))?;
                fs::write(path.join(MARKER), MARKER_TEXT).map_err(io_err(path))?;
            }
            Err(e) => return Err(io_err(path)(e)),
        }
        DataDir::open_existing(path)
    }

    /// Opens an existing data directory and locks it; never creates anything but the lock file.
    pub fn open_existing(path: &Path) -> Result<DataDir, DataDirError> {
        check_marker(path)?;
        let mut lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path.join(LOCK))
            .map_err(io_err(path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = lock.read_to_string(&mut text);
                let holder = text
                    .trim()
                    .parse::<u32>()
                    .map(|pid| format!(" (pid {pid})"))
                    .unwrap_or_default();
                return Err(DataDirError::Locked {
                    path: path.to_owned(),
                    holder,
                });
            }
            Err(TryLockError::Error(e)) => return Err(io_err(path)(e)),
        }
        lock.set_len(0).map_err(io_err(path))?;
        lock.rewind().map_err(io_err(path))?;
        write!(lock, "{}", std::process::id()).map_err(io_err(path))?;
        Ok(DataDir {
            path: path.to_owned(),
            _lock: lock,
        })
    }

    /// Whether another process holds the data directory (checked without taking it).
    pub fn is_locked(path: &Path) -> Result<bool, DataDirError> {
        check_marker(path)?;
        let lock = match File::open(path.join(LOCK)) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(io_err(path)(e)),
        };
        match lock.try_lock_shared() {
            Ok(()) => Ok(false),
            Err(TryLockError::WouldBlock) => Ok(true),
            Err(TryLockError::Error(e)) => Err(io_err(path)(e)),
        }
    }

    /// The directory itself.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where sled keeps the log.
    pub fn log_path(&self) -> PathBuf {
        self.path.join("log")
    }

    /// The Unix socket a running server answers log reads on.
    pub fn socket_path(path: &Path) -> PathBuf {
        path.join("watchfire.sock")
    }

    /// The file a serving server writes the HTTP address it bound to (`127.0.0.1:41234`),
    /// so that `--listen 127.0.0.1:0` can be used and the chosen port read back.
    pub fn listen_addr_path(path: &Path) -> PathBuf {
        path.join("listen.addr")
    }

    /// Records `addr` in [`DataDir::listen_addr_path`] atomically: written beside it,
    /// synced, then renamed over it, so a reader sees the old file, none, or the whole line.
    pub fn write_listen_addr(path: &Path, addr: &str) -> Result<(), DataDirError> {
        let target = DataDir::listen_addr_path(path);
        let partial = path.join("listen.addr.partial");
        let mut file = File::create(&partial).map_err(io_err(path))?;
        file.write_all(format!("{addr}\n").as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(io_err(path))?;
        fs::rename(&partial, &target).map_err(io_err(path))
    }

    /// Removes the address a previous start recorded (none is fine).
    pub fn remove_listen_addr(path: &Path) -> Result<(), DataDirError> {
        match fs::remove_file(DataDir::listen_addr_path(path)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(path)(e)),
        }
    }
}

fn check_marker(path: &Path) -> Result<(), DataDirError> {
    match fs::metadata(path) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => {
            return Err(DataDirError::NotADataDir {
                path: path.to_owned(),
                why: "it is a file".to_owned(),
            })
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(DataDirError::Missing(path.to_owned()))
        }
        Err(e) => return Err(io_err(path)(e)),
    }
    match fs::read_to_string(path.join(MARKER)) {
        Ok(text) if text.starts_with("watchfire data directory") => Ok(()),
        Ok(_) => Err(DataDirError::NotADataDir {
            path: path.to_owned(),
            why: format!("{MARKER} does not name a watchfire data directory"),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(DataDirError::NotADataDir {
            path: path.to_owned(),
            why: format!("it is not empty and has no {MARKER} file"),
        }),
        Err(e) => Err(io_err(path)(e)),
    }
}
