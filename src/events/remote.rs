//! Reading the log of a running server: sled lets one process open a log, so the
//! server answers raw record reads and verification on a Unix socket inside its data
//! directory, reachable by whoever may read that directory anyway.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader as TokioBufReader};
use tokio::net::UnixListener;

use super::chain::{ChainLink, VerifyReport};
use super::datadir::DataDir;
use super::event::Role;
use super::store::{EventStore, StoreError};
use super::types::Position;

/// Most records answered for one read request.
const MAX_READ: usize = 4096;

/// A request on the log socket, one JSON object a line.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Request {
    Read { after: u64, limit: usize },
    Verify,
    CreateToken { name: String, role: Role },
    Backup,
}

/// Where a backup through the socket starts: the position it copies up to and the
/// retention anchor the observation chain restarts after, sent before the records.
#[derive(Debug, Serialize, Deserialize)]
struct BackupStart {
    position: Position,
    retention_anchor: ChainLink,
}

/// Records a backup's stream sends at most per chunk.
const BACKUP_CHUNK_RECORDS: u64 = 4096;
/// Bytes a backup chunk grows to before it is sent.
const BACKUP_CHUNK_BYTES: usize = 1024 * 1024;
/// Chunks queued between the walk of the log and the socket.
const BACKUP_CHUNKS_QUEUED: usize = 4;

/// A token created through the socket: its id and its value, shown once.
#[derive(Debug, Serialize, Deserialize)]
pub struct CreatedToken {
    /// The token's id.
    pub token_id: uuid::Uuid,
    /// The token itself.
    pub value: String,
}

/// Binds the data directory's log socket (before the server announces itself healthy).
pub fn bind_socket(data_dir: &Path) -> io::Result<(UnixListener, PathBuf)> {
    let path = DataDir::socket_path(data_dir);
    // A socket file left by a killed server would make bind fail; the data dir lock says it is stale.
    let _ = std::fs::remove_file(&path);
    Ok((UnixListener::bind(&path)?, path))
}

/// Makes a token of a role with a name for `token create` on the socket, answering once the
/// server's authentication knows it (or why not): the server hands it in, so the log knows
/// nothing of how tokens are decided.
pub type TokenIssuer =
    Arc<dyn Fn(String, Role) -> BoxFuture<'static, Result<CreatedToken, String>> + Send + Sync>;

/// Answers log reads on a bound log socket until `shutdown` resolves; `token create` goes
/// to `issue_token`.
pub async fn serve_socket(
    store: EventStore,
    listener: UnixListener,
    path: PathBuf,
    issue_token: TokenIssuer,
    shutdown: impl std::future::Future<Output = ()>,
) -> io::Result<()> {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let store = store.clone();
                let issue_token = issue_token.clone();
                tokio::spawn(async move {
                    if let Err(e) = answer(store, stream, issue_token).await {
                        tracing::debug!(error = %e, "log socket client went away");
                    }
                });
            }
        }
    }
    let _ = std::fs::remove_file(&path);
    Ok(())
}

async fn answer(
    store: EventStore,
    stream: tokio::net::UnixStream,
    issue_token: TokenIssuer,
) -> io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = TokioBufReader::new(read);
    loop {
        let mut line = String::new();
        // A request is one short line; the cap keeps a confused client from filling memory.
        let n = (&mut reader).take(64 * 1024).read_line(&mut line).await?;
        if n == 0 {
            break;
        }
        let request: Request = match serde_json::from_str(&line) {
            Ok(r) => r,
            Err(e) => {
                write.write_all(format!("error {e}\n").as_bytes()).await?;
                return Ok(());
            }
        };
        if let Request::CreateToken { name, role } = request {
            let reply = issue_token(name, role).await.and_then(|created| {
                let mut out = serde_json::to_vec(&created).map_err(|e| e.to_string())?;
                out.push(b'\n');
                Ok(out)
            });
            match reply {
                Ok(bytes) => write.write_all(&bytes).await?,
                Err(e) => write.write_all(format!("error {e}\n").as_bytes()).await?,
            }
            continue;
        }
        if let Request::Backup = request {
            send_backup(store.clone(), &mut write).await?;
            continue;
        }
        let store = store.clone();
        let reply = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, StoreError> {
            match request {
                Request::Read { after, limit } => {
                    let records = store.read_raw(Position(after), limit.min(MAX_READ))?;
                    let mut out = Vec::new();
                    out.extend_from_slice(&(records.len() as u64).to_be_bytes());
                    for (pos, bytes) in records {
                        out.extend_from_slice(&pos.0.to_be_bytes());
                        out.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
                        out.extend_from_slice(&bytes);
                    }
                    Ok(out)
                }
                Request::CreateToken { .. } | Request::Backup => Err(StoreError::Storage(
                    "this request is answered before this".to_owned(),
                )),
                Request::Verify => {
                    let report = store.verify()?;
                    let mut out = serde_json::to_vec(&report)
                        .map_err(|e| StoreError::Storage(e.to_string()))?;
                    out.push(b'\n');
                    Ok(out)
                }
            }
        })
        .await
        .map_err(io::Error::other)?;
        match reply {
            Ok(bytes) => write.write_all(&bytes).await?,
            Err(e) => write.write_all(format!("error {e}\n").as_bytes()).await?,
        }
    }
    Ok(())
}

/// Streams a consistent prefix of the log for a backup: a JSON line with its position and
/// retention anchor, then chunks of records (a big-endian count, then each record as for a
/// read), ended by a chunk of none; or an `error` line in place of a chunk. The walk runs
/// with retention held off; appends carry on. A client that goes away stops the walk.
async fn send_backup(
    store: EventStore,
    write: &mut tokio::net::unix::OwnedWriteHalf,
) -> io::Result<()> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(BACKUP_CHUNKS_QUEUED);
    let walk = tokio::task::spawn_blocking(move || {
        let gone = || StoreError::Storage("the backup's client went away".to_owned());
        let mut chunk = Vec::with_capacity(BACKUP_CHUNK_BYTES + 64 * 1024);
        let mut count = 0u64;
        let send_chunk = |chunk: &mut Vec<u8>, count: &mut u64| -> Result<(), StoreError> {
            let mut out = Vec::with_capacity(8 + chunk.len());
            out.extend_from_slice(&count.to_be_bytes());
            out.append(chunk);
            *count = 0;
            tx.blocking_send(out).map_err(|_| gone())
        };
        let walked = store.export(
            &mut |position, retention_anchor| {
                let start = BackupStart {
                    position,
                    retention_anchor,
                };
                let mut line =
                    serde_json::to_vec(&start).map_err(|e| StoreError::Storage(e.to_string()))?;
                line.push(b'\n');
                tx.blocking_send(line).map_err(|_| gone())
            },
            &mut |position, bytes| {
                chunk.extend_from_slice(&position.0.to_be_bytes());
                chunk.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
                chunk.extend_from_slice(bytes);
                count += 1;
                if count >= BACKUP_CHUNK_RECORDS || chunk.len() >= BACKUP_CHUNK_BYTES {
                    send_chunk(&mut chunk, &mut count)?;
                }
                Ok(true)
            },
        );
        let ended = walked.and_then(|()| {
            if count > 0 {
                send_chunk(&mut chunk, &mut count)?;
            }
            send_chunk(&mut chunk, &mut count)
        });
        if let Err(e) = ended {
            let _ = tx.blocking_send(format!("error {e}\n").into_bytes());
        }
    });
    while let Some(bytes) = rx.recv().await {
        write.write_all(&bytes).await?;
    }
    walk.await.map_err(io::Error::other)
}

/// A client of a running server's log socket.
pub struct RemoteLog {
    reader: BufReader<UnixStream>,
    path: PathBuf,
}

impl RemoteLog {
    /// Connects to the server that holds `data_dir`.
    pub fn connect(data_dir: &Path) -> io::Result<RemoteLog> {
        let path = DataDir::socket_path(data_dir);
        let stream = UnixStream::connect(&path).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "the data directory is in use, but its server does not answer on {}: {e}",
                    path.display()
                ),
            )
        })?;
        Ok(RemoteLog {
            reader: BufReader::new(stream),
            path,
        })
    }

    fn send(&mut self, request: &Request) -> io::Result<()> {
        let mut line = serde_json::to_vec(request).map_err(io::Error::other)?;
        line.push(b'\n');
        self.reader.get_mut().write_all(&line)
    }

    fn server_error(&mut self, first: u8) -> io::Error {
        let mut rest = String::new();
        let _ = self.reader.read_line(&mut rest);
        io::Error::other(format!(
            "server at {} answered: {}{}",
            self.path.display(),
            first as char,
            rest.trim_end()
        ))
    }

    /// Up to `limit` raw records after `after`.
    pub fn read_raw(
        &mut self,
        after: Position,
        limit: usize,
    ) -> io::Result<Vec<(Position, Vec<u8>)>> {
        self.send(&Request::Read {
            after: after.0,
            limit,
        })?;
        let count = self.read_count()?;
        let mut out = Vec::with_capacity(count.min(MAX_READ as u64) as usize);
        for _ in 0..count {
            let mut bytes = Vec::new();
            let pos = self.read_record(&mut bytes)?;
            out.push((pos, bytes));
        }
        Ok(out)
    }

    /// Reads the count that heads a batch of records, or the server's error in its place.
    fn read_count(&mut self) -> io::Result<u64> {
        let mut word = [0u8; 8];
        self.reader.read_exact(&mut word[..1])?;
        if word[0] == b'e' {
            return Err(self.server_error(word[0]));
        }
        self.reader.read_exact(&mut word[1..])?;
        Ok(u64::from_be_bytes(word))
    }

    /// Reads one record of a batch (position, length, bytes) into `bytes`; a record
    /// that claims more than 64 MiB is refused.
    fn read_record(&mut self, bytes: &mut Vec<u8>) -> io::Result<Position> {
        let mut word = [0u8; 8];
        self.reader.read_exact(&mut word)?;
        let pos = u64::from_be_bytes(word);
        self.reader.read_exact(&mut word)?;
        let len = u64::from_be_bytes(word);
        if len > 64 * 1024 * 1024 {
            return Err(io::Error::other(format!("record {pos} claims {len} bytes")));
        }
        bytes.resize(len as usize, 0);
        self.reader.read_exact(bytes)?;
        Ok(Position(pos))
    }

    /// Asks the server for a consistent prefix of its log: `begin` gets its position and
    /// retention anchor, then `each` every record up to it, in order.
    pub fn export(
        &mut self,
        begin: &mut dyn FnMut(Position, ChainLink) -> io::Result<()>,
        each: &mut dyn FnMut(Position, &[u8]) -> io::Result<()>,
    ) -> io::Result<()> {
        self.send(&Request::Backup)?;
        let mut line = String::new();
        (&mut self.reader).take(64 * 1024).read_line(&mut line)?;
        if line.starts_with("error") || !line.ends_with('\n') {
            return Err(io::Error::other(format!(
                "server at {} answered: {}",
                self.path.display(),
                line.trim_end()
            )));
        }
        let start: BackupStart = serde_json::from_str(&line).map_err(io::Error::other)?;
        begin(start.position, start.retention_anchor)?;
        let mut bytes = Vec::new();
        loop {
            let count = self.read_count()?;
            if count == 0 {
                return Ok(());
            }
            for _ in 0..count {
                let pos = self.read_record(&mut bytes)?;
                each(pos, &bytes)?;
            }
        }
    }

    /// Asks the server to record a new token.
    pub fn create_token(&mut self, name: &str, role: Role) -> io::Result<CreatedToken> {
        self.send(&Request::CreateToken {
            name: name.to_owned(),
            role,
        })?;
        let mut line = String::new();
        self.reader.read_line(&mut line)?;
        if line.starts_with("error") {
            return Err(io::Error::other(line.trim_end().to_owned()));
        }
        serde_json::from_str(&line).map_err(io::Error::other)
    }

    /// Asks the server to verify the chains.
    pub fn verify(&mut self) -> io::Result<VerifyReport> {
        self.send(&Request::Verify)?;
        let mut line = String::new();
        self.reader.read_line(&mut line)?;
        if line.starts_with("error") {
            return Err(io::Error::other(line.trim_end().to_owned()));
        }
        serde_json::from_str(&line).map_err(io::Error::other)
    }
}

/// The log of a data directory, opened directly or, when a server holds it, through its socket.
pub enum LogReader {
    /// This process opened the log.
    Local(EventStore),
    /// A running server reads it for us.
    Remote(RemoteLog),
}

/// Why a data directory's log could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The data directory is unusable.
    #[error(transparent)]
    DataDir(#[from] super::datadir::DataDirError),
    /// The log could not be opened or read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The read models belong to a running server.
    #[error("--rebuild needs the server stopped: the running server owns its read models")]
    Busy,
    /// The running server's socket failed.
    #[error("{0}")]
    Socket(#[from] io::Error),
}

/// How a command-line reader opens a log.
fn reader_options() -> super::store::StoreOptions {
    super::store::StoreOptions {
        cache_capacity_bytes: 64 * 1024 * 1024,
        ..Default::default()
    }
}

impl LogReader {
    /// Opens the log of `dir`, through its server when one holds it; or the shared log at
    /// `store` (a PostgreSQL URL), which any number of processes open at once.
    pub fn open(dir: &Path, store: Option<&str>) -> Result<LogReader, ReadError> {
        if let Some(url) = store {
            let store = EventStore::open_postgres(url, None, reader_options())?;
            return Ok(LogReader::Local(store));
        }
        if DataDir::is_locked(dir)? {
            return Ok(LogReader::Remote(RemoteLog::connect(dir)?));
        }
        let data_dir = DataDir::open_existing(dir)?;
        Ok(LogReader::Local(EventStore::open(
            data_dir,
            reader_options(),
        )?))
    }

    /// Opens the log with the read models of `dir` for rebuilding them, which needs that
    /// data directory's server stopped.
    pub fn open_for_rebuild(dir: &Path, store: Option<&str>) -> Result<LogReader, ReadError> {
        if DataDir::is_locked(dir)? {
            return Err(ReadError::Busy);
        }
        let data_dir = DataDir::open_existing(dir)?;
        let store = match store {
            Some(url) => EventStore::open_postgres(url, Some(data_dir), reader_options())?,
            None => EventStore::open(data_dir, reader_options())?,
        };
        Ok(LogReader::Local(store))
    }

    /// Up to `limit` raw records after `after`.
    pub fn read_raw(
        &mut self,
        after: Position,
        limit: usize,
    ) -> Result<Vec<(Position, Vec<u8>)>, ReadError> {
        match self {
            LogReader::Local(store) => Ok(store.read_raw(after, limit)?),
            LogReader::Remote(remote) => Ok(remote.read_raw(after, limit)?),
        }
    }

    /// Verifies both chains.
    pub fn verify(&mut self) -> Result<VerifyReport, ReadError> {
        match self {
            LogReader::Local(store) => Ok(store.verify()?),
            LogReader::Remote(remote) => Ok(remote.verify()?),
        }
    }
}
