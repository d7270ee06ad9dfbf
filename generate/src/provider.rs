//! The provider abstraction: create a prediction, read it back, cancel it, download an output.
//! [`wait`] polls any provider with backoff until the prediction is terminal or a deadline
//! passes. Every HTTP try a provider makes is appended to a [`TryLog`] so that the generation
//! trace shows retries, waits and failures.

use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::error::ProviderError;

/// A prediction's status as the host reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Starting,
    Processing,
    Succeeded,
    Failed,
    Canceled,
}

impl Status {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "starting" => Self::Starting,
            "processing" => Self::Processing,
            "succeeded" => Self::Succeeded,
            "failed" => Self::Failed,
            "canceled" | "cancelled" => Self::Canceled,
            _ => return None,
        })
    }
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Processing => "processing",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Canceled => "canceled",
        }
    }
    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Canceled)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Prediction {
    pub id: String,
    pub status: Status,
    /// Output URLs (a single string or a list in the reply; other shapes are ignored).
    pub outputs: Vec<String>,
    pub error: Option<String>,
    /// `metrics.predict_time`, seconds.
    pub predict_time: Option<f64>,
    /// The exact model/version the host ran, if it said.
    pub version: Option<String>,
}

/// One HTTP try, as kept in the trace.
#[derive(Debug, Clone, Serialize)]
pub struct HttpTry {
    /// `create`, `poll`, `cancel`, `download`.
    pub op: &'static str,
    /// Prediction id, model or output URL.
    pub target: String,
    pub at: String,
    pub elapsed_ms: u64,
    /// HTTP status, when a reply came.
    pub status: Option<u16>,
    /// What went wrong (none for a success).
    pub error: Option<String>,
    /// Wait before the next try, when one follows.
    pub retry_in_ms: Option<u64>,
}

/// The tries of one attempt. Successful polls are only counted, not listed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TryLog {
    pub tries: Vec<HttpTry>,
    pub polls: u32,
}

/// Cancellation flag the providers check between tries (set on Ctrl-C).
pub type CancelFlag = std::sync::Arc<std::sync::atomic::AtomicBool>;

pub fn is_cancelled(flag: &CancelFlag) -> bool {
    flag.load(std::sync::atomic::Ordering::SeqCst)
}

#[allow(async_fn_in_trait)]
pub trait Provider {
    /// A short name for the trace (`replicate`).
    fn name(&self) -> &'static str;
    /// Starts a prediction of `model` (`owner/name` or `owner/name:version`).
    async fn create(
        &self,
        model: &str,
        input: &serde_json::Value,
        log: &mut TryLog,
    ) -> Result<Prediction, ProviderError>;
    async fn get(&self, id: &str, log: &mut TryLog) -> Result<Prediction, ProviderError>;
    async fn cancel(&self, id: &str, log: &mut TryLog) -> Result<(), ProviderError>;
    /// Downloads `url` to `dest` (atomically: a partial file never has the final name);
    /// returns the byte count.
    async fn download(
        &self,
        url: &str,
        dest: &Path,
        log: &mut TryLog,
    ) -> Result<u64, ProviderError>;
}

/// How long to wait for a prediction and how often to look.
#[derive(Debug, Clone, Copy)]
pub struct WaitOptions {
    pub timeout: Duration,
    pub poll_first: Duration,
    pub poll_max: Duration,
}

impl Default for WaitOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(900),
            poll_first: Duration::from_millis(1000),
            poll_max: Duration::from_secs(10),
        }
    }
}

/// Polls until terminal. On timeout or Ctrl-C the prediction is cancelled (best effort) and
/// the error says so.
pub async fn wait<P: Provider>(
    provider: &P,
    mut pred: Prediction,
    opts: WaitOptions,
    cancel: &CancelFlag,
    log: &mut TryLog,
) -> Result<Prediction, ProviderError> {
    let start = Instant::now();
    let mut interval = opts.poll_first;
    while !pred.status.is_terminal() {
        if is_cancelled(cancel) {
            let _ = provider.cancel(&pred.id, log).await;
            return Err(ProviderError::Interrupted);
        }
        if start.elapsed() >= opts.timeout {
            let _ = provider.cancel(&pred.id, log).await;
            return Err(ProviderError::Timeout {
                id: pred.id.clone(),
                status: pred.status.as_str().into(),
                seconds: start.elapsed().as_secs_f64(),
            });
        }
        let left = opts.timeout.saturating_sub(start.elapsed());
        sleep_cancellable(interval.min(left), cancel).await;
        interval = (interval.mul_f64(1.5)).min(opts.poll_max);
        if is_cancelled(cancel) {
            continue;
        }
        pred = provider.get(&pred.id, log).await?;
    }
    Ok(pred)
}

/// Sleeps in short steps so that Ctrl-C is noticed quickly.
pub async fn sleep_cancellable(d: Duration, cancel: &CancelFlag) {
    let end = Instant::now() + d;
    while Instant::now() < end {
        if is_cancelled(cancel) {
            return;
        }
        let step = (end - Instant::now()).min(Duration::from_millis(100));
        tokio::time::sleep(step).await;
    }
}
