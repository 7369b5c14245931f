//! `watchfire serve`: opens the log, bootstraps a new data directory, starts the
//! projections, the system actors, the log socket and the HTTP server, and stops them in
//! order when told to.

use std::future::Future;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix::Actor;
use actix_http::error::DispatchError;
use actix_http::HttpService;
use actix_service::{fn_service, map_config, ServiceFactoryExt};
use actix_web::dev::{AppConfig, Extensions};
use actix_web::{web, App};
use secrecy::ExposeSecret;
use uuid::Uuid;

use crate::actors::alert::{
    AlertDeps, AlertEvaluator, AlertHandles, EvaluatorDeps, NotifierDeps, NotifierRegistry,
    RuleDuty,
};
use crate::actors::host::{HostDeps, HostMetrics, HostRegistry};
use crate::actors::monitor::checks::{CheckError, Checker};
use crate::actors::monitor::{MonitorDeps, MonitorMetrics, MonitorRegistry};
use crate::actors::{HealthChecker, ReadinessProbe, RetentionActor};
use crate::clock::SharedClock;
use crate::command::Cause;
use crate::config::Settings;
use crate::events::{
    self, Actor as EventActor, DataDir, DataDirError, Event, EventStore, ExpectedVersion, NewEvent,
    Role, ServerStarted, ServerStopped, StoreError, StoreOptions, StreamId, SystemInitialized,
};
use crate::http::{self, AppState};
use crate::notify::Notifier;
use crate::projections::{
    Alerting, Dashboard, HostRollups, Hosts, LagSource, Monitors, ProjectionHandle, StatusPages,
    Tokens,
};

/// The version of this build.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// This node cannot take part in its cluster.
    #[error("cluster: {0}")]
    Cluster(String),
    /// The data directory is unusable.
    #[error(transparent)]
    DataDir(#[from] DataDirError),
    /// The log could not be opened or written.
    #[error("event log: {0}")]
    Store(#[from] StoreError),
    /// The HTTP server failed.
    #[error("http server: {0}")]
    Http(#[from] std::io::Error),
    /// Prometheus refused a metric.
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// The notification clients could not be built.
    #[error("notifications: {0}")]
    Notify(#[from] crate::notify::NotifierError),
    /// The HTTP clients or resolver for checks could not be built.
    #[error("checks: {0}")]
    Checks(#[from] CheckError),
    /// The first start could not record the admin token.
    #[error("admin token: {0}")]
    AdminToken(#[from] crate::command::CommandError),
}

/// Serves until `shutdown` resolves (with the reason recorded in the log), then stops cleanly.
///
/// Must run inside an actix system; `listener` is already bound so tests can use port 0.
/// Once the HTTP server listens, its address is in `<data_dir>/listen.addr` until it stops.
pub async fn run(
    listener: TcpListener,
    settings: Settings,
    shutdown: impl Future<Output = String> + 'static,
) -> Result<(), ServeError> {
    run_with_clock(listener, settings, crate::clock::system(), shutdown).await
}

/// [`run`] with the time read from `clock` (a `ManualClock` in tests) wherever a decision
/// depends on it: event timestamps, token and session expiry, retention's cutoff.
pub async fn run_with_clock(
    listener: TcpListener,
    settings: Settings,
    clock: SharedClock,
    shutdown: impl Future<Output = String> + 'static,
) -> Result<(), ServeError> {
    let data_dir = DataDir::create_or_open(&settings.data_dir)?;
    let dir_path = data_dir.path().to_owned();
    let options = StoreOptions {
        cache_capacity_bytes: settings.store.cache_mb * 1024 * 1024,
        clock: clock.clone(),
        ..StoreOptions::default()
    };
    let store = match &settings.store.url {
        Some(url) => EventStore::open_postgres(url, Some(data_dir), options)?,
        None => EventStore::open(data_dir, options)?,
    };
    // An address left by an earlier start (a crash) must not be read as this one's.
    DataDir::remove_listen_addr(&dir_path)?;
    bootstrap(&store, &settings, clock.now()).await?;
    let listen = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    store
        .append(
            StreamId::system(),
            ExpectedVersion::Any,
            vec![NewEvent::new(
                Event::ServerStarted(ServerStarted {
                    server_version: VERSION.to_owned(),
                    listen: listen.clone(),
                }),
                EventActor::system(),
            )],
        )
        .await?;

    let tokens = ProjectionHandle::<Tokens>::start(store.clone())?;
    let monitors = ProjectionHandle::<Monitors>::start(store.clone())?;
    let hosts = ProjectionHandle::<Hosts>::start(store.clone())?;
    let alerting = ProjectionHandle::<Alerting>::start(store.clone())?;
    let status_pages = ProjectionHandle::<StatusPages>::start(store.clone())?;
    let dashboard = ProjectionHandle::<Dashboard>::start(store.clone())?;
    let host_rollups = HostRollups::start(store.clone())?;
    // Serving before the read models hold the log would answer with stale auth and state,
    // and monitor actors rehydrate from their read model.
    let start_position = store.durable_position();
    tokens.caught_up(start_position).await;
    monitors.caught_up(start_position).await;
    hosts.caught_up(start_position).await;
    alerting.caught_up(start_position).await;
    status_pages.caught_up(start_position).await;
    dashboard.caught_up(start_position).await;
    let projections: Vec<Arc<dyn LagSource>> = vec![
        Arc::new(tokens.clone()),
        Arc::new(monitors.clone()),
        Arc::new(hosts.clone()),
        Arc::new(alerting.clone()),
        Arc::new(status_pages.clone()),
        Arc::new(host_rollups.clone()),
        Arc::new(dashboard.clone()),
    ];
    let monitor_metrics = MonitorMetrics::new();
    // On a shared log, this node is one of several: it runs only what it holds leases on.
    let membership = store.membership();
    let node_id = match membership {
        Some(_) => Some(crate::cluster::node_id(&dir_path).map_err(|e| {
            ServeError::Cluster(format!(
                "cannot keep the node id in {}: {e}",
                dir_path.display()
            ))
        })?),
        None => None,
    };
    let monitor_deps = MonitorDeps {
        store: store.clone(),
        checker: Checker::new()?,
        monitors: monitors.clone(),
        metrics: monitor_metrics.clone(),
        panic_on: std::env::var("WATCHFIRE_TEST_PANIC_MONITOR")
            .ok()
            .filter(|v| !v.is_empty())
            .map(Into::into),
        recorder: node_id.map_or_else(EventActor::system, |id| EventActor(format!("node:{id}"))),
    };
    let monitor_registry = match node_id {
        Some(_) => MonitorRegistry::start_clustered(monitor_deps),
        None => MonitorRegistry::start(monitor_deps),
    };
    let host_metrics = HostMetrics::new();
    let host_deps = HostDeps {
        store: store.clone(),
        hosts: hosts.clone(),
        client: scrape_client()?,
        metrics: host_metrics.clone(),
    };
    let host_registry = match (node_id, &membership) {
        (Some(node), Some(membership)) => HostRegistry::start_clustered(
            host_deps,
            crate::actors::host::Claim {
                node,
                lease: Duration::from_secs(settings.cluster.lease_s),
                membership: membership.clone(),
            },
        ),
        _ => HostRegistry::start(host_deps),
    };
    let link_base: Arc<str> = settings
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{listen}"))
        .into();
    // On a cluster, each rule's alerts run on the node holding the rule's lease and each
    // channel on the node holding the channel's; both append under their lease.
    let notifier_deps = NotifierDeps {
        store: store.clone(),
        notifier: Notifier::new(settings.smtp.clone())?,
        retry: settings.notifications.clone(),
    };
    let notifiers = match node_id {
        Some(_) => {
            let notifiers = NotifierRegistry::clustered(
                notifier_deps,
                link_base,
                actix::Arbiter::current(),
                alerting.clone(),
            );
            notifiers.follow(store.clone(), start_position);
            notifiers
        }
        None => NotifierRegistry::start(notifier_deps, &alerting, link_base),
    };
    let alert_handles = AlertHandles::default();
    let evaluator_deps = EvaluatorDeps {
        alert: AlertDeps {
            store: store.clone(),
            alerting: alerting.clone(),
            notifiers: notifiers.clone(),
        },
        monitors: monitors.clone(),
        hosts: hosts.clone(),
        handles: alert_handles.clone(),
    };
    let evaluator = match node_id {
        Some(_) => AlertEvaluator::clustered(evaluator_deps, start_position).start(),
        None => AlertEvaluator::new(evaluator_deps, start_position).start(),
    };
    let probe = ReadinessProbe::new(
        store.clone(),
        dir_path.clone(),
        settings.health.min_free_mb * 1024 * 1024,
        projections.clone(),
    );
    let health = HealthChecker::new(
        probe.clone(),
        Duration::from_secs(settings.health.check_interval_s),
    )
    .start();
    let retention = RetentionActor::new(
        store.clone(),
        settings.retention.raw_days,
        Duration::from_secs(settings.retention.interval_s),
        clock.clone(),
    )
    .start();

    // A token made through the log socket is decided as one made over HTTP, and answered
    // once authentication sees it.
    let (socket_tokens, token_store) = (tokens.clone(), store.clone());
    let token_clock = clock.clone();
    let issue_token: events::remote::TokenIssuer = Arc::new(move |name, role| {
        let (tokens, store) = (socket_tokens.clone(), token_store.clone());
        let now = token_clock.now();
        Box::pin(async move {
            let request = crate::command::TokenRequest {
                name,
                role,
                expires_at: None,
                value: None,
            };
            let created = crate::command::create_token(
                &store,
                request,
                now,
                &Cause::by(EventActor::system()),
            )
            .await
            .map_err(|e| e.to_string())?;
            created.answer.visible_in(tokens.progress()).await;
            Ok(events::remote::CreatedToken {
                token_id: created.id,
                value: created.value,
            })
        })
    });

    let node = match (node_id, membership) {
        (Some(id), Some(membership)) => {
            let addr = settings
                .cluster
                .advertise
                .clone()
                .unwrap_or_else(|| listen.clone());
            let mut node = crate::cluster::Node::new(
                id,
                addr,
                Duration::from_secs(settings.cluster.lease_s),
                membership,
                store.leases().clone(),
            );
            node.owns(Arc::new(monitor_registry.clone()));
            node.owns(Arc::new(host_registry.clone()));
            node.owns(Arc::new(RuleDuty::new(evaluator.clone(), alerting.clone())));
            node.owns(Arc::new(notifiers.clone()));
            Some(node)
        }
        _ => None,
    };
    let cluster_view = node.as_ref().map(crate::cluster::Node::view);

    let registry = prometheus::Registry::new();
    store.metrics().register(&registry)?;
    monitor_metrics.register(&registry)?;
    host_metrics.register(&registry)?;
    let ws_metrics = http::WsMetrics::new()?;
    ws_metrics.register(&registry)?;
    let ws_stall_limit = Duration::from_secs(settings.websocket.timeout_s);
    let ws_hub = http::ws::Hub::start(
        store.clone(),
        &dashboard,
        status_pages.clone(),
        settings.websocket.outbox,
        ws_metrics.outbox_drops.clone(),
    );
    let http_metrics = http::HttpMetrics::new()?;
    http_metrics.register(&registry)?;
    let state = web::Data::new(AppState {
        store: store.clone(),
        clock,
        tokens,
        probe,
        monitors,
        monitor_registry: monitor_registry.clone(),
        hosts,
        host_registry: host_registry.clone(),
        host_rollups: host_rollups.clone(),
        alerting,
        alert_handles,
        notifiers,
        projections,
        registry,
        dashboard,
        ws_metrics,
        ws_hub,
        status_pages,
        settings: Arc::new(settings),
        forwarder: match &cluster_view {
            Some(_) => Some(http::forward::Forwarder::new().map_err(|e| {
                ServeError::Cluster(format!("cannot build the forwarding client: {e}"))
            })?),
            None => None,
        },
        cluster: cluster_view,
    });
    let socket_listener = events::remote::bind_socket(&dir_path);
    // The listener is bound already: a client that reads the address and connects at once
    // waits in its backlog until the workers accept.
    DataDir::write_listen_addr(&dir_path, &listen)?;
    // Served through actix-http directly rather than `HttpServer`, so that every connection
    // is a `ProblemStream`: the errors the dispatcher answers itself are problem+json too.
    let stall_limit = http::ws::drop_stalled_connections(ws_stall_limit);
    let stall_limit = Arc::new(stall_limit);
    let server = actix_web::dev::Server::build()
        .workers(2)
        .disable_signals()
        .shutdown_timeout(10)
        .listen("watchfire", listener, move || {
            let app = App::new()
                .wrap(actix_web::middleware::from_fn(http::forward::to_owner))
                .wrap(http_metrics.clone())
                .configure(http::configure(state.clone()));
            let stall_limit = stall_limit.clone();
            fn_service(move |stream: actix_web::rt::net::TcpStream| {
                stall_limit(&stream as &dyn std::any::Any, &mut Extensions::new());
                let peer = stream.peer_addr().ok();
                async move { Ok::<_, DispatchError>((http::ProblemStream::new(stream), peer)) }
            })
            .and_then(
                HttpService::build()
                    .keep_alive(Duration::from_secs(5))
                    .client_request_timeout(Duration::from_secs(5))
                    .client_disconnect_timeout(Duration::from_secs(1))
                    .h1(map_config(app, |_| AppConfig::default())),
            )
        })?
        .run();
    let handle = server.handle();

    let (socket_stop, socket_stopped) = tokio::sync::oneshot::channel::<()>();
    let socket_store = store.clone();
    let socket = tokio::spawn(async move {
        let stop = async {
            let _ = socket_stopped.await;
        };
        let served = match socket_listener {
            Ok((listener, path)) => {
                events::remote::serve_socket(socket_store, listener, path, issue_token, stop).await
            }
            Err(e) => Err(e),
        };
        if let Err(e) = served {
            tracing::warn!(error = %e, "log socket unavailable: replay and verify need the server stopped");
        }
    });

    let (reason_tx, reason_rx) = tokio::sync::oneshot::channel::<String>();
    actix_rt::spawn(async move {
        let reason = shutdown.await;
        tracing::info!(%reason, "stopping");
        let _ = reason_tx.send(reason);
        handle.stop(true).await;
    });
    let (node_stop, node_stopped) = tokio::sync::oneshot::channel::<()>();
    let node_task = node.map(|node| {
        tracing::info!(node = %node.view().node(), "joining the cluster on the shared log");
        actix_rt::spawn(node.run(async {
            let _ = node_stopped.await;
        }))
    });
    tracing::info!(listen = %listen, data_dir = %dir_path.display(), "watchfire is serving");
    let served = server.await;
    // Leaving first gives this node's monitors to the others at once, not after a lease.
    let _ = node_stop.send(());
    if let Some(task) = node_task {
        let _ = task.await;
    }
    if let Err(e) = DataDir::remove_listen_addr(&dir_path) {
        tracing::warn!(error = %e, "cannot remove the listen address file");
    }

    // The actors stop with the actix system; dropping their addresses lets them go sooner.
    drop((health, retention, evaluator));
    monitor_registry.stop();
    host_registry.stop();
    let _ = socket_stop.send(());
    let _ = socket.await;
    let reason = reason_rx
        .await
        .unwrap_or_else(|_| "http server stopped".to_owned());
    let stopped = store
        .append(
            StreamId::system(),
            ExpectedVersion::Any,
            vec![NewEvent::new(
                Event::ServerStopped(ServerStopped { reason }),
                EventActor::system(),
            )],
        )
        .await;
    if let Err(e) = stopped {
        tracing::warn!(error = %e, "cannot record the stop");
    }
    if let Err(e) = host_rollups.stop().await {
        tracing::warn!(error = %e, "cannot save the host rollups");
    }
    store.close().await;
    served?;
    Ok(())
}

/// The HTTP client that scrapes node_exporters.
fn scrape_client() -> Result<reqwest::Client, ServeError> {
    reqwest::Client::builder()
        .user_agent(concat!("watchfire/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| ServeError::Checks(CheckError::HttpClient(e)))
}

/// On a new data directory: records its creation and the admin token.
async fn bootstrap(
    store: &EventStore,
    settings: &Settings,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), ServeError> {
    let system = StreamId::system();
    let check = store.clone();
    let existing = tokio::task::spawn_blocking(move || check.stream_version(&StreamId::system()))
        .await
        .map_err(|e| StoreError::Storage(e.to_string()))??;
    if existing.is_some() {
        return Ok(());
    }
    let correlation = Uuid::new_v4();
    let initialized = NewEvent::new(
        Event::SystemInitialized(SystemInitialized {
            server_version: VERSION.to_owned(),
        }),
        EventActor::system(),
    )
    .correlated(correlation);
    let outcome = match store
        .append(system, ExpectedVersion::NoStream, vec![initialized])
        .await
    {
        Ok(o) => o,
        // Another start raced us to it: that one bootstraps.
        Err(StoreError::Conflict { .. }) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let printed = settings.admin_token.is_none();
    let admin = crate::command::TokenRequest {
        name: "admin".to_owned(),
        role: Role::Admin,
        expires_at: None,
        value: settings
            .admin_token
            .as_ref()
            .map(|t| t.expose_secret().to_owned()),
    };
    let cause = crate::command::Cause {
        actor: EventActor::system(),
        correlation: Some(correlation),
        causation: Some(outcome.last_position),
    };
    let created = crate::command::create_token(store, admin, now, &cause).await?;
    let value = created.value;
    if printed {
        // Printed once, never logged: the log keeps only its hash.
        eprintln!(
            "watchfire: created the admin token (shown once, keep it safe):\n\n    {value}\n"
        );
    }
    Ok(())
}
