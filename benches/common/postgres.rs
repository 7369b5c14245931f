//! A PostgreSQL server for the cluster benchmarks: Debian's binaries (the newest
//! `/usr/lib/postgresql/*/bin`), `initdb` in a temp dir, `postgres` on a free loopback port
//! with durable commits (fsync and synchronous_commit on), run as the `postgres` user when
//! the benchmark runs as root. A simpler cousin of the test fixture
//! (`tests/integration/postgres.rs`): one server per run, stopped and removed on drop, and
//! killed with the benchmark (parent-death signal) if that dies first.

#![allow(dead_code)] // not every benchmark uses every helper

use std::ffi::CString;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running PostgreSQL server, its data in a temp dir; stopped and removed on drop.
pub struct PgServer {
    /// The port it listens on, on 127.0.0.1.
    pub port: u16,
    bindir: PathBuf,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl PgServer {
    /// Starts a server; panics (with its log) if it cannot.
    pub fn start() -> PgServer {
        let bindir = bindir();
        let run_as = server_user();
        // Every parent of the data dir must be traversable by the server's user.
        let dir = tempfile::Builder::new()
            .prefix("watchfire-bench-pg-")
            .tempdir_in("/tmp")
            .expect("a temp dir for PostgreSQL");
        if let Some((uid, gid)) = run_as {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).expect("chown the temp dir");
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
        as_server(&mut initdb, run_as);
        let out = initdb.output().expect("initdb runs");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = super::process::free_port();
        let log = std::fs::File::create(dir.path().join("postgres.log")).expect("log file");
        let mut postgres = Command::new(bindir.join("postgres"));
        postgres
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string()])
            .args(["-c", "listen_addresses=127.0.0.1"])
            .arg("-c")
            .arg(format!("unix_socket_directories={}", dir.path().display()))
            // Durable commits, as the product requires.
            .args(["-c", "fsync=on", "-c", "synchronous_commit=on"])
            .args(["-c", "max_connections=200"])
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log);
        as_server(&mut postgres, run_as);
        let child = postgres.spawn().expect("postgres starts");
        let mut server = PgServer {
            port,
            bindir,
            child: Some(child),
            dir,
        };
        let started = Instant::now();
        while server.try_psql("postgres", "SELECT 1").is_err() {
            let exited = server
                .child
                .as_mut()
                .is_some_and(|c| matches!(c.try_wait(), Ok(Some(_))));
            if exited || started.elapsed() > Duration::from_secs(60) {
                panic!(
                    "postgres did not start on 127.0.0.1:{port}; its log:\n{}",
                    std::fs::read_to_string(server.dir.path().join("postgres.log"))
                        .unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    /// `postgres://postgres@127.0.0.1:PORT/db`: the superuser, trusted on loopback.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates the database `name` (a plain identifier); its URL.
    pub fn create_database(&self, name: &str) -> String {
        self.psql("postgres", &format!("CREATE DATABASE {name}"));
        self.url(name)
    }

    /// Runs `sql` with psql in `db`; its unaligned rows, trimmed; panics on an error.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        self.try_psql(db, sql)
            .unwrap_or_else(|e| panic!("psql {sql:?}: {e}"))
    }

    /// Runs `sql` with psql in `db`; its unaligned rows, trimmed.
    pub fn try_psql(&self, db: &str, sql: &str) -> Result<String, String> {
        let out = Command::new(self.bindir.join("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
            ])
            .args(["-d", db, "-c", sql])
            .env("PGCONNECT_TIMEOUT", "10")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
        }
    }

    /// The server's processes: the postmaster and its children (backends, writers), from /proc.
    pub fn pids(&self) -> Vec<u32> {
        let Some(main) = self.child.as_ref().map(Child::id) else {
            return Vec::new();
        };
        let mut pids = vec![main];
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|p| p.parse::<u32>().ok())
            else {
                continue;
            };
            let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            let parent = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            if parent == Some(main) {
                pids.push(pid);
            }
        }
        pids
    }

    /// The memory its processes take, in KiB: the sum of their proportional set sizes, so
    /// the shared buffers every backend maps count once.
    pub fn memory_kib(&self) -> u64 {
        self.pids()
            .into_iter()
            .filter_map(|p| {
                let rollup = std::fs::read_to_string(format!("/proc/{p}/smaps_rollup")).ok()?;
                rollup
                    .lines()
                    .find_map(|l| l.strip_prefix("Pss:"))?
                    .split_whitespace()
                    .next()?
                    .parse::<u64>()
                    .ok()
            })
            .sum()
    }

    /// CPU seconds (user + system) the server has used, its exited backends included.
    pub fn cpu_seconds(&self) -> f64 {
        let Some(main) = self.child.as_ref().map(Child::id) else {
            return 0.0;
        };
        // The postmaster's cutime and cstime hold its reaped children (ended connections).
        let stat = std::fs::read_to_string(format!("/proc/{main}/stat")).unwrap_or_default();
        let fields: Vec<f64> = stat
            .rsplit_once(')')
            .map_or("", |(_, rest)| rest)
            .split_whitespace()
            .map(|v| v.parse().unwrap_or(0.0))
            .collect();
        let reaped = [13, 14].iter().filter_map(|i| fields.get(*i)).sum::<f64>() / 100.0;
        reaped
            + self
                .pids()
                .into_iter()
                .map(|p| super::process::usage(p).1)
                .sum::<f64>()
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Immediate shutdown: the data is thrown away, so no checkpoint is worth waiting for.
            // SAFETY: signals our own child, which has not been reaped yet.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGQUIT) };
            let deadline = Instant::now() + Duration::from_secs(20);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The newest `/usr/lib/postgresql/<version>/bin` with the server binaries.
fn bindir() -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e
                .file_name()
                .to_string_lossy()
                .split('.')
                .next()?
                .parse()
                .ok()?;
            let bin = e.path().join("bin");
            bin.join("postgres").is_file().then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin).unwrap_or_else(|| {
        panic!("no PostgreSQL under /usr/lib/postgresql/*/bin: `apt-get install postgresql`")
    })
}

/// As root, the `postgres` user's uid and gid (PostgreSQL refuses to run as root).
fn server_user() -> Option<(u32, u32)> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let name = CString::new("postgres").expect("no NUL");
    // SAFETY: getpwnam returns null or a pointer to a static entry, read at once.
    let user = unsafe {
        let entry = libc::getpwnam(name.as_ptr());
        (!entry.is_null()).then(|| ((*entry).pw_uid, (*entry).pw_gid))
    };
    Some(user.expect("running as root needs a `postgres` user (Debian's package makes one)"))
}

/// Runs the command as `run_as` (if set), dying with the thread that spawns it.
fn as_server(command: &mut Command, run_as: Option<(u32, u32)>) {
    // SAFETY: only async-signal-safe calls between fork and exec; the parent-death signal
    // is set after the user change, which would clear it.
    unsafe {
        command.pre_exec(move || {
            if let Some((uid, gid)) = run_as {
                if libc::setgroups(1, &gid) != 0 || libc::setgid(gid) != 0 || libc::setuid(uid) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
            }
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGQUIT) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    };
}
