//! The `watchfire` command line: `serve`, `agent`, `replay`, `verify`, `token`, `backup`
//! and `restore`.

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand, ValueEnum};
use tracing_subscriber::EnvFilter;

use watchfire::config::{FlagOverrides, LogFormat, Settings};
use watchfire::events::backup::{self, BackupError};
use watchfire::events::remote::{LogReader, ReadError};
use watchfire::events::{decode_record, Position, RecordedEvent, Role};
use watchfire::projections::{self, Dashboard, Projection};

/// mimalloc rather than glibc's malloc: cheaper allocation and freeing on every path.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use watchfire::signals::Signals;

/// Self-hosted monitoring with a tamper-evident event log.
#[derive(Parser)]
#[command(name = "watchfire", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve {
        /// TOML config file.
        #[arg(long, env = "WATCHFIRE_CONFIG")]
        config: Option<PathBuf>,
        /// Where the log lives [env: WATCHFIRE_DATA_DIR] [default: ./watchfire-data].
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Address to listen on [env: WATCHFIRE_LISTEN] [default: 127.0.0.1:8080].
        #[arg(long)]
        listen: Option<String>,
        /// Log line format [env: WATCHFIRE_LOG_FORMAT] [default: text].
        #[arg(long, value_enum)]
        log_format: Option<LogFormat>,
        /// A log shared by several nodes, postgres://USER@HOST/DB [default: sled in the data dir].
        #[arg(long, env = "WATCHFIRE_STORE")]
        store: Option<String>,
    },
    /// Sample this machine and push its metrics to a server.
    Agent(watchfire::agent::AgentArgs),
    /// Print the log in order, up to a time or position, and the state at that point.
    Replay {
        /// The data directory (the server may be running).
        #[arg(long, env = "WATCHFIRE_DATA_DIR", default_value = "./watchfire-data")]
        data_dir: PathBuf,
        /// Stop after this RFC 3339 time or position.
        #[arg(long)]
        until: Option<String>,
        /// Print only this stream's events.
        #[arg(long)]
        stream: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Drop the read models and rebuild them from the log (server stopped).
        #[arg(long)]
        rebuild: bool,
        /// The shared log, postgres://USER@HOST/DB, instead of the data directory's.
        #[arg(long, env = "WATCHFIRE_STORE")]
        store: Option<String>,
    },
    /// Check the hash chains (of a log, or of a backup file): exit 0 if intact, 1 with the
    /// first bad position if not, 2 if it cannot be read.
    Verify {
        /// The data directory (the server may be running).
        #[arg(long, env = "WATCHFIRE_DATA_DIR", default_value = "./watchfire-data")]
        data_dir: PathBuf,
        /// The shared log, postgres://USER@HOST/DB, instead of the data directory's.
        #[arg(long, env = "WATCHFIRE_STORE")]
        store: Option<String>,
        /// Check this backup file instead of a log (nothing is restored).
        #[arg(long, conflicts_with = "store")]
        backup: Option<PathBuf>,
    },
    /// Copy the log up to one position into a compressed, checksummed file (the server may
    /// be running: appends carry on meanwhile).
    Backup {
        /// The data directory (the server may be running).
        #[arg(long, env = "WATCHFIRE_DATA_DIR", default_value = "./watchfire-data")]
        data_dir: PathBuf,
        /// The shared log, postgres://USER@HOST/DB, instead of the data directory's.
        #[arg(long, env = "WATCHFIRE_STORE")]
        store: Option<String>,
        /// The backup file to write (written beside it as FILE.partial, then renamed).
        #[arg(long)]
        out: PathBuf,
    },
    /// Rebuild a data directory's log from a backup file (no server may run on it).
    Restore {
        /// The backup file.
        #[arg(long)]
        from: PathBuf,
        /// The data directory to restore into: new or empty, unless --force.
        #[arg(long)]
        data_dir: PathBuf,
        /// Replace the log and read models of an existing data directory.
        #[arg(long)]
        force: bool,
    },
    /// Manage API tokens (the server may be running).
    Token {
        /// The data directory.
        #[arg(
            long,
            env = "WATCHFIRE_DATA_DIR",
            default_value = "./watchfire-data",
            global = true
        )]
        data_dir: PathBuf,
        /// The shared log, postgres://USER@HOST/DB, instead of the data directory's.
        #[arg(long, env = "WATCHFIRE_STORE", global = true)]
        store: Option<String>,
        /// What to do.
        #[command(subcommand)]
        action: TokenAction,
    },
}

/// What `watchfire token` does.
#[derive(Subcommand)]
enum TokenAction {
    /// Create a token and print it once on stdout (the log keeps only its hash).
    Create {
        /// admin, operator, viewer or agent.
        #[arg(long)]
        role: String,
        /// A name to recognise it by.
        #[arg(long)]
        name: String,
    },
}

#[derive(Copy, Clone, PartialEq, Eq, ValueEnum)]
enum Format {
    Table,
    Json,
}

fn init_tracing(format: LogFormat, default: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve {
            config,
            data_dir,
            listen,
            log_format,
            store,
        } => {
            let flags = FlagOverrides {
                listen,
                data_dir,
                log_format,
                store: store.map(|url| watchfire::config::StoreFlag { url }),
            };
            serve(config, flags)
        }
        Command::Agent(args) => {
            init_tracing(LogFormat::Text, "info");
            watchfire::agent::command(args)
        }
        Command::Replay {
            data_dir,
            until,
            stream,
            format,
            rebuild,
            store,
        } => {
            init_tracing(LogFormat::Text, "warn");
            report(replay(
                &Log::new(data_dir, store),
                until.as_deref(),
                stream.as_deref(),
                format,
                rebuild,
            ))
        }
        Command::Verify {
            backup: Some(file), ..
        } => {
            init_tracing(LogFormat::Text, "warn");
            verify_backup(&file)
        }
        Command::Verify {
            data_dir,
            store,
            backup: None,
        } => {
            init_tracing(LogFormat::Text, "warn");
            verify(&Log::new(data_dir, store))
        }
        Command::Backup {
            data_dir,
            store,
            out,
        } => {
            init_tracing(LogFormat::Text, "warn");
            backup(&Log::new(data_dir, store), &out)
        }
        Command::Restore {
            from,
            data_dir,
            force,
        } => {
            init_tracing(LogFormat::Text, "warn");
            restore(&from, &data_dir, force)
        }
        Command::Token {
            data_dir,
            store,
            action: TokenAction::Create { role, name },
        } => {
            init_tracing(LogFormat::Text, "warn");
            report(create_token(&Log::new(data_dir, store), &role, &name))
        }
    }
}

/// Where a command-line reader finds the log: a data directory, or a shared store.
struct Log {
    data_dir: PathBuf,
    store: Option<String>,
}

impl Log {
    fn new(data_dir: PathBuf, store: Option<String>) -> Log {
        Log { data_dir, store }
    }

    fn open(&self) -> Result<LogReader, String> {
        if let Some(url) = &self.store {
            watchfire::config::check_store_url(url).map_err(|e| e.to_string())?;
        }
        LogReader::open(&self.data_dir, self.store.as_deref()).map_err(|e| e.to_string())
    }
}

fn create_token(log: &Log, role: &str, name: &str) -> Result<(), String> {
    let role: Role = role.parse().map_err(|e| format!("--role: {e}"))?;
    // The one rule every token's name is held to, checked before the log is opened.
    let name = watchfire::domain::token::token_name(name).map_err(|e| format!("--{e}"))?;
    let created = match log.open()? {
        LogReader::Local(store) => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            let request = watchfire::command::TokenRequest {
                name: name.clone(),
                role,
                expires_at: None,
                value: None,
            };
            let by = watchfire::command::Cause::by(watchfire::events::Actor::system());
            let made = runtime.block_on(watchfire::command::create_token(
                &store,
                request,
                chrono::Utc::now(),
                &by,
            ));
            runtime.block_on(store.close());
            let made = made.map_err(|e| e.to_string())?;
            watchfire::events::remote::CreatedToken {
                token_id: made.id,
                value: made.value,
            }
        }
        LogReader::Remote(mut remote) => remote
            .create_token(&name, role)
            .map_err(|e| e.to_string())?,
    };
    eprintln!(
        "watchfire: created {} token {name:?} (id {}); it is shown once:",
        role.as_str(),
        created.token_id
    );
    println!("{}", created.value);
    Ok(())
}

fn report(result: Result<(), String>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("watchfire: {e}");
            ExitCode::from(2)
        }
    }
}

fn serve(config: Option<PathBuf>, flags: FlagOverrides) -> ExitCode {
    let settings = match Settings::load(config.as_deref(), flags) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("watchfire: {e}");
            return ExitCode::from(2);
        }
    };
    init_tracing(settings.log_format, "info");
    let addr = match settings.listen_addr() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("watchfire: {e}");
            return ExitCode::from(2);
        }
    };
    let listener = match std::net::TcpListener::bind(addr) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("watchfire: cannot listen on {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = actix_rt::System::new().block_on(async move {
        // Handlers go in before the server accepts anything, so an early SIGTERM still stops it cleanly.
        let signals = Signals::install()?;
        watchfire::server::run(listener, settings, signals.wait()).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("watchfire: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Where replay stops.
enum Until {
    Position(Position),
    Time(DateTime<Utc>),
}

impl Until {
    fn parse(text: &str) -> Result<Until, String> {
        if let Ok(p) = text.parse::<u64>() {
            return Ok(Until::Position(Position(p)));
        }
        DateTime::parse_from_rfc3339(text)
            .map(|t| Until::Time(t.with_timezone(&Utc)))
            .map_err(|_| format!("--until {text:?} is neither a position nor an RFC 3339 time"))
    }

    fn includes(&self, e: &RecordedEvent) -> bool {
        match self {
            Until::Position(p) => e.position <= *p,
            Until::Time(t) => e.timestamp <= *t,
        }
    }
}

fn replay(
    log: &Log,
    until: Option<&str>,
    stream: Option<&str>,
    format: Format,
    rebuild: bool,
) -> Result<(), String> {
    use std::io::Write;
    let until = until.map(Until::parse).transpose()?;
    let mut reader = if rebuild {
        LogReader::open_for_rebuild(&log.data_dir, log.store.as_deref())
            .map_err(|e| e.to_string())?
    } else {
        log.open()?
    };
    if rebuild {
        let LogReader::Local(store) = &reader else {
            return Err(
                "--rebuild needs the server stopped: the running server owns its read models"
                    .to_owned(),
            );
        };
        let dropped = store.drop_checkpoints().map_err(|e| e.to_string())?;
        projections::rebuild::<projections::Tokens>(store).map_err(|e| e.to_string())?;
        projections::rebuild::<projections::Monitors>(store).map_err(|e| e.to_string())?;
        projections::rebuild::<projections::Hosts>(store).map_err(|e| e.to_string())?;
        projections::rebuild::<projections::Alerting>(store).map_err(|e| e.to_string())?;
        projections::rebuild::<Dashboard>(store).map_err(|e| e.to_string())?;
        projections::rebuild_rollups(store).map_err(|e| e.to_string())?;
        eprintln!("watchfire: dropped {dropped} read models and rebuilt them from the log");
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    // The dashboard view, folded as the server folds it: at a position both give the same state.
    let mut state = Dashboard::default();
    let mut after = Position::START;
    if format == Format::Table {
        let _ = writeln!(
            out,
            "{:>8}  {:<30}  {:<44}  {:>5}  {:<20}  {:<12}  DATA",
            "POSITION", "TIME", "STREAM", "VER", "TYPE", "ACTOR"
        );
    }
    'read: loop {
        let records = reader
            .read_raw(after, 4096)
            .map_err(|e: ReadError| e.to_string())?;
        if records.is_empty() {
            break;
        }
        for (position, bytes) in records {
            after = position;
            let event = decode_record(&bytes)
                .map_err(|e| format!("cannot decode the event at position {position}: {e}"))?;
            if let Some(u) = &until {
                if !u.includes(&event) {
                    break 'read;
                }
            }
            state.apply(&event);
            if stream.is_some_and(|s| s != event.stream.as_str()) {
                continue;
            }
            let written = match format {
                Format::Json => writeln!(out, "{}", watchfire::http::event_json(&event)),
                Format::Table => writeln!(
                    out,
                    "{:>8}  {:<30}  {:<44}  {:>5}  {:<20}  {:<12}  {}",
                    event.position,
                    event
                        .timestamp
                        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                    event.stream,
                    event.version,
                    event.event_type(),
                    event.actor,
                    event.event.payload_json()
                ),
            };
            if written.is_err() {
                // The reader went away (a closed pipe): nothing more to print.
                return Ok(());
            }
        }
    }
    if until.is_some() && stream.is_none() {
        // The view `GET /audit/state` answers with for the same position.
        let state_json = serde_json::to_value(watchfire::http::views::DashboardView::from(&state))
            .map_err(|e| e.to_string())?;
        let _ = match format {
            Format::Json => writeln!(
                out,
                "{}",
                serde_json::json!({"type": "state", "position": state.position, "data": state_json})
            ),
            Format::Table => writeln!(
                out,
                "\nstate at position {}:\n{}",
                state.position,
                serde_json::to_string_pretty(&state_json).unwrap_or_default()
            ),
        };
    }
    let _ = out.flush();
    Ok(())
}

fn verify(log: &Log) -> ExitCode {
    let report = log
        .open()
        .and_then(|mut r| r.verify().map_err(|e| e.to_string()));
    match report {
        Ok(report) => match &report.problem {
            None => {
                println!(
                    "intact: {} events checked, last position {}",
                    report.checked, report.last_position
                );
                ExitCode::SUCCESS
            }
            Some(p) => {
                println!("TAMPERED at position {}: {}", p.position, p.reason);
                eprintln!(
                    "watchfire: the log is not intact; first bad position {}",
                    p.position
                );
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("watchfire: {e}");
            ExitCode::from(2)
        }
    }
}

/// The exit code of a backup command that failed: 1 when a backup file or the log is not
/// what was written (as `verify` says of a log), 2 for everything else.
fn backup_failed(e: &BackupError) -> ExitCode {
    eprintln!("watchfire: {e}");
    if e.is_bad_backup() || matches!(e, BackupError::Log { .. }) {
        ExitCode::FAILURE
    } else {
        ExitCode::from(2)
    }
}

fn backup(log: &Log, out: &std::path::Path) -> ExitCode {
    let started = std::time::Instant::now();
    let mut reader = match log.open() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("watchfire: {e}");
            return ExitCode::from(2);
        }
    };
    let written = backup::backup_log(&mut reader, out);
    if let LogReader::Local(store) = &reader {
        close_store(store);
    }
    match written {
        Ok(manifest) => {
            let secs = started.elapsed().as_secs_f64();
            let size = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);
            eprintln!(
                "watchfire: backed up {} records up to position {} to {} ({} bytes) in {secs:.2} s ({:.0} records/s)",
                manifest.count,
                manifest.position,
                out.display(),
                size,
                manifest.count as f64 / secs.max(1e-9),
            );
            println!("{}", serde_json::to_string(&manifest).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Err(e) => backup_failed(&e),
    }
}

fn close_store(store: &watchfire::events::EventStore) {
    if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        runtime.block_on(store.close());
    }
}

fn verify_backup(file: &std::path::Path) -> ExitCode {
    match backup::verify_backup(file) {
        Ok(manifest) => {
            println!(
                "intact backup: {} records up to position {}, written {} by watchfire {}",
                manifest.count,
                manifest.position,
                manifest
                    .created_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                manifest.watchfire_version
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            if e.is_bad_backup() {
                println!("BAD BACKUP: {e}");
            }
            backup_failed(&e)
        }
    }
}

fn restore(from: &std::path::Path, dir: &std::path::Path, force: bool) -> ExitCode {
    let started = std::time::Instant::now();
    match backup::restore(from, dir, force) {
        Ok((manifest, report)) => {
            let secs = started.elapsed().as_secs_f64();
            if let Some(p) = &report.problem {
                eprintln!(
                    "watchfire: the restored log does not verify at position {}: {}",
                    p.position, p.reason
                );
                return ExitCode::FAILURE;
            }
            eprintln!(
                "watchfire: restored {} records up to position {} into {} in {secs:.2} s ({:.0} records/s); verified intact",
                manifest.count,
                manifest.position,
                dir.display(),
                manifest.count as f64 / secs.max(1e-9),
            );
            ExitCode::SUCCESS
        }
        Err(e) => backup_failed(&e),
    }
}
