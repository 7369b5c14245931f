//! Backups of the log: a consistent prefix of it (every record up to one position, both
//! hash chains intact up to it) in one compressed file that proves itself whole.
//!
//! The file, in order:
//! - `WFBACKUP` and the format version (u16, big-endian);
//! - a deflate stream of records, each its big-endian position (u64), its length (u32,
//!   big-endian) and its bytes exactly as the log stores them, ended by a position of 0;
//! - the manifest, JSON ([`Manifest`]: format, watchfire version, created_at, position,
//!   count, compression, both chains' heads and the retention anchor), then its length
//!   (u32, big-endian);
//! - `WFBKEND1` and the SHA-256 of every byte before the hash.
//!
//! Records keep their bytes, so the chain hashes carry over: a restored log is the original
//! prefix, and `verify` passes on it.

use std::cell::RefCell;
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use flate2::bufread::DeflateDecoder;
use flate2::write::DeflateEncoder;
use flate2::Compression;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::chain::{ChainHash, ChainLink, ChainState, ChainVerifier};
use super::datadir::DataDir;
use super::remote::LogReader;
use super::sled_store::LogImport;
use super::store::{EventStore, StoreError, StoreOptions};
use super::types::Position;

/// The backup file format this build writes and reads.
pub const BACKUP_FORMAT: u16 = 1;
const MAGIC: &[u8; 8] = b"WFBACKUP";
const END_MAGIC: &[u8; 8] = b"WFBKEND1";
/// The magic and format version before the records.
const HEAD_LEN: u64 = 10;
/// The manifest's length, the end magic and the hash after the manifest.
const TAIL_LEN: u64 = 4 + 8 + 32;
/// No manifest is anywhere near this long; a bigger claim is a damaged file.
const MAX_MANIFEST: u32 = 1024 * 1024;
/// No stored record is anywhere near this long; a bigger claim is a damaged file.
const MAX_RECORD: u32 = 64 * 1024 * 1024;

/// Why a backup could not be written, read or restored.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The file system refused.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The file does not start like a watchfire backup.
    #[error("{0} is not a watchfire backup")]
    NotABackup(PathBuf),
    /// The file was written by a format this build does not know.
    #[error("{path} is backup format {format}; this watchfire reads format {BACKUP_FORMAT}")]
    UnknownFormat {
        /// The file.
        path: PathBuf,
        /// The format it names.
        format: u16,
    },
    /// The file ends early (an interrupted copy or a cut-off transfer).
    #[error("{path} is truncated: {why}")]
    Truncated {
        /// The file.
        path: PathBuf,
        /// What is missing.
        why: String,
    },
    /// The bytes are not the ones written: the checksum or a record's chain does not hold.
    #[error("{path} is damaged or was changed: {why}")]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What does not hold.
        why: String,
    },
    /// The log the backup is read from does not chain up to its position; nothing is kept.
    #[error("the log does not chain at position {position} ({reason}); no backup was written")]
    Log {
        /// The first bad position.
        position: Position,
        /// What is wrong there.
        reason: String,
    },
    /// The restore target cannot take a restore.
    #[error("{path}: {why}")]
    Target {
        /// The data directory.
        path: PathBuf,
        /// Why not.
        why: String,
    },
    /// The data directory refused (missing, not one, in use).
    #[error(transparent)]
    DataDir(#[from] super::datadir::DataDirError),
    /// The log refused.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The running server's log socket failed.
    #[error("{0}")]
    Remote(String),
}

impl BackupError {
    /// Whether the backup file itself is bad (truncated, changed, not a backup), as opposed
    /// to a problem with the command, the disk or the log: `verify` exits 1 for these.
    pub fn is_bad_backup(&self) -> bool {
        matches!(
            self,
            BackupError::NotABackup(_)
                | BackupError::UnknownFormat { .. }
                | BackupError::Truncated { .. }
                | BackupError::Damaged { .. }
        )
    }
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The last event of a chain as the manifest shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestLink {
    /// Its position, if the chain has one.
    pub position: Option<u64>,
    /// Its hash, in hex (zeros for an empty chain).
    pub hash: String,
}

impl From<ChainLink> for ManifestLink {
    fn from(link: ChainLink) -> ManifestLink {
        ManifestLink {
            position: link.position.map(|p| p.0),
            hash: link.hash.to_string(),
        }
    }
}

impl ManifestLink {
    fn link(&self) -> Option<ChainLink> {
        let bytes: [u8; 32] = hex::decode(&self.hash).ok()?.try_into().ok()?;
        Some(ChainLink {
            position: self.position.map(Position),
            hash: ChainHash(bytes),
        })
    }
}

/// What a backup holds, written after its records and covered by its checksum.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The file format ([`BACKUP_FORMAT`]).
    pub format: u16,
    /// The watchfire version that wrote it.
    pub watchfire_version: String,
    /// When the backup was finished.
    pub created_at: DateTime<Utc>,
    /// The log's position it is a copy up to: every record at or before it is in the file.
    pub position: u64,
    /// Records in the file.
    pub count: u64,
    /// How the records are compressed.
    pub compression: String,
    /// The last fact (kept-forever event) at or before `position`.
    pub facts_head: ManifestLink,
    /// The last observation at or before `position`.
    pub observations_head: ManifestLink,
    /// The last observation retention had removed: the observation chain restarts after it.
    pub retention_anchor: ManifestLink,
}

impl Manifest {
    /// The chain state the records end at.
    fn chain_state(&self) -> Option<ChainState> {
        Some(ChainState {
            heads: [self.facts_head.link()?, self.observations_head.link()?],
            retention_anchor: self.retention_anchor.link()?,
        })
    }
}

/// A writer that hashes everything passing through it.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Writes a backup to `<path>.partial` and renames it over `path` once whole, so a
/// backup file that exists was finished; each record is checked against the chains as
/// it goes in, so a backup that finishes is intact.
pub struct BackupWriter {
    out: Option<DeflateEncoder<Hashing<BufWriter<File>>>>,
    path: PathBuf,
    partial: PathBuf,
    through: Position,
    verifier: Option<ChainVerifier>,
    count: u64,
    renamed: bool,
}

impl BackupWriter {
    /// Starts a backup of the log up to `through`, whose observation chain restarts after
    /// `anchor`.
    pub fn create(
        path: &Path,
        through: Position,
        anchor: ChainLink,
    ) -> Result<BackupWriter, BackupError> {
        let mut name = path.as_os_str().to_owned();
        name.push(".partial");
        let partial = PathBuf::from(name);
        let file = File::create(&partial).map_err(io_at(&partial))?;
        let mut hashing = Hashing {
            inner: BufWriter::with_capacity(1 << 20, file),
            hash: Sha256::new(),
        };
        hashing
            .write_all(MAGIC)
            .and_then(|()| hashing.write_all(&BACKUP_FORMAT.to_be_bytes()))
            .map_err(io_at(&partial))?;
        let state = ChainState {
            heads: Default::default(),
            retention_anchor: anchor,
        };
        Ok(BackupWriter {
            out: Some(DeflateEncoder::new(hashing, Compression::fast())),
            path: path.to_owned(),
            partial,
            through,
            verifier: Some(ChainVerifier::new(state)),
            count: 0,
            renamed: false,
        })
    }

    /// Adds the next record of the log (positions rise, up to the backup's position).
    pub fn record(&mut self, position: Position, bytes: &[u8]) -> Result<(), BackupError> {
        let (Some(out), Some(verifier)) = (self.out.as_mut(), self.verifier.as_mut()) else {
            return Err(BackupError::Store(StoreError::Closed));
        };
        if position > self.through || position == Position::START {
            return Err(BackupError::Log {
                position,
                reason: format!("a record past the backup's position {}", self.through),
            });
        }
        if !verifier.check(position, bytes) {
            let Some(verifier) = self.verifier.take() else {
                return Err(BackupError::Store(StoreError::Closed));
            };
            let (_, report) = verifier.finish_prefix();
            let problem = report.problem.unwrap_or(super::chain::VerifyProblem {
                position,
                reason: "the record does not chain".to_owned(),
            });
            return Err(log_problem(problem));
        }
        let len = u32::try_from(bytes.len()).map_err(|_| BackupError::Log {
            position,
            reason: "a record over 4 GiB".to_owned(),
        })?;
        out.write_all(&position.0.to_be_bytes())
            .and_then(|()| out.write_all(&len.to_be_bytes()))
            .and_then(|()| out.write_all(bytes))
            .map_err(io_at(&self.partial))?;
        self.count += 1;
        Ok(())
    }

    /// Ends the records, writes the manifest and the checksum, syncs and renames the file.
    pub fn finish(mut self, created_at: DateTime<Utc>) -> Result<Manifest, BackupError> {
        let (Some(mut out), Some(verifier)) = (self.out.take(), self.verifier.take()) else {
            return Err(BackupError::Store(StoreError::Closed));
        };
        let (state, report) = verifier.finish_prefix();
        if let Some(problem) = report.problem {
            return Err(log_problem(problem));
        }
        let at = self.partial.clone();
        out.write_all(&0u64.to_be_bytes()).map_err(io_at(&at))?;
        let mut hashing = out.finish().map_err(io_at(&at))?;
        let manifest = Manifest {
            format: BACKUP_FORMAT,
            watchfire_version: env!("CARGO_PKG_VERSION").to_owned(),
            created_at,
            position: self.through.0,
            count: self.count,
            compression: "deflate".to_owned(),
            facts_head: state.heads[0].into(),
            observations_head: state.heads[1].into(),
            retention_anchor: state.retention_anchor.into(),
        };
        let json = serde_json::to_vec(&manifest).map_err(|e| io_at(&at)(io::Error::other(e)))?;
        let len = u32::try_from(json.len()).unwrap_or(u32::MAX);
        hashing
            .write_all(&json)
            .and_then(|()| hashing.write_all(&len.to_be_bytes()))
            .and_then(|()| hashing.write_all(END_MAGIC))
            .map_err(io_at(&at))?;
        let digest: [u8; 32] = hashing.hash.finalize().into();
        let mut file = hashing.inner;
        file.write_all(&digest).map_err(io_at(&at))?;
        let file = file.into_inner().map_err(|e| io_at(&at)(e.into_error()))?;
        file.sync_all().map_err(io_at(&at))?;
        fs::rename(&self.partial, &self.path).map_err(io_at(&self.path))?;
        self.renamed = true;
        Ok(manifest)
    }
}

impl Drop for BackupWriter {
    fn drop(&mut self) {
        // Not finished: no half backup is left looking like one.
        if !self.renamed {
            let _ = fs::remove_file(&self.partial);
        }
    }
}

fn log_problem(problem: super::chain::VerifyProblem) -> BackupError {
    BackupError::Log {
        position: problem.position,
        reason: problem.reason,
    }
}

/// Backs up the log of an open store (sled or the shared log) into `out`.
pub fn backup_store(store: &EventStore, out: &Path) -> Result<Manifest, BackupError> {
    // Both callbacks reach the writer: the first creates it, the second fills it.
    let writer: RefCell<Option<BackupWriter>> = RefCell::new(None);
    let failed: RefCell<Option<BackupError>> = RefCell::new(None);
    let walked = store.export(
        &mut |through, anchor| {
            match BackupWriter::create(out, through, anchor) {
                Ok(w) => *writer.borrow_mut() = Some(w),
                Err(e) => *failed.borrow_mut() = Some(e),
            }
            Ok(())
        },
        &mut |position, bytes| {
            let mut writer = writer.borrow_mut();
            let Some(w) = writer.as_mut() else {
                return Ok(false);
            };
            match w.record(position, bytes) {
                Ok(()) => Ok(true),
                Err(e) => {
                    *failed.borrow_mut() = Some(e);
                    Ok(false)
                }
            }
        },
    );
    if let Some(e) = failed.into_inner() {
        return Err(e);
    }
    walked?;
    let writer = writer
        .into_inner()
        .ok_or(BackupError::Store(StoreError::Closed))?;
    writer.finish(Utc::now())
}

/// Backs up the log a reader opened: directly, or through the running server's socket.
pub fn backup_log(reader: &mut LogReader, out: &Path) -> Result<Manifest, BackupError> {
    let remote = match reader {
        LogReader::Local(store) => return backup_store(store, out),
        LogReader::Remote(remote) => remote,
    };
    let writer: RefCell<Option<BackupWriter>> = RefCell::new(None);
    let failed: RefCell<Option<BackupError>> = RefCell::new(None);
    let stop = || io::Error::other("the backup stopped");
    let walked = remote.export(
        &mut |through, anchor| match BackupWriter::create(out, through, anchor) {
            Ok(w) => {
                *writer.borrow_mut() = Some(w);
                Ok(())
            }
            Err(e) => {
                *failed.borrow_mut() = Some(e);
                Err(stop())
            }
        },
        &mut |position, bytes| {
            let mut writer = writer.borrow_mut();
            let Some(w) = writer.as_mut() else {
                return Err(stop());
            };
            w.record(position, bytes).map_err(|e| {
                *failed.borrow_mut() = Some(e);
                stop()
            })
        },
    );
    if let Some(e) = failed.into_inner() {
        return Err(e);
    }
    walked.map_err(|e| BackupError::Remote(e.to_string()))?;
    let writer = writer
        .into_inner()
        .ok_or(BackupError::Store(StoreError::Closed))?;
    writer.finish(Utc::now())
}

/// A backup file opened for reading: its checksum and manifest already checked.
pub struct BackupReader {
    path: PathBuf,
    manifest: Manifest,
    records: DeflateDecoder<BufReader<io::Take<File>>>,
    verifier: Option<ChainVerifier>,
    count: u64,
}

impl BackupReader {
    /// Opens a backup: checks its start, its end, its checksum over the whole file and its
    /// manifest, before a record is read.
    pub fn open(path: &Path) -> Result<BackupReader, BackupError> {
        let mut file = File::open(path).map_err(io_at(path))?;
        let len = file.metadata().map_err(io_at(path))?.len();
        let truncated = |why: &str| BackupError::Truncated {
            path: path.to_owned(),
            why: why.to_owned(),
        };
        let damaged = |why: String| BackupError::Damaged {
            path: path.to_owned(),
            why,
        };
        let mut head = [0u8; HEAD_LEN as usize];
        let got = read_up_to(&mut file, &mut head).map_err(io_at(path))?;
        if got < MAGIC.len() || &head[..MAGIC.len()] != MAGIC {
            return Err(BackupError::NotABackup(path.to_owned()));
        }
        if got < head.len() {
            return Err(truncated("it ends inside its header"));
        }
        let format = u16::from_be_bytes([head[8], head[9]]);
        if format != BACKUP_FORMAT {
            return Err(BackupError::UnknownFormat {
                path: path.to_owned(),
                format,
            });
        }
        if len < HEAD_LEN + TAIL_LEN {
            return Err(truncated("it ends before its manifest"));
        }
        let mut tail = [0u8; TAIL_LEN as usize];
        file.seek(SeekFrom::Start(len - TAIL_LEN))
            .and_then(|_| file.read_exact(&mut tail))
            .map_err(io_at(path))?;
        if &tail[4..12] != END_MAGIC {
            return Err(truncated(
                "its end marker is missing (the copy was cut off or never finished)",
            ));
        }
        let manifest_len = u32::from_be_bytes([tail[0], tail[1], tail[2], tail[3]]);
        if manifest_len > MAX_MANIFEST || u64::from(manifest_len) > len - HEAD_LEN - TAIL_LEN {
            return Err(damaged(format!(
                "its manifest length {manifest_len} does not fit the file"
            )));
        }
        // The checksum first: nothing inside is trusted before the whole file is known good.
        file.seek(SeekFrom::Start(0)).map_err(io_at(path))?;
        let mut hash = Sha256::new();
        let mut covered = (&mut file).take(len - 32);
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = covered.read(&mut buf).map_err(io_at(path))?;
            if n == 0 {
                break;
            }
            hash.update(&buf[..n]);
        }
        let digest: [u8; 32] = hash.finalize().into();
        if digest[..] != tail[12..] {
            return Err(damaged(
                "its SHA-256 checksum does not match its content".to_owned(),
            ));
        }
        let manifest_at = len - TAIL_LEN - u64::from(manifest_len);
        let mut json = vec![0u8; manifest_len as usize];
        file.seek(SeekFrom::Start(manifest_at))
            .and_then(|_| file.read_exact(&mut json))
            .map_err(io_at(path))?;
        let manifest: Manifest = serde_json::from_slice(&json)
            .map_err(|e| damaged(format!("its manifest does not read: {e}")))?;
        if manifest.format != BACKUP_FORMAT {
            return Err(damaged(format!(
                "its manifest names format {} but its header {BACKUP_FORMAT}",
                manifest.format
            )));
        }
        let state = manifest
            .chain_state()
            .ok_or_else(|| damaged("its manifest's chain hashes are not 32-byte hex".to_owned()))?;
        file.seek(SeekFrom::Start(HEAD_LEN)).map_err(io_at(path))?;
        let records = DeflateDecoder::new(BufReader::with_capacity(
            1 << 20,
            file.take(manifest_at - HEAD_LEN),
        ));
        Ok(BackupReader {
            path: path.to_owned(),
            manifest,
            records,
            verifier: Some(ChainVerifier::new(state)),
            count: 0,
        })
    }

    /// What the backup says it holds.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    fn damaged(&self, why: String) -> BackupError {
        BackupError::Damaged {
            path: self.path.clone(),
            why,
        }
    }

    /// The next record, checked against both chains; `None` after the last one, once the
    /// chains are known to end at the manifest's heads and the count to match.
    pub fn next_record(&mut self) -> Result<Option<(Position, Vec<u8>)>, BackupError> {
        let mut word = [0u8; 8];
        self.records
            .read_exact(&mut word)
            .map_err(|e| self.damaged(format!("its records do not decompress: {e}")))?;
        let position = Position(u64::from_be_bytes(word));
        if position == Position::START {
            let Some(verifier) = self.verifier.take() else {
                return Ok(None);
            };
            let report = verifier.finish();
            if let Some(problem) = report.problem {
                return Err(self.damaged(format!(
                    "at position {}: {}",
                    problem.position, problem.reason
                )));
            }
            if self.count != self.manifest.count {
                return Err(self.damaged(format!(
                    "it holds {} records but its manifest says {}",
                    self.count, self.manifest.count
                )));
            }
            return Ok(None);
        }
        let mut len = [0u8; 4];
        self.records
            .read_exact(&mut len)
            .map_err(|e| self.damaged(format!("record {position} does not decompress: {e}")))?;
        let len = u32::from_be_bytes(len);
        if len > MAX_RECORD {
            return Err(self.damaged(format!("record {position} claims {len} bytes")));
        }
        let mut bytes = vec![0u8; len as usize];
        self.records
            .read_exact(&mut bytes)
            .map_err(|e| self.damaged(format!("record {position} does not decompress: {e}")))?;
        if position.0 > self.manifest.position {
            return Err(self.damaged(format!(
                "record {position} is past the manifest's position {}",
                self.manifest.position
            )));
        }
        let Some(verifier) = self.verifier.as_mut() else {
            return Err(self.damaged("records after the end".to_owned()));
        };
        if !verifier.check(position, &bytes) {
            let report = self.verifier.take().map(ChainVerifier::finish);
            let (at, reason) = report
                .and_then(|r| r.problem)
                .map_or((position, "it does not chain".to_owned()), |p| {
                    (p.position, p.reason)
                });
            return Err(self.damaged(format!("at position {at}: {reason}")));
        }
        self.count += 1;
        Ok(Some((position, bytes)))
    }
}

fn read_up_to(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match file.read(&mut buf[got..])? {
            0 => break,
            n => got += n,
        }
    }
    Ok(got)
}

/// Reads a whole backup and checks it (checksum, every record against both chains, the
/// manifest's heads and count) without restoring it.
pub fn verify_backup(path: &Path) -> Result<Manifest, BackupError> {
    let mut reader = BackupReader::open(path)?;
    while reader.next_record()?.is_some() {}
    Ok(reader.manifest)
}

/// Files and folders of a data directory a restore may replace with `force`: the log, the
/// read models (rebuilt from the log on the next start) and what a stopped server left.
const REPLACEABLE: &[&str] = &[
    "log",
    "checkpoints",
    "projections",
    "node.id",
    "listen.addr",
    "listen.addr.partial",
    "watchfire.sock",
];

/// Rebuilds the log of data directory `dir` from a backup; `force` replaces the log of an
/// existing data directory (whose server must be stopped). The node's id is not restored:
/// a restored data directory starts as a new node. Read models rebuild from the log on the
/// server's first start. Returns the backup's manifest and the restored log's verification.
pub fn restore(
    from: &Path,
    dir: &Path,
    force: bool,
) -> Result<(Manifest, super::chain::VerifyReport), BackupError> {
    // The whole file is checked before the data directory is touched.
    let mut reader = BackupReader::open(from)?;
    let data_dir = open_target(dir, force)?;
    let imported = import(&mut reader, &data_dir);
    if let Err(e) = imported {
        let _ = fs::remove_dir_all(data_dir.log_path());
        return Err(e);
    }
    let manifest = reader.manifest.clone();
    let options = StoreOptions {
        cache_capacity_bytes: 64 * 1024 * 1024,
        ..Default::default()
    };
    let store = EventStore::open(data_dir, options)?;
    let report = store.verify();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(io_at(dir))?;
    runtime.block_on(store.close());
    Ok((manifest, report?))
}

fn import(reader: &mut BackupReader, data_dir: &DataDir) -> Result<(), BackupError> {
    let mut log = LogImport::create(data_dir)?;
    while let Some((position, bytes)) = reader.next_record()? {
        log.push(position, &bytes)?;
    }
    let state = reader
        .manifest
        .chain_state()
        .ok_or_else(|| reader.damaged("its manifest's chain hashes do not read".to_owned()))?;
    log.finish(Position(reader.manifest.position), state)?;
    Ok(())
}

/// Opens the data directory a restore writes to: a new or empty one, or with `force` an
/// unused watchfire data directory, whose log and read models are removed first.
fn open_target(dir: &Path, force: bool) -> Result<DataDir, BackupError> {
    let target = |why: String| BackupError::Target {
        path: dir.to_owned(),
        why,
    };
    let empty = match fs::read_dir(dir) {
        Ok(mut entries) => entries.next().is_none(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => true,
        Err(e) => return Err(io_at(dir)(e)),
    };
    if empty {
        return Ok(DataDir::create_or_open(dir)?);
    }
    match (DataDir::is_locked(dir), force) {
        (Ok(true), _) => {
            return Err(target(
                "a watchfire server is running on it; stop it before restoring".to_owned(),
            ))
        }
        (_, false) => {
            return Err(target(
                "it is not empty; restore into a new directory, or pass --force to replace its log"
                    .to_owned(),
            ))
        }
        (Err(e), true) => return Err(e.into()),
        (Ok(false), true) => {}
    }
    // Locked from here on, so no server starts on it halfway through.
    let data_dir = DataDir::open_existing(dir)?;
    for name in REPLACEABLE {
        let path = dir.join(name);
        let removed = match fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() => fs::remove_dir_all(&path),
            Ok(_) => fs::remove_file(&path),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        };
        removed.map_err(io_at(&path))?;
    }
    Ok(data_dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backup_of_an_empty_log_reads_back_empty_and_intact() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("empty.wfbackup");
        let writer =
            BackupWriter::create(&path, Position::START, ChainLink::default()).expect("created");
        let written = writer.finish(Utc::now()).expect("finished");
        assert_eq!((written.count, written.position), (0, 0));
        let read = verify_backup(&path).expect("verifies");
        assert_eq!(read, written);
        assert_eq!(read.facts_head.hash, "0".repeat(64));
    }

    #[test]
    fn a_record_past_the_backups_position_is_refused_and_no_file_is_left() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("b.wfbackup");
        let mut writer =
            BackupWriter::create(&path, Position(5), ChainLink::default()).expect("created");
        let refused = writer.record(Position(6), b"anything");
        assert!(
            matches!(
                refused,
                Err(BackupError::Log {
                    position: Position(6),
                    ..
                })
            ),
            "{refused:?}"
        );
        drop(writer);
        assert_eq!(fs::read_dir(dir.path()).expect("listed").count(), 0);
    }
}
