//! Settings for `watchfire serve`, in layers: defaults, then the TOML file, then
//! `WATCHFIRE_*` environment variables, then flags. Nested keys read from the environment
//! with a double underscore: `WATCHFIRE_RETENTION__RAW_DAYS=30`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::notify::SmtpSettings;

/// Environment variables that belong to these settings (others, such as the agent's, are ignored).
const SETTINGS_KEYS: &[&str] = &[
    "listen",
    "data_dir",
    "log_format",
    "admin_token",
    "retention",
    "metrics",
    "store",
    "health",
    "smtp",
    "public_url",
    "notifications",
    "auth",
    "websocket",
    "web_dir",
    "cluster",
    "compat",
];

/// A setting that is missing, malformed or out of range.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The named config file does not exist or cannot be read.
    #[error("cannot read config file {path}: {detail}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        detail: String,
    },
    /// A key has a value of the wrong type or an unknown key was given.
    #[error("invalid configuration: {0}")]
    Invalid(String),
    /// A key's value is out of range.
    #[error("invalid configuration: {key}: {detail}")]
    OutOfRange {
        /// The dotted key, as in the file.
        key: &'static str,
        /// What is allowed.
        detail: String,
    },
}

/// How log lines are written.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object a line.
    Json,
}

/// Every setting of the server.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Address the HTTP server listens on.
    pub listen: String,
    /// Where the log and the read models live.
    pub data_dir: PathBuf,
    /// How log lines are written.
    pub log_format: LogFormat,
    /// The bootstrap admin token for a new data directory (else a random one is printed).
    pub admin_token: Option<SecretString>,
    /// How long observations are kept.
    pub retention: RetentionSettings,
    /// Who may read `/metrics`.
    pub metrics: MetricsSettings,
    /// Event store tuning.
    pub store: StoreSettings,
    /// Thresholds of `/health/ready`.
    pub health: HealthSettings,
    /// The relay email notifications go through.
    pub smtp: SmtpSettings,
    /// How channels retry.
    pub notifications: NotificationSettings,
    /// The dashboard's address as people reach it, for links in notifications
    /// (`http://<listen>` when unset).
    pub public_url: Option<String>,
    /// Sessions and login throttling.
    pub auth: AuthSettings,
    /// WebSocket heartbeat and outbox.
    pub websocket: WebsocketSettings,
    /// Serve the dashboard from this directory (a `vite build` output) instead of
    /// the build embedded in the binary: for working on `web/`.
    pub web_dir: Option<PathBuf>,
    /// Several nodes on one shared log (with `store.url`).
    pub cluster: ClusterSettings,
    /// The routes of the systems watchfire replaces.
    pub compat: CompatSettings,
}

/// `[compat]`: the routes of the systems watchfire replaces (README, "Coming from ...").
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CompatSettings {
    /// Serve the server monitor's reads (`/api/servers...`) without a token, as it did.
    pub public_reads: bool,
    /// Take `POST /api/metrics` pushes that carry no credential at all (that agent sends
    /// none), recorded as by `anonymous`; a credential that is sent is still checked.
    pub anonymous_push: bool,
}

/// `[cluster]`: how nodes sharing a log find each other and share the work.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterSettings {
    /// How long a node's leases (and its membership) last without renewal, in seconds;
    /// a node that dies loses its monitors to the others within about this long.
    pub lease_s: u64,
    /// The address other nodes forward requests to [default: the listen address].
    pub advertise: Option<String>,
}

impl Default for ClusterSettings {
    fn default() -> ClusterSettings {
        ClusterSettings {
            lease_s: 10,
            advertise: None,
        }
    }
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            listen: "127.0.0.1:8080".to_owned(),
            data_dir: PathBuf::from("./watchfire-data"),
            log_format: LogFormat::Text,
            admin_token: None,
            retention: RetentionSettings::default(),
            metrics: MetricsSettings::default(),
            store: StoreSettings::default(),
            health: HealthSettings::default(),
            smtp: SmtpSettings::default(),
            public_url: None,
            notifications: NotificationSettings::default(),
            auth: AuthSettings::default(),
            websocket: WebsocketSettings::default(),
            web_dir: None,
            cluster: ClusterSettings::default(),
            compat: CompatSettings::default(),
        }
    }
}

/// `[retention]`: how long raw observations are kept.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionSettings {
    /// Days a `MonitorChecked`, `HeartbeatReceived` or `HostMetricsReported` is kept.
    pub raw_days: u32,
    /// Seconds between retention passes.
    pub interval_s: u64,
}

impl Default for RetentionSettings {
    fn default() -> RetentionSettings {
        RetentionSettings {
            raw_days: 7,
            interval_s: 3600,
        }
    }
}

/// `[metrics]`: access to `/metrics` and the names it uses.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSettings {
    /// Serve `/metrics` without a token.
    pub public: bool,
    /// Also write Uptime Kuma's unprefixed per-monitor series (`monitor_status`,
    /// `monitor_response_time`, `monitor_cert_days_remaining`, `monitor_cert_is_valid`)
    /// with its labels, so its Grafana dashboards work unchanged.
    pub uptime_kuma_names: bool,
}

/// `[store]`: event store tuning.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreSettings {
    /// Where the log lives: `postgres://USER@HOST/DB` for a log shared by several nodes;
    /// unset, the embedded sled log in the data directory.
    pub url: Option<String>,
    /// sled's page cache, in MiB.
    pub cache_mb: u64,
}

impl Default for StoreSettings {
    fn default() -> StoreSettings {
        StoreSettings {
            url: None,
            cache_mb: 64,
        }
    }
}

/// Checks that a store URL names a backend watchfire has: PostgreSQL.
pub fn check_store_url(url: &str) -> Result<(), ConfigError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(())
    } else {
        Err(ConfigError::OutOfRange {
            key: "store.url",
            detail: format!(
                "{:?} is not a PostgreSQL URL such as postgres://watchfire@127.0.0.1/watchfire",
                url.split('@').next_back().unwrap_or_default()
            ),
        })
    }
}

/// `[health]`: thresholds of readiness.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HealthSettings {
    /// Below this much free space on the data directory's disk, the server is not ready.
    pub min_free_mb: u64,
    /// Seconds between self-checks that record health changes in the log.
    pub check_interval_s: u64,
}

impl Default for HealthSettings {
    fn default() -> HealthSettings {
        HealthSettings {
            min_free_mb: 256,
            check_interval_s: 5,
        }
    }
}

/// `[notifications]`: how a channel retries a delivery that failed.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotificationSettings {
    /// Attempts before a channel gives up on a notification.
    pub max_attempts: u32,
    /// The wait before the first retry, in milliseconds; each next one doubles.
    pub first_retry_ms: u64,
    /// The longest wait between attempts, in milliseconds.
    pub max_retry_ms: u64,
}

impl Default for NotificationSettings {
    fn default() -> NotificationSettings {
        NotificationSettings {
            max_attempts: 6,
            first_retry_ms: 1_000,
            max_retry_ms: 300_000,
        }
    }
}

/// `[auth]`: the session cookie and how failed logins are throttled.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// Mark the session cookie `Secure` (set it when people reach the server over HTTPS).
    pub secure_cookie: bool,
    /// Hours a login session lasts.
    pub session_hours: u32,
    /// Failed logins per client address or per username within the window before 429.
    pub login_attempts: u32,
    /// The window failed logins are counted in, in seconds.
    pub login_window_s: u64,
}

impl Default for AuthSettings {
    fn default() -> AuthSettings {
        AuthSettings {
            secure_cookie: false,
            session_hours: 24,
            login_attempts: 5,
            login_window_s: 60,
        }
    }
}

/// `[websocket]`: how `/ws` sessions are kept alive and how far one may fall behind.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebsocketSettings {
    /// Seconds between the server's pings.
    pub ping_s: u64,
    /// A session that sends no frame (pongs included) for this many seconds is closed.
    pub timeout_s: u64,
    /// Frames a session may have waiting; past that its backlog is dropped for a snapshot.
    pub outbox: usize,
}

impl Default for WebsocketSettings {
    fn default() -> WebsocketSettings {
        WebsocketSettings {
            ping_s: 15,
            timeout_s: 45,
            outbox: 1024,
        }
    }
}

/// Values given as flags, which beat every other layer.
#[derive(Debug, Default, Serialize)]
pub struct FlagOverrides {
    /// `--listen`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    /// `--data-dir`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// `--log-format`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
    /// `--store` (or `WATCHFIRE_STORE`): the store URL, as `[store] url`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<StoreFlag>,
}

/// `--store` as the `[store]` table it overrides.
#[derive(Debug, Serialize)]
pub struct StoreFlag {
    /// The store URL.
    pub url: String,
}

impl Settings {
    /// Loads the layers (file, environment, flags) over the defaults and validates the result.
    pub fn load(file: Option<&Path>, flags: FlagOverrides) -> Result<Settings, ConfigError> {
        let mut figment = Figment::new();
        if let Some(path) = file {
            if let Err(e) = std::fs::metadata(path) {
                return Err(ConfigError::File {
                    path: path.to_owned(),
                    detail: e.to_string(),
                });
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        let env = Env::prefixed("WATCHFIRE_").split("__").filter(|key| {
            let top = key.as_str().split('.').next().unwrap_or_default();
            // figment hands the filter the key before lower-casing it. `WATCHFIRE_STORE` is
            // the store URL, read as the `--store` flag, not the `[store]` table.
            SETTINGS_KEYS.iter().any(|k| top.eq_ignore_ascii_case(k))
                && !key.as_str().eq_ignore_ascii_case("store")
        });
        figment = figment.merge(env).merge(Serialized::defaults(flags));
        let settings: Settings = figment
            .extract()
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        settings.validate()?;
        Ok(settings)
    }

    /// The listen address, parsed.
    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.listen.parse().map_err(|e| ConfigError::OutOfRange {
            key: "listen",
            detail: format!(
                "{:?} is not an address such as 127.0.0.1:8080 ({e})",
                self.listen
            ),
        })
    }

    /// Checks ranges that types cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.listen_addr()?;
        let range = |key, ok: bool, detail: &str| {
            if ok {
                Ok(())
            } else {
                Err(ConfigError::OutOfRange {
                    key,
                    detail: detail.to_owned(),
                })
            }
        };
        range(
            "retention.raw_days",
            (1..=36_500).contains(&self.retention.raw_days),
            "must be between 1 and 36500",
        )?;
        range(
            "retention.interval_s",
            (10..=86_400).contains(&self.retention.interval_s),
            "must be between 10 and 86400",
        )?;
        if let Some(url) = &self.store.url {
            check_store_url(url)?;
        }
        range(
            "cluster.lease_s",
            (3..=300).contains(&self.cluster.lease_s),
            "must be between 3 and 300",
        )?;
        range(
            "store.cache_mb",
            (8..=65_536).contains(&self.store.cache_mb),
            "must be between 8 and 65536",
        )?;
        range(
            "health.check_interval_s",
            (1..=3600).contains(&self.health.check_interval_s),
            "must be between 1 and 3600",
        )?;
        range(
            "notifications.max_attempts",
            (1..=100).contains(&self.notifications.max_attempts),
            "must be between 1 and 100",
        )?;
        range(
            "notifications.first_retry_ms",
            (10..=3_600_000).contains(&self.notifications.first_retry_ms)
                && self.notifications.first_retry_ms <= self.notifications.max_retry_ms,
            "must be between 10 and 3600000, and at most notifications.max_retry_ms",
        )?;
        range(
            "auth.session_hours",
            (1..=8_760).contains(&self.auth.session_hours),
            "must be between 1 and 8760 (a year)",
        )?;
        range(
            "auth.login_attempts",
            (1..=1_000).contains(&self.auth.login_attempts),
            "must be between 1 and 1000",
        )?;
        range(
            "auth.login_window_s",
            (1..=86_400).contains(&self.auth.login_window_s),
            "must be between 1 and 86400",
        )?;
        range(
            "websocket.ping_s",
            (1..=3_600).contains(&self.websocket.ping_s),
            "must be between 1 and 3600",
        )?;
        range(
            "websocket.timeout_s",
            self.websocket.timeout_s > self.websocket.ping_s && self.websocket.timeout_s <= 86_400,
            "must be more than websocket.ping_s and at most 86400",
        )?;
        range(
            "websocket.outbox",
            (16..=1_048_576).contains(&self.websocket.outbox),
            "must be between 16 and 1048576",
        )?;
        self.smtp
            .validate()
            .map_err(|(key, detail)| ConfigError::OutOfRange { key, detail })?;
        if let Some(token) = &self.admin_token {
            use secrecy::ExposeSecret;
            let t = token.expose_secret();
            range(
                "admin_token",
                t.len() >= 16 && t.len() <= 256 && t.chars().all(|c| c.is_ascii_graphic()),
                "WATCHFIRE_ADMIN_TOKEN must be 16 to 256 printable characters without spaces",
            )?;
        }
        Ok(())
    }
}
