//! The HTTP edge: routes, authentication, and the mapping of typed errors to
//! `application/problem+json`. Only this module knows the API's JSON field names.

mod alerts;
mod audit;
mod auth;
mod compat;
mod connection;
pub mod exposition;
pub mod forward;
mod hosts;
mod monitors;
mod openapi;
mod ops;
mod params;
mod problem;
mod site;
pub(crate) mod status_pages;
mod users;
pub mod views;
pub mod ws;

use std::sync::Arc;

use actix_web::web;

pub use audit::event_json;
pub use auth::hash_token;
pub use connection::ProblemStream;
pub use ops::{HttpMetrics, WsMetrics};
pub use problem::{answered, Problem};

use crate::actors::alert::{AlertHandles, NotifierRegistry};
use crate::actors::host::HostRegistry;
use crate::actors::monitor::MonitorRegistry;
use crate::actors::ReadinessProbe;
use crate::config::Settings;
use crate::events::EventStore;
use crate::projections::{
    Alerting, Dashboard, HostRollups, Hosts, LagSource, Monitors, ProjectionHandle, StatusPages,
    Tokens,
};

/// What every handler may use.
pub struct AppState {
    /// The log.
    pub store: EventStore,
    /// Where handlers read the time their decisions depend on.
    pub clock: crate::clock::SharedClock,
    /// Tokens, for authentication.
    pub tokens: ProjectionHandle<Tokens>,
    /// Readiness.
    pub probe: ReadinessProbe,
    /// Monitors as the read side sees them.
    pub monitors: ProjectionHandle<Monitors>,
    /// The monitor actors, for commands and heartbeats.
    pub monitor_registry: MonitorRegistry,
    /// Hosts as the read side sees them.
    pub hosts: ProjectionHandle<Hosts>,
    /// The host actors, for pushes and commands.
    pub host_registry: HostRegistry,
    /// Host metric rollups, for series.
    pub host_rollups: HostRollups,
    /// Rules, alerts, silences and channels as the read side sees them.
    pub alerting: ProjectionHandle<Alerting>,
    /// Open alerts' actors, for acknowledgements.
    pub alert_handles: AlertHandles,
    /// Channel actors, for new channels and test sends.
    pub notifiers: NotifierRegistry,
    /// Projections, for lag figures.
    pub projections: Vec<Arc<dyn LagSource>>,
    /// Prometheus figures.
    pub registry: prometheus::Registry,
    /// The dashboard view, live.
    pub dashboard: ProjectionHandle<Dashboard>,
    /// The WebSocket sessions' figures, for the session code to keep.
    pub ws_metrics: WsMetrics,
    /// The live feed every WebSocket session follows.
    pub ws_hub: ws::Hub,
    /// The settings the server runs with.
    pub settings: Arc<Settings>,
    /// This node's view of its cluster, where the log is shared by several nodes.
    pub cluster: Option<crate::cluster::ClusterView>,
    /// Sends commands for things other nodes own to them (on a cluster).
    pub forwarder: Option<forward::Forwarder>,
    /// Status pages, their incidents and maintenance.
    pub status_pages: ProjectionHandle<StatusPages>,
}

/// Adds every route to an actix-web app.
pub fn configure(state: web::Data<AppState>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        std::sync::LazyLock::force(&ws::seed004::STARTED);
        cfg.app_data(state)
            .app_data(
                web::JsonConfig::default()
                    .limit(1024 * 1024)
                    .error_handler(problem::json_error),
            )
            .route("/", web::get().to(site::index))
            .route("/favicon.svg", web::get().to(site::favicon))
            .route("/assets/{file}", web::get().to(site::asset))
            .route("/health", web::get().to(ops::health))
            .route("/health/ready", web::get().to(ops::ready))
            .route("/metrics", web::get().to(ops::metrics))
            .route("/ws", web::get().to(ws::connect))
            .route("/status/{slug}", web::get().to(status_pages::public_page))
            .service(
                web::scope("/api/v1")
                    .route("/openapi.json", web::get().to(openapi::serve))
                    .route("/cluster", web::get().to(ops::cluster))
                    .route("/monitors", web::post().to(monitors::create))
                    .route("/monitors", web::get().to(monitors::list))
                    .route("/monitors/{id}", web::get().to(monitors::get))
                    .route("/monitors/{id}", web::patch().to(monitors::patch))
                    .route("/monitors/{id}", web::delete().to(monitors::delete))
                    .route("/monitors/{id}/pause", web::post().to(monitors::pause))
                    .route("/monitors/{id}/resume", web::post().to(monitors::resume))
                    .route("/monitors/{id}/checks", web::get().to(monitors::checks))
                    .route("/monitors/{id}/series", web::get().to(monitors::series))
                    .route("/hosts", web::post().to(hosts::create))
                    .route("/hosts", web::get().to(hosts::list))
                    .route("/hosts/{hostname}", web::get().to(hosts::get))
                    .route("/hosts/{hostname}", web::delete().to(hosts::delete))
                    .route("/hosts/{hostname}/metrics", web::post().to(hosts::push))
                    .route("/hosts/{hostname}/series", web::get().to(hosts::series))
                    .route("/alert-rules", web::post().to(alerts::create_rule))
                    .route("/alert-rules", web::get().to(alerts::list_rules))
                    .route("/alert-rules/{id}", web::get().to(alerts::get_rule))
                    .route("/alert-rules/{id}", web::patch().to(alerts::patch_rule))
                    .route("/alert-rules/{id}", web::delete().to(alerts::delete_rule))
                    .route("/metrics/current", web::get().to(compat::metrics_current))
                    .route("/metrics/history", web::get().to(compat::metrics_history))
                    .route("/alerts", web::get().to(alerts::list_alerts))
                    .route("/alerts/active", web::get().to(compat::alerts_active))
                    .route("/alerts/history", web::get().to(compat::alerts_history))
                    .route("/alerts/{id}", web::get().to(alerts::get_alert))
                    .route("/alerts/{id}/ack", web::post().to(alerts::ack_alert))
                    .route("/silences", web::post().to(alerts::create_silence))
                    .route("/silences", web::get().to(alerts::list_silences))
                    .route("/silences/{id}", web::delete().to(alerts::delete_silence))
                    .route("/channels", web::post().to(alerts::create_channel))
                    .route("/channels", web::get().to(alerts::list_channels))
                    .route("/channels/{id}", web::patch().to(alerts::patch_channel))
                    .route("/channels/{id}", web::delete().to(alerts::delete_channel))
                    .route("/channels/{id}/test", web::post().to(alerts::test_channel))
                    .route("/login", web::post().to(users::login))
                    .route("/logout", web::post().to(users::logout))
                    .route("/me", web::get().to(users::me))
                    .route("/users", web::post().to(users::create_user))
                    .route("/users", web::get().to(users::list_users))
                    .route("/users/{name}", web::patch().to(users::patch_user))
                    .route("/users/{name}", web::delete().to(users::delete_user))
                    .route("/tokens", web::post().to(users::create_token))
                    .route("/tokens", web::get().to(users::list_tokens))
                    .route("/tokens/{id}", web::delete().to(users::revoke_token))
                    .route("/status-pages", web::post().to(status_pages::create))
                    .route("/status-pages", web::get().to(status_pages::list))
                    .route("/status-pages/{slug}", web::get().to(status_pages::get))
                    .route("/status-pages/{slug}", web::patch().to(status_pages::patch))
                    .route(
                        "/status-pages/{slug}",
                        web::delete().to(status_pages::delete),
                    )
                    .route(
                        "/status-pages/{slug}/incidents",
                        web::post().to(status_pages::open_incident),
                    )
                    .route(
                        "/status-pages/{slug}/incidents/{id}/updates",
                        web::post().to(status_pages::update_incident),
                    )
                    .route(
                        "/status-pages/{slug}/maintenance",
                        web::post().to(status_pages::schedule_maintenance),
                    )
                    .route(
                        "/status-pages/{slug}/incidents/{id}",
                        web::patch().to(status_pages::edit_incident),
                    )
                    .route(
                        "/status-pages/{slug}/maintenance/{id}",
                        web::patch().to(status_pages::edit_maintenance),
                    )
                    .route(
                        "/status-pages/{slug}/maintenance/{id}",
                        web::delete().to(status_pages::cancel_maintenance),
                    )
                    .route("/status/{slug}", web::get().to(status_pages::public_json))
                    .route("/dashboard", web::get().to(audit::dashboard))
                    .route("/events", web::get().to(audit::events))
                    .route("/audit/state", web::get().to(audit::state_at))
                    .route("/audit/verify", web::get().to(audit::verify))
                    .route("/push/{token}", web::get().to(monitors::push))
                    .route("/push/{token}", web::post().to(monitors::push)),
            )
            .route("/api/metrics", web::post().to(hosts::push_compat))
            .route(
                "/api/badge/{id}/status",
                web::get().to(status_pages::badge_status),
            )
            .route(
                "/api/badge/{id}/uptime",
                web::get().to(status_pages::badge_uptime),
            )
            .route(
                "/api/badge/{id}/uptime/{duration}",
                web::get().to(status_pages::badge_uptime),
            )
            .route(
                "/api/badge/{id}/ping",
                web::get().to(status_pages::badge_ping),
            )
            .route(
                "/api/badge/{id}/ping/{duration}",
                web::get().to(status_pages::badge_ping),
            )
            .route(
                "/api/badge/{id}/avg-response/{duration}",
                web::get().to(status_pages::badge_avg_response),
            )
            .route(
                "/api/badge/{id}/response",
                web::get().to(status_pages::badge_response),
            )
            .route(
                "/api/badge/{id}/cert-exp",
                web::get().to(status_pages::badge_cert_exp),
            )
            .route("/api/health", web::get().to(compat::health))
            .route("/api/servers", web::get().to(compat::servers))
            .route(
                "/api/servers/{hostname}/latest",
                web::get().to(compat::latest),
            )
            .route(
                "/api/servers/{hostname}/history",
                web::get().to(compat::history),
            )
            .route(
                "/api/servers/{hostname}/disks",
                web::get().to(compat::disks),
            )
            .route(
                "/api/servers/{hostname}/network",
                web::get().to(compat::network),
            )
            .route("/api/push/{token}", web::get().to(monitors::push))
            .route("/api/push/{token}", web::post().to(monitors::push))
            .default_service(web::to(ops::not_found));
    }
}
