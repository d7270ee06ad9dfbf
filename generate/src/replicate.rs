//! Replicate's HTTP predictions API with reqwest.
//!
//! * `owner/name` → `POST {base}/v1/models/{owner}/{name}/predictions` with `{"input": …}`;
//!   `owner/name:version` → `POST {base}/v1/predictions` with `{"version": …, "input": …}`.
//!   Both send `Prefer: wait=N` so short predictions come back finished; otherwise
//!   [`crate::provider::wait`] polls `GET {base}/v1/predictions/{id}` with growing intervals.
//! * `POST {base}/v1/predictions/{id}/cancel` on timeout and Ctrl-C.
//! * Retries: 429 (waiting at least `Retry-After`), 5xx, timeouts and connection errors, up to
//!   `max_retries` times with `min(base·2^n, max)·U(0.5, 1)`; other 4xx fail at once.
//! * Downloads stream to `<dest>.part` with a progress bar; the byte count must equal
//!   `Content-Length` when the server sends one (and be non-zero), else the download is tried
//!   again (`download_retries`). The token is sent only to the API's own origin, never to
//!   output hosts.
//!
//! The token ([`Token`]) comes from `REPLICATE_API_TOKEN` or a `.env` file; it has no
//! `Serialize`, its `Debug` prints `***`, and every error body is scrubbed of it.

use std::fmt;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::error::ProviderError;
use crate::provider::{is_cancelled, CancelFlag, HttpTry, Prediction, Provider, Status, TryLog};

pub const DEFAULT_API_BASE: &str = "https://api.replicate.com";
pub const TOKEN_VAR: &str = "REPLICATE_API_TOKEN";
pub const BASE_VAR: &str = "REPLICATE_API_BASE";

/// The API token. Never printed, never serialised.
#[derive(Clone)]
pub struct Token(String);

impl Token {
    pub fn new(s: impl Into<String>) -> Option<Self> {
        let s = s.into().trim().to_string();
        (!s.is_empty()).then_some(Self(s))
    }
    /// `REPLICATE_API_TOKEN` from the environment, else from `<dir>/.env`.
    pub fn from_env(dotenv_dir: &Path) -> Option<Self> {
        std::env::var(TOKEN_VAR)
            .ok()
            .and_then(Self::new)
            .or_else(|| {
                let text = std::fs::read_to_string(dotenv_dir.join(".env")).ok()?;
                vbench_prompt::config::parse_dotenv(&text, TOKEN_VAR).and_then(Self::new)
            })
    }
    fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(***)")
    }
}

/// `--api-base` / `REPLICATE_API_BASE` (also from `.env`) / the default; a trailing `/v1` is
/// accepted and dropped.
pub fn resolve_api_base(flag: Option<&str>, dotenv_dir: &Path) -> Result<String, ProviderError> {
    let from_env = || {
        std::env::var(BASE_VAR)
            .ok()
            .filter(|s| !s.trim().is_empty())
            .or_else(|| {
                let text = std::fs::read_to_string(dotenv_dir.join(".env")).ok()?;
                vbench_prompt::config::parse_dotenv(&text, BASE_VAR)
            })
    };
    let base = flag
        .map(str::to_string)
        .filter(|s| !s.trim().is_empty())
        .or_else(from_env)
        .unwrap_or_else(|| DEFAULT_API_BASE.to_string());
    let base = base.trim().trim_end_matches('/');
    let base = base.strip_suffix("/v1").unwrap_or(base).to_string();
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        return Err(ProviderError::Config(format!(
            "API base {base:?} must start with http:// or https://"
        )));
    }
    Ok(base)
}

#[derive(Debug, Clone)]
pub struct ReplicateConfig {
    pub api_base: String,
    pub token: Token,
    pub request_timeout: Duration,
    pub max_retries: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    pub retry_after_cap: Duration,
    /// `Prefer: wait=N` (1–60 s); `None` sends no header.
    pub prefer_wait: Option<u32>,
    pub download_retries: u32,
    pub show_progress: bool,
}

impl ReplicateConfig {
    pub fn new(api_base: String, token: Token) -> Self {
        Self {
            api_base,
            token,
            request_timeout: Duration::from_secs(120),
            max_retries: 5,
            backoff_base: Duration::from_millis(1000),
            backoff_max: Duration::from_secs(60),
            retry_after_cap: Duration::from_secs(300),
            prefer_wait: Some(60),
            download_retries: 3,
            show_progress: true,
        }
    }
}

pub struct Replicate {
    cfg: ReplicateConfig,
    client: reqwest::Client,
    cancel: CancelFlag,
}

/// Wait before retry `n` (0-based): exponential, capped, jittered by `jitter` ∈ [0, 1), and
/// never shorter than the server's `Retry-After` (capped).
pub fn backoff(
    cfg: &ReplicateConfig,
    n: u32,
    retry_after: Option<Duration>,
    jitter: f64,
) -> Duration {
    let exp = cfg
        .backoff_base
        .saturating_mul(1u32.checked_shl(n.min(20)).unwrap_or(u32::MAX))
        .min(cfg.backoff_max);
    let j = exp.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0));
    match retry_after {
        Some(ra) => ra.min(cfg.retry_after_cap).max(j),
        None => j,
    }
}

/// Splits `owner/name[:version]`.
pub fn split_model(model: &str) -> Result<(String, String, Option<String>), ProviderError> {
    let (path, version) = match model.split_once(':') {
        Some((p, v)) if !v.is_empty() => (p, Some(v.to_string())),
        Some(_) => {
            return Err(ProviderError::Config(format!(
                "model {model:?}: empty version"
            )))
        }
        None => (model, None),
    };
    let ok = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    match path.split_once('/') {
        Some((o, n)) if ok(o) && ok(n) => Ok((o.into(), n.into(), version)),
        _ => Err(ProviderError::Config(format!(
            "model {model:?} is not owner/name or owner/name:version"
        ))),
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Parses a prediction object.
pub fn parse_prediction(v: &Value) -> Result<Prediction, ProviderError> {
    let bad = |reason: String| ProviderError::Protocol {
        op: "prediction",
        reason,
    };
    let id = v
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("no id".into()))?
        .to_string();
    let st = v
        .get("status")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("no status".into()))?;
    let status = Status::parse(st).ok_or_else(|| bad(format!("unknown status {st:?}")))?;
    let outputs = match v.get("output") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    let error = match v.get("error") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => Some(other.to_string()),
    };
    Ok(Prediction {
        id,
        status,
        outputs,
        error,
        predict_time: v.pointer("/metrics/predict_time").and_then(Value::as_f64),
        version: v.get("version").and_then(Value::as_str).map(str::to_string),
    })
}

fn origin(url: &str) -> Option<&str> {
    let rest_at = url.find("://")? + 3;
    let end = url[rest_at..]
        .find('/')
        .map(|i| rest_at + i)
        .unwrap_or(url.len());
    Some(&url[..end])
}

enum TryOutcome {
    Done(u16, String),
    Retry {
        status: Option<u16>,
        retry_after: Option<Duration>,
        err: ProviderError,
    },
    Fail(ProviderError),
}

impl Replicate {
    pub fn new(cfg: ReplicateConfig, cancel: CancelFlag) -> Result<Self, ProviderError> {
        let client = reqwest::Client::builder()
            .timeout(cfg.request_timeout)
            .connect_timeout(cfg.request_timeout.min(Duration::from_secs(30)))
            .build()
            .map_err(|e| ProviderError::Client(e.to_string()))?;
        Ok(Self {
            cfg,
            client,
            cancel,
        })
    }

    pub fn config(&self) -> &ReplicateConfig {
        &self.cfg
    }

    fn scrub(&self, s: &str) -> String {
        let cut: String = s.chars().take(500).collect();
        cut.replace(self.cfg.token.expose(), "***")
    }

    fn url(&self, path: &str) -> String {
        format!("{}/v1/{path}", self.cfg.api_base)
    }

    /// Sends with retries; returns the status and body of the first non-retryable reply.
    async fn send(
        &self,
        op: &'static str,
        target: &str,
        build: impl Fn() -> reqwest::RequestBuilder,
        log: &mut TryLog,
    ) -> Result<(u16, String), ProviderError> {
        let mut n = 0u32;
        loop {
            if is_cancelled(&self.cancel) && op != "cancel" {
                return Err(ProviderError::Interrupted);
            }
            let t0 = Instant::now();
            let at = now();
            let outcome = match build()
                .header(
                    "Authorization",
                    format!("Bearer {}", self.cfg.token.expose()),
                )
                .send()
                .await
            {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let retry_after = resp
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| vbench_prompt::llm::parse_retry_after(v, chrono::Utc::now()));
                    match resp.text().await {
                        Ok(body) if (200..300).contains(&status) => TryOutcome::Done(status, body),
                        Ok(body) => {
                            let err = ProviderError::Http {
                                op,
                                what: target.into(),
                                status,
                                body: self.scrub(&body),
                            };
                            if status == 429 || status >= 500 {
                                TryOutcome::Retry {
                                    status: Some(status),
                                    retry_after,
                                    err,
                                }
                            } else {
                                TryOutcome::Fail(err)
                            }
                        }
                        Err(e) => TryOutcome::Retry {
                            status: Some(status),
                            retry_after: None,
                            err: ProviderError::Network {
                                op,
                                what: target.into(),
                                reason: self.scrub(&e.to_string()),
                            },
                        },
                    }
                }
                Err(e) => TryOutcome::Retry {
                    status: None,
                    retry_after: None,
                    err: ProviderError::Network {
                        op,
                        what: target.into(),
                        reason: self.scrub(&format!("{e} ({})", error_chain(&e))),
                    },
                },
            };
            let elapsed_ms = t0.elapsed().as_millis() as u64;
            match outcome {
                TryOutcome::Done(status, body) => {
                    if op == "poll" {
                        log.polls += 1;
                    } else {
                        log.tries.push(HttpTry {
                            op,
                            target: target.into(),
                            at,
                            elapsed_ms,
                            status: Some(status),
                            error: None,
                            retry_in_ms: None,
                        });
                    }
                    return Ok((status, body));
                }
                TryOutcome::Fail(err) => {
                    log.tries.push(HttpTry {
                        op,
                        target: target.into(),
                        at,
                        elapsed_ms,
                        status: match &err {
                            ProviderError::Http { status, .. } => Some(*status),
                            _ => None,
                        },
                        error: Some(err.to_string()),
                        retry_in_ms: None,
                    });
                    return Err(err);
                }
                TryOutcome::Retry {
                    status,
                    retry_after,
                    err,
                } => {
                    let more = n < self.cfg.max_retries;
                    let wait = backoff(&self.cfg, n, retry_after, fastrand::f64());
                    log.tries.push(HttpTry {
                        op,
                        target: target.into(),
                        at,
                        elapsed_ms,
                        status,
                        error: Some(err.to_string()),
                        retry_in_ms: more.then_some(wait.as_millis() as u64),
                    });
                    if !more {
                        return Err(err);
                    }
                    crate::provider::sleep_cancellable(wait, &self.cancel).await;
                    n += 1;
                }
            }
        }
    }

    fn parse(&self, op: &'static str, body: &str) -> Result<Prediction, ProviderError> {
        let v: Value = serde_json::from_str(body).map_err(|e| ProviderError::Protocol {
            op,
            reason: format!("not JSON ({e}): {}", self.scrub(body)),
        })?;
        parse_prediction(&v)
    }

    /// One download try: `Ok(bytes)`, or an error and whether to try again.
    async fn download_once(
        &self,
        url: &str,
        part: &Path,
    ) -> Result<u64, (bool, Option<u16>, ProviderError)> {
        let derr = |reason: String| ProviderError::Download {
            url: url.into(),
            reason,
        };
        let mut req = self.client.get(url);
        if origin(url) == origin(&self.cfg.api_base) {
            req = req.header(
                "Authorization",
                format!("Bearer {}", self.cfg.token.expose()),
            );
        }
        let mut resp = req
            .send()
            .await
            .map_err(|e| (true, None, derr(self.scrub(&e.to_string()))))?;
        let status = resp.status().as_u16();
        if !(200..300).contains(&status) {
            let retry = status == 429 || status >= 500;
            return Err((retry, Some(status), derr(format!("HTTP {status}"))));
        }
        let expected = resp.content_length();
        let bar = if self.cfg.show_progress {
            let b = indicatif::ProgressBar::new(expected.unwrap_or(0));
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "  download {bytes}/{total_bytes} [{bar:30}] {bytes_per_sec} {msg}",
            ) {
                b.set_style(style);
            }
            b
        } else {
            indicatif::ProgressBar::hidden()
        };
        let mut file = std::fs::File::create(part).map_err(|e| {
            (
                false,
                Some(status),
                ProviderError::Write {
                    path: part.into(),
                    reason: e.to_string(),
                },
            )
        })?;
        let mut written = 0u64;
        loop {
            if is_cancelled(&self.cancel) {
                bar.abandon();
                return Err((false, Some(status), ProviderError::Interrupted));
            }
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    file.write_all(&chunk).map_err(|e| {
                        (
                            false,
                            Some(status),
                            ProviderError::Write {
                                path: part.into(),
                                reason: e.to_string(),
                            },
                        )
                    })?;
                    written += chunk.len() as u64;
                    bar.set_position(written);
                }
                Ok(None) => break,
                Err(e) => {
                    bar.abandon();
                    return Err((
                        true,
                        Some(status),
                        derr(format!(
                            "connection broke after {written} bytes{}: {}",
                            expected.map(|l| format!(" of {l}")).unwrap_or_default(),
                            self.scrub(&e.to_string())
                        )),
                    ));
                }
            }
        }
        bar.finish_and_clear();
        file.flush().map_err(|e| {
            (
                false,
                Some(status),
                ProviderError::Write {
                    path: part.into(),
                    reason: e.to_string(),
                },
            )
        })?;
        if let Some(len) = expected {
            if written != len {
                return Err((
                    true,
                    Some(status),
                    derr(format!("truncated: {written} of {len} bytes")),
                ));
            }
        }
        if written == 0 {
            return Err((true, Some(status), derr("empty body".into())));
        }
        Ok(written)
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts = Vec::new();
    let mut src = e.source();
    while let Some(s) = src {
        parts.push(s.to_string());
        src = s.source();
    }
    if parts.is_empty() {
        "no detail".into()
    } else {
        parts.join(": ")
    }
}

impl Provider for Replicate {
    fn name(&self) -> &'static str {
        "replicate"
    }

    async fn create(
        &self,
        model: &str,
        input: &Value,
        log: &mut TryLog,
    ) -> Result<Prediction, ProviderError> {
        let (owner, name, version) = split_model(model)?;
        let (url, body) = match &version {
            Some(v) => (
                self.url("predictions"),
                json!({"version": v, "input": input}),
            ),
            None => (
                self.url(&format!("models/{owner}/{name}/predictions")),
                json!({"input": input}),
            ),
        };
        let wait = self.cfg.prefer_wait;
        let (_, text) = self
            .send(
                "create",
                model,
                || {
                    let mut r = self.client.post(&url).json(&body);
                    if let Some(w) = wait {
                        r = r.header("Prefer", format!("wait={}", w.clamp(1, 60)));
                    }
                    r
                },
                log,
            )
            .await?;
        self.parse("create", &text)
    }

    async fn get(&self, id: &str, log: &mut TryLog) -> Result<Prediction, ProviderError> {
        let url = self.url(&format!("predictions/{id}"));
        let (_, text) = self.send("poll", id, || self.client.get(&url), log).await?;
        self.parse("poll", &text)
    }

    async fn cancel(&self, id: &str, log: &mut TryLog) -> Result<(), ProviderError> {
        let url = self.url(&format!("predictions/{id}/cancel"));
        self.send("cancel", id, || self.client.post(&url), log)
            .await
            .map(|_| ())
    }

    async fn download(
        &self,
        url: &str,
        dest: &Path,
        log: &mut TryLog,
    ) -> Result<u64, ProviderError> {
        let part = dest.with_extension("part");
        let mut n = 0u32;
        loop {
            let t0 = Instant::now();
            let at = now();
            let r = self.download_once(url, &part).await;
            let elapsed_ms = t0.elapsed().as_millis() as u64;
            match r {
                Ok(bytes) => {
                    std::fs::rename(&part, dest).map_err(|e| ProviderError::Write {
                        path: dest.into(),
                        reason: e.to_string(),
                    })?;
                    log.tries.push(HttpTry {
                        op: "download",
                        target: url.into(),
                        at,
                        elapsed_ms,
                        status: Some(200),
                        error: None,
                        retry_in_ms: None,
                    });
                    return Ok(bytes);
                }
                Err((retry, status, err)) => {
                    let more = retry && n < self.cfg.download_retries;
                    let wait = backoff(&self.cfg, n, None, fastrand::f64());
                    log.tries.push(HttpTry {
                        op: "download",
                        target: url.into(),
                        at,
                        elapsed_ms,
                        status,
                        error: Some(err.to_string()),
                        retry_in_ms: more.then_some(wait.as_millis() as u64),
                    });
                    if !more {
                        let _ = std::fs::remove_file(&part);
                        return Err(err);
                    }
                    crate::provider::sleep_cancellable(wait, &self.cancel).await;
                    n += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models_split() {
        assert_eq!(
            split_model("kwaivgi/kling-v1.6-standard").unwrap(),
            ("kwaivgi".into(), "kling-v1.6-standard".into(), None)
        );
        assert_eq!(
            split_model("a/b:abc123").unwrap().2.as_deref(),
            Some("abc123")
        );
        assert!(split_model("nope").is_err());
        assert!(split_model("a/b:").is_err());
        assert!(split_model("a/../b").is_err());
    }

    #[test]
    fn prediction_outputs_string_or_list() {
        let p = parse_prediction(&json!({"id":"x","status":"succeeded","output":"http://a/v.mp4","metrics":{"predict_time":12.5}})).unwrap();
        assert_eq!(p.outputs, vec!["http://a/v.mp4"]);
        assert_eq!(p.predict_time, Some(12.5));
        let p = parse_prediction(&json!({"id":"x","status":"processing","output":["u1","u2"]}))
            .unwrap();
        assert_eq!(p.outputs.len(), 2);
        assert_eq!(p.status, Status::Processing);
        assert!(parse_prediction(&json!({"id":"x","status":"weird"})).is_err());
    }

    #[test]
    fn token_is_never_shown() {
        let t = Token::new("r8_SECRET").unwrap();
        assert_eq!(format!("{t:?}"), "Token(***)");
        let cfg = ReplicateConfig::new("http://x".into(), t);
        assert!(!format!("{cfg:?}").contains("r8_SECRET"));
        let r = Replicate::new(cfg, CancelFlag::default()).unwrap();
        assert_eq!(r.scrub("bad token r8_SECRET here"), "bad token *** here");
        assert!(Token::new("  ").is_none());
    }

    #[test]
    fn token_from_dotenv() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join(".env"), "REPLICATE_API_TOKEN=r8_dot\n").unwrap();
        if std::env::var(TOKEN_VAR).is_err() {
            assert_eq!(Token::from_env(d.path()).unwrap().expose(), "r8_dot");
        }
    }

    #[test]
    fn api_base_forms() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(
            resolve_api_base(Some("http://127.0.0.1:9/v1/"), d.path()).unwrap(),
            "http://127.0.0.1:9"
        );
        assert!(resolve_api_base(Some("ftp://x"), d.path()).is_err());
    }

    #[test]
    fn backoff_grows_and_honours_retry_after() {
        let mut cfg = ReplicateConfig::new("http://x".into(), Token::new("t").unwrap());
        cfg.backoff_base = Duration::from_millis(100);
        cfg.backoff_max = Duration::from_millis(1000);
        assert_eq!(backoff(&cfg, 0, None, 1.0), Duration::from_millis(100));
        assert_eq!(backoff(&cfg, 2, None, 1.0), Duration::from_millis(400));
        assert_eq!(backoff(&cfg, 10, None, 1.0), Duration::from_millis(1000));
        assert_eq!(backoff(&cfg, 0, None, 0.0), Duration::from_millis(50));
        assert_eq!(
            backoff(&cfg, 0, Some(Duration::from_secs(2)), 0.0),
            Duration::from_secs(2)
        );
    }

    #[test]
    fn origins() {
        assert_eq!(
            origin("http://127.0.0.1:5/v1/x"),
            Some("http://127.0.0.1:5")
        );
        assert_eq!(
            origin("https://api.replicate.com"),
            Some("https://api.replicate.com")
        );
    }
}
