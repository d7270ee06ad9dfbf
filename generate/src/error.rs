//! Errors of the provider layer. Messages never contain the API token (see
//! [`crate::replicate::Token`]); response bodies are cut and scrubbed before they are kept.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    #[error("{op} {what}: HTTP {status}: {body}")]
    Http {
        op: &'static str,
        what: String,
        status: u16,
        body: String,
    },
    #[error("{op} {what}: {reason}")]
    Network {
        op: &'static str,
        what: String,
        reason: String,
    },
    #[error("unexpected reply to {op}: {reason}")]
    Protocol { op: &'static str, reason: String },
    #[error("prediction {id} {status}: {reason}")]
    PredictionFailed {
        id: String,
        status: String,
        reason: String,
    },
    #[error("prediction {id} still {status} after {seconds:.1} s (timeout)")]
    Timeout {
        id: String,
        status: String,
        seconds: f64,
    },
    #[error("download {url}: {reason}")]
    Download { url: String, reason: String },
    #[error("cannot write {path}: {reason}")]
    Write { path: PathBuf, reason: String },
    #[error("interrupted (Ctrl-C)")]
    Interrupted,
    #[error("{0}")]
    Config(String),
}
