//! SIGINT and SIGTERM, on which `watchfire serve` and `watchfire agent` stop gracefully.

use tokio::signal::unix::{signal, Signal, SignalKind};

/// SIGINT and SIGTERM handlers, installed before the work they stop starts.
pub struct Signals {
    term: Signal,
    int: Signal,
}

impl Signals {
    /// Installs both handlers (on the current tokio runtime).
    pub fn install() -> std::io::Result<Signals> {
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    /// Resolves on SIGINT or SIGTERM with the signal's name.
    pub async fn wait(mut self) -> String {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM".to_owned(),
            _ = self.int.recv() => "SIGINT".to_owned(),
        }
    }
}
