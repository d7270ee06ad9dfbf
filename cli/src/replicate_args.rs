//! The Replicate options the generation tools share (`generate-videos`, `generate-images`,
//! `create-storyboard`, `feedback-loop`): one flag set, one validation, one client set-up.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use vbench_generate::attempt::AttemptOptions;
use vbench_generate::provider::WaitOptions;
use vbench_generate::replicate::{self, Replicate, ReplicateConfig, Token};

use crate::console::secs;

/// Longest pause between two polls of a running prediction.
const POLL_MAX: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Args)]
pub struct ReplicateArgs {
    /// API base URL (default https://api.replicate.com; also REPLICATE_API_BASE).
    #[arg(long, value_name = "URL")]
    pub api_base: Option<String>,
    /// First polling interval in seconds (grows 1.5x up to 10 s).
    #[arg(long, default_value_t = 1.0, value_name = "SECS")]
    pub poll_interval: f64,
    /// Predictions per model before falling back to the next one.
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub tries_per_model: u32,
    /// HTTP retries per request (429, 5xx, network errors).
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub max_retries: u32,
    /// First retry wait in milliseconds (doubles, jittered, capped at 60 s).
    #[arg(long, default_value_t = 1000, value_name = "MS")]
    pub retry_base_ms: u64,
    /// Seconds for `Prefer: wait` (0 = do not ask the API to hold the request).
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    pub prefer_wait: u32,
    /// Per-request timeout in seconds.
    #[arg(long, default_value_t = 120.0, value_name = "SECS")]
    pub request_timeout: f64,
    /// Tries again after a truncated or failed download.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub download_retries: u32,
}

impl ReplicateArgs {
    /// The API base (flag, `REPLICATE_API_BASE`, `./.env`, default) and the client, checked.
    pub fn client(
        &self,
        cwd: &Path,
        token: Token,
        show_progress: bool,
        cancel: Arc<AtomicBool>,
    ) -> anyhow::Result<(String, Replicate)> {
        let api_base = replicate::resolve_api_base(self.api_base.as_deref(), cwd)?;
        let mut cfg = ReplicateConfig::new(api_base.clone(), token);
        cfg.request_timeout = secs(self.request_timeout, "--request-timeout")?;
        cfg.max_retries = self.max_retries;
        cfg.backoff_base = Duration::from_millis(self.retry_base_ms);
        anyhow::ensure!(
            self.prefer_wait == 0 || f64::from(self.prefer_wait) < self.request_timeout,
            "--prefer-wait ({} s) must be shorter than --request-timeout ({} s)",
            self.prefer_wait,
            self.request_timeout
        );
        cfg.prefer_wait = (self.prefer_wait > 0).then_some(self.prefer_wait);
        cfg.download_retries = self.download_retries;
        cfg.show_progress = show_progress;
        Ok((api_base, Replicate::new(cfg, cancel)?))
    }

    /// How one generation attempt waits and falls back, with the tool's prediction timeout.
    pub fn attempt(&self, prediction_timeout: f64) -> anyhow::Result<AttemptOptions> {
        let poll_first = secs(self.poll_interval, "--poll-interval")?;
        Ok(AttemptOptions {
            wait: WaitOptions {
                timeout: secs(prediction_timeout, "--prediction-timeout")?,
                poll_first,
                poll_max: POLL_MAX.max(poll_first),
            },
            tries_per_model: self.tries_per_model.max(1),
        })
    }

    /// The options as given, for a run's trace.
    pub fn settings(&self, prediction_timeout: f64) -> serde_json::Value {
        serde_json::json!({
            "prediction_timeout_s": prediction_timeout,
            "poll_interval_s": self.poll_interval,
            "tries_per_model": self.tries_per_model,
            "max_retries": self.max_retries,
            "retry_base_ms": self.retry_base_ms,
            "prefer_wait_s": self.prefer_wait,
            "request_timeout_s": self.request_timeout,
            "download_retries": self.download_retries,
        })
    }
}

/// The Replicate token from the environment or `./.env`, with what to do when it is missing.
pub fn token(cwd: &Path) -> anyhow::Result<Token> {
    Token::from_env(cwd).ok_or_else(|| {
        anyhow::anyhow!(
            "no Replicate token: set REPLICATE_API_TOKEN in the environment or in ./.env"
        )
    })
}

/// A flag that turns true on Ctrl-C (after printing `message`); the runs check it between steps
/// and cancel the running prediction.
pub fn cancel_on_ctrl_c(message: &'static str) -> Arc<AtomicBool> {
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\n{message}");
            flag.store(true, Ordering::SeqCst);
        }
    });
    cancel
}

/// Copies `extra`'s keys into the object `settings`.
pub fn merge_settings(settings: &mut serde_json::Value, extra: serde_json::Value) {
    if let (Some(dst), serde_json::Value::Object(src)) = (settings.as_object_mut(), extra) {
        dst.extend(src);
    }
}
