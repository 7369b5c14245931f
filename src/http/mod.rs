//! The HTTP edge: routes, authentication, and the mapping of typed errors to
//! `application/problem+json`. Only this module knows the API's JSON field names.

mod auth;
mod ops;
mod problem;

use std::sync::Arc;

use actix_web::web;

pub use auth::hash_token;
pub use problem::Problem;

use crate::actors::ReadinessProbe;
use crate::config::Settings;
use crate::events::EventStore;
use crate::projections::{LagSource, ProjectionHandle, Tokens};

/// What every handler may use.
pub struct AppState {
    /// The log.
    pub store: EventStore,
    /// Tokens, for authentication.
    pub tokens: ProjectionHandle<Tokens>,
    /// Readiness.
    pub probe: ReadinessProbe,
    /// Projections, for lag figures.
    pub projections: Vec<Arc<dyn LagSource>>,
    /// Prometheus figures.
    pub registry: prometheus::Registry,
    /// The settings the server runs with.
    pub settings: Arc<Settings>,
}

/// Adds every route to an actix-web app.
pub fn configure(state: web::Data<AppState>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(state)
            .app_data(
                web::JsonConfig::default()
                    .limit(1024 * 1024)
                    .error_handler(problem::json_error),
            )
            .route("/health", web::get().to(ops::health))
            .route("/health/ready", web::get().to(ops::ready))
            .route("/metrics", web::get().to(ops::metrics))
            .default_service(web::to(ops::not_found));
    }
}
