//! A real PostgreSQL server for tests: Debian's binaries, `initdb` in a temp dir, `postgres`
//! on a free loopback port; one shared server per test process and a fresh database per test.
//!
//! PostgreSQL refuses to run as root, and tests run as root in CI: then `initdb` and `postgres`
//! run as the unprivileged `postgres` user (Debian's package creates it; created here if not).
//! `postgres` is a direct child of a keeper thread that lives as long as the server, with
//! `PR_SET_PDEATHSIG`, so a killed test binary leaves no server behind; a normal exit stops the
//! shared server and removes its temp dir from an `atexit` handler (statics are never dropped).

#![allow(dead_code)]

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long the server may take to accept connections (a slow, shared machine).
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Free ports tried when another process takes the chosen one before `postgres` binds it.
const PORT_ATTEMPTS: usize = 5;
/// The temp dirs' name prefix.
const DIR_PREFIX: &str = "watchfire-pg-";
/// In each temp dir: the pid of the test process that made it.
const OWNER_FILE: &str = "owner.pid";
/// What to do when the server binaries are missing.
const INSTALL_HINT: &str = "install Debian's `postgresql` package \
     (`apt-get install postgresql`; `bash scripts/test.sh` installs it when missing)";

/// A PostgreSQL server started for tests, its data in a temp dir; stopped and removed on drop.
pub struct PgServer {
    port: u16,
    bindir: PathBuf,
    dir: tempfile::TempDir,
    /// Dropping the sender tells the keeper thread to stop the server; joined on shutdown.
    keeper: Mutex<Option<(mpsc::Sender<()>, JoinHandle<()>)>>,
}

/// The unprivileged user `initdb` and `postgres` run as when the tests run as root.
#[derive(Clone, Copy)]
struct RunAs {
    uid: libc::uid_t,
    gid: libc::gid_t,
}

static SHARED: OnceLock<Result<PgServer, String>> = OnceLock::new();

/// The process-wide test server, started on first use; each test creates its own database.
pub fn shared() -> &'static PgServer {
    let server = SHARED.get_or_init(|| {
        let server = PgServer::try_start()?;
        // SAFETY: registers a plain `extern "C"` function that does not unwind.
        unsafe { libc::atexit(stop_shared) };
        Ok(server)
    });
    match server {
        Ok(server) => server,
        Err(e) => panic!("the shared PostgreSQL test server did not start: {e}"),
    }
}

/// Stops the shared server and removes its temp dir when the test process exits.
extern "C" fn stop_shared() {
    if let Some(Ok(server)) = SHARED.get() {
        server.shutdown();
        let _ = std::fs::remove_dir_all(server.dir.path());
    }
}

impl PgServer {
    /// Starts a server of its own (most tests want `shared()`); panics if it cannot.
    pub fn start() -> PgServer {
        PgServer::try_start().unwrap_or_else(|e| panic!("the PostgreSQL test server: {e}"))
    }

    /// `postgres://postgres@127.0.0.1:PORT/db`: the superuser, trusted on loopback.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates the database `name` (a plain lowercase identifier, new on this server); its URL.
    pub fn create_database(&self, name: &str) -> String {
        let plain = !name.is_empty()
            && name.len() <= 63
            && !name.starts_with(|c: char| c.is_ascii_digit())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        assert!(
            plain,
            "test database names are lowercase identifiers: {name:?}"
        );
        self.psql("postgres", &format!("CREATE DATABASE \"{name}\""));
        self.url(name)
    }

    /// Runs `sql` with psql in `db` (a name or a `url`); its unaligned rows, trimmed.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        psql(&self.bindir, self.port, db, sql)
            .unwrap_or_else(|e| panic!("psql in {db:?} for {sql:?}: {e}"))
    }

    fn try_start() -> Result<PgServer, String> {
        let bindir = find_bindir()?;
        let run_as = server_user()?;
        let base = if run_as.is_some() {
            // Every parent of the temp dir must be traversable by the server's user.
            PathBuf::from("/tmp")
        } else {
            std::env::temp_dir()
        };
        remove_abandoned(&base);
        let dir = tempfile::Builder::new()
            .prefix(DIR_PREFIX)
            .tempdir_in(&base)
            .map_err(|e| format!("a temp dir in {}: {e}", base.display()))?;
        std::fs::write(dir.path().join(OWNER_FILE), std::process::id().to_string())
            .map_err(|e| format!("{}: {e}", dir.path().display()))?;
        if let Some(user) = run_as {
            std::os::unix::fs::chown(dir.path(), Some(user.uid), Some(user.gid))
                .map_err(|e| format!("chown {} to the server's user: {e}", dir.path().display()))?;
        }
        let data = dir.path().join("data");
        let mut initdb = Command::new(bindir.join("initdb"));
        initdb
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C"])
            .args(["--no-sync", "--no-instructions"])
            .current_dir(dir.path())
            .stdin(Stdio::null());
        server_process(&mut initdb, run_as);
        let out = initdb
            .output()
            .map_err(|e| format!("running {}: {e}", bindir.join("initdb").display()))?;
        if !out.status.success() {
            return Err(format!(
                "initdb failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }

        // The keeper thread spawns `postgres` and outlives it: the parent-death signal
        // follows the thread that forked, not the process.
        let (ready_tx, ready_rx) = mpsc::channel();
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let (keeper_bindir, socket_dir) = (bindir.clone(), dir.path().to_path_buf());
        let keeper = std::thread::Builder::new()
            .name("postgres-keeper".into())
            .spawn(
                move || match run_server(&keeper_bindir, &socket_dir, run_as) {
                    Ok((child, port)) => {
                        let _ = ready_tx.send(Ok(port));
                        let _ = stop_rx.recv();
                        stop_child(child);
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                },
            )
            .map_err(|e| format!("spawning the keeper thread: {e}"))?;
        let port = ready_rx
            .recv()
            .map_err(|_| "the keeper thread died".to_string())??;
        Ok(PgServer {
            port,
            bindir,
            dir,
            keeper: Mutex::new(Some((stop_tx, keeper))),
        })
    }

    /// Stops the server (immediate shutdown) and waits for it; idempotent.
    fn shutdown(&self) {
        let keeper = self.keeper.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some((stop, handle)) = keeper {
            drop(stop);
            let _ = handle.join();
        }
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Starts `postgres` on a free loopback port (retrying if another process takes the port
/// first) and waits until it answers as this data directory's server.
fn run_server(bindir: &Path, dir: &Path, run_as: Option<RunAs>) -> Result<(Child, u16), String> {
    let data = dir.join("data");
    let log_path = dir.join("postgres.log");
    for _ in 0..PORT_ATTEMPTS {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("a free loopback port: {e}"))?
            .port();
        let log = File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
        let err_log = log.try_clone().map_err(|e| e.to_string())?;
        let mut postgres = Command::new(bindir.join("postgres"));
        postgres
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string()])
            .args(["-c", "listen_addresses=127.0.0.1"])
            .arg("-c")
            .arg(format!("unix_socket_directories={}", dir.display()))
            // Durable commits, as the product requires.
            .args(["-c", "fsync=on", "-c", "synchronous_commit=on"])
            .args(["-c", "max_connections=200", "-c", "shared_buffers=16MB"])
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err_log);
        server_process(&mut postgres, run_as);
        let mut child = postgres
            .spawn()
            .map_err(|e| format!("running {}: {e}", bindir.join("postgres").display()))?;
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let log = log_tail(&log_path);
                if log.contains("could not bind") || log.contains("could not create any TCP/IP") {
                    break; // Someone took the port first: try another.
                }
                return Err(format!("postgres exited ({status}); its log:\n{log}"));
            }
            // Ready, and this server rather than another one that took the port.
            if is_ready(bindir, port)
                && psql(bindir, port, "postgres", "SHOW data_directory").as_deref()
                    == Ok(&*data.to_string_lossy())
            {
                return Ok((child, port));
            }
            if Instant::now() > deadline {
                stop_child(child);
                return Err(format!(
                    "postgres did not accept connections on 127.0.0.1:{port} within {}s; \
                     its log:\n{}",
                    READY_TIMEOUT.as_secs(),
                    log_tail(&log_path)
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    Err(format!(
        "postgres could not bind a free loopback port in {PORT_ATTEMPTS} attempts"
    ))
}

/// `pg_isready`: the server accepts connections on 127.0.0.1:`port`.
fn is_ready(bindir: &Path, port: u16) -> bool {
    Command::new(bindir.join("pg_isready"))
        .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string()])
        .args(["-U", "postgres", "-d", "postgres", "-t", "5"])
        .stdin(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs `sql` with psql (as the test process's user: psql does not mind root).
fn psql(bindir: &Path, port: u16, db: &str, sql: &str) -> Result<String, String> {
    let out = Command::new(bindir.join("psql"))
        .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", "postgres"])
        .args(["-d", db, "-c", sql])
        .env("PGCONNECT_TIMEOUT", "10")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running {}: {e}", bindir.join("psql").display()))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(format!(
            "{}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Immediate shutdown (SIGQUIT): the data is thrown away, so no checkpoint is worth waiting for.
fn stop_child(mut child: Child) {
    // SAFETY: signals our own child, which has not been reaped yet.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGQUIT) };
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if !matches!(child.try_wait(), Ok(None)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Runs the command as `run_as` (if set) and makes it die with the thread that spawns it.
fn server_process(command: &mut Command, run_as: Option<RunAs>) {
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: only async-signal-safe calls between fork and exec. The parent-death signal is
    // set after the user change, which would clear it.
    unsafe {
        command.pre_exec(move || {
            if let Some(user) = run_as {
                if libc::setgroups(1, &user.gid) != 0
                    || libc::setgid(user.gid) != 0
                    || libc::setuid(user.uid) != 0
                {
                    return Err(io::Error::last_os_error());
                }
            }
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGQUIT) != 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                return Err(io::Error::other("the test process exited"));
            }
            Ok(())
        })
    };
}

/// As root, the user to run the server as: `postgres`, created (as a system user) if missing.
fn server_user() -> Result<Option<RunAs>, String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    if let Some(user) = lookup_user("postgres") {
        return Ok(Some(user));
    }
    let status = Command::new("useradd")
        .args(["--system", "--user-group", "--no-create-home"])
        .args(["--shell", "/usr/sbin/nologin", "postgres"])
        .status()
        .map_err(|e| format!("running useradd: {e}"))?;
    lookup_user("postgres")
        .map(Some)
        .ok_or_else(|| format!("no `postgres` user, and `useradd postgres` failed ({status})"))
}

fn lookup_user(name: &str) -> Option<RunAs> {
    let name = CString::new(name).ok()?;
    // SAFETY: getpwnam returns null or a pointer to a static entry, read at once.
    unsafe {
        let entry = libc::getpwnam(name.as_ptr());
        (!entry.is_null()).then(|| RunAs {
            uid: (*entry).pw_uid,
            gid: (*entry).pw_gid,
        })
    }
}

/// The newest `/usr/lib/postgresql/<version>/bin` (Debian's layout), else `pg_config --bindir`.
fn find_bindir() -> Result<PathBuf, String> {
    let complete = |bin: &Path| {
        ["initdb", "postgres", "psql", "pg_isready"]
            .iter()
            .all(|b| bin.join(b).is_file())
    };
    let mut newest: Option<(Vec<u32>, PathBuf)> = None;
    for entry in std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
    {
        let Ok(entry) = entry else { continue };
        let bin = entry.path().join("bin");
        let version: Vec<u32> = entry
            .file_name()
            .to_string_lossy()
            .split('.')
            .map(|part| part.parse().unwrap_or(0))
            .collect();
        if complete(&bin) && newest.as_ref().is_none_or(|(v, _)| version > *v) {
            newest = Some((version, bin));
        }
    }
    if let Some((_, bin)) = newest {
        return Ok(bin);
    }
    let from_pg_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    match from_pg_config {
        Some(bin) if complete(&bin) => Ok(bin),
        _ => Err(format!(
            "no PostgreSQL server binaries (initdb, postgres, psql, pg_isready) under \
             /usr/lib/postgresql/*/bin or at `pg_config --bindir`: {INSTALL_HINT}"
        )),
    }
}

/// Removes temp dirs left by killed test processes (their server died with them, via the
/// parent-death signal, but nothing was left to remove the dir): those whose owner is gone.
fn remove_abandoned(base: &Path) {
    for entry in std::fs::read_dir(base).into_iter().flatten().flatten() {
        if !entry.file_name().to_string_lossy().starts_with(DIR_PREFIX) {
            continue;
        }
        // No owner file yet: another process is creating it.
        let Ok(owner) = std::fs::read_to_string(entry.path().join(OWNER_FILE)) else {
            continue;
        };
        let Ok(pid) = owner.trim().parse::<libc::pid_t>() else {
            continue;
        };
        // SAFETY: signal 0 only checks whether the process exists.
        let gone = unsafe { libc::kill(pid, 0) } != 0
            && io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
        if gone {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// The last lines of the server's log, for failure messages.
fn log_tail(path: &Path) -> String {
    let log = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

#[test]
fn a_fresh_database_on_the_test_server_answers_queries() {
    let pg = shared();
    let first = pg.create_database("fixture_first");
    let second = pg.create_database("fixture_second");
    assert_eq!(first, pg.url("fixture_first"));
    assert!(
        first.starts_with("postgres://postgres@127.0.0.1:"),
        "{first}"
    );
    assert_ne!(first, second);
    for (db, url) in [("fixture_first", &first), ("fixture_second", &second)] {
        assert_eq!(pg.psql(db, "select 1"), "1");
        // The URL itself connects, to that database.
        assert_eq!(pg.psql(url, "select current_database()"), db);
    }
    // A table in one database is not in the other.
    pg.psql(
        "fixture_first",
        "create table t (x int); insert into t values (7)",
    );
    assert_eq!(pg.psql("fixture_first", "select x from t"), "7");
    assert_eq!(
        pg.psql(
            "fixture_second",
            "select count(*) from pg_tables where tablename = 't'"
        ),
        "0"
    );
    // Durable commits, as the product requires.
    assert_eq!(pg.psql("fixture_first", "SHOW synchronous_commit"), "on");
    assert_eq!(pg.psql("fixture_first", "SHOW fsync"), "on");
    assert_eq!(
        pg.psql("fixture_first", "SHOW listen_addresses"),
        "127.0.0.1"
    );
}
