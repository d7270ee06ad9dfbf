//! The one LLM client: OpenAI-compatible chat completions (OpenAI, Ollama, vLLM, LM Studio, ...).
//!
//! Requests are built with `async-openai`'s typed request (`CreateChatCompletionRequest`), so the
//! wire format is exactly the one async-openai speaks, but they are sent with `reqwest` directly.
//! Why not `async_openai::Client::chat().create()`: in 0.43 the default client wraps every call in
//! its own retry layer (429/5xx, its own backoff, `Retry-After` only logged), which hides the number
//! of attempts, ignores `Retry-After` and cannot be turned off without the `middleware` feature.
//! We need all three (attempt counts go into the traces, `Retry-After` is honoured, the last error is
//! reported clearly). Replies are parsed leniently (only `choices[0].message.content` and `usage`)
//! because local servers often omit fields that async-openai's response type requires.
//!
//! Retry policy: 429 (except `insufficient_quota`), 5xx, timeouts and connection errors are retried
//! up to `max_retries` times. The wait before retry `n` (0-based) is `min(base * 2^n, max)` times a
//! jitter factor in [0.5, 1.0], and never less than the server's `Retry-After` (seconds or HTTP date,
//! capped at `retry_after_cap`). Other 4xx are not retried. A 400 that mentions `response_format`
//! turns JSON mode off for the rest of the run and the request is re-sent without it.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use async_openai::types::chat::{
    ChatCompletionRequestAssistantMessageArgs, ChatCompletionRequestMessage,
    ChatCompletionRequestSystemMessageArgs, ChatCompletionRequestUserMessageArgs,
    CreateChatCompletionRequestArgs, ResponseFormat,
};
use serde::{Deserialize, Serialize};

use crate::error::LlmError;

/// Default endpoint when no base URL is given.
pub const OPENAI_BASE_URL: &str = "https://api.openai.com/v1";

/// An API key. Its `Debug`/`Display` never show the value, and it is not `Serialize`.
#[derive(Clone)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> Option<Self> {
        let k = key.into().trim().to_string();
        (!k.is_empty()).then_some(Self(k))
    }
    fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// e.g. `https://api.openai.com/v1` or `http://127.0.0.1:11434/v1`; `/chat/completions` is appended.
    pub base_url: String,
    pub api_key: Option<ApiKey>,
    /// Per-request timeout (connect + response).
    pub timeout: Duration,
    /// Retries after the first attempt.
    pub max_retries: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    pub retry_after_cap: Duration,
}

impl HttpConfig {
    pub fn new(base_url: impl Into<String>, api_key: Option<ApiKey>) -> Self {
        Self {
            base_url: base_url.into(),
            api_key,
            timeout: Duration::from_secs(120),
            max_retries: 4,
            backoff_base: Duration::from_millis(1000),
            backoff_max: Duration::from_secs(30),
            retry_after_cap: Duration::from_secs(120),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    System,
    User,
    Assistant,
}

#[derive(Debug, Clone)]
pub struct Message {
    pub role: Role,
    pub content: String,
}

impl Message {
    pub fn system(s: impl Into<String>) -> Self {
        Self {
            role: Role::System,
            content: s.into(),
        }
    }
    pub fn user(s: impl Into<String>) -> Self {
        Self {
            role: Role::User,
            content: s.into(),
        }
    }
    pub fn assistant(s: impl Into<String>) -> Self {
        Self {
            role: Role::Assistant,
            content: s.into(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<Message>,
    /// Ask for `response_format: json_object` (dropped if the server rejects it).
    pub json: bool,
    pub temperature: Option<f32>,
}

/// Token usage of one call. `reported` is false when the server sent no `usage` and the numbers
/// are estimates (4 characters per token).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    pub reported: bool,
}

#[derive(Debug, Clone)]
pub struct ChatReply {
    pub content: String,
    pub usage: Usage,
    pub attempts: u32,
    pub elapsed: Duration,
    pub json_mode: bool,
}

pub struct HttpLlm {
    cfg: HttpConfig,
    client: reqwest::Client,
    endpoint: String,
    json_mode: AtomicBool,
    journal: std::sync::Mutex<Option<std::sync::Arc<crate::journal::ChatJournal>>>,
}

impl fmt::Debug for HttpLlm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpLlm")
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

/// One failed attempt, and whether it is worth retrying.
struct AttemptError {
    retry: bool,
    retry_after: Option<Duration>,
    status: Option<u16>,
    message: String,
}

impl HttpLlm {
    pub fn new(cfg: HttpConfig) -> Result<Self, LlmError> {
        let client = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(cfg.timeout.min(Duration::from_secs(30)))
            .build()
            .map_err(|e| LlmError::Client(e.to_string()))?;
        let endpoint = format!("{}/chat/completions", cfg.base_url.trim_end_matches('/'));
        Ok(Self {
            cfg,
            client,
            endpoint,
            json_mode: AtomicBool::new(true),
            journal: std::sync::Mutex::new(None),
        })
    }

    /// Records every finished [`HttpLlm::chat`] in `journal` and answers calls from it (see
    /// [`crate::journal`]); `None` ends that.
    pub fn set_journal(&self, journal: Option<std::sync::Arc<crate::journal::ChatJournal>>) {
        *self.journal.lock().unwrap_or_else(|e| e.into_inner()) = journal;
    }

    fn journal(&self) -> Option<std::sync::Arc<crate::journal::ChatJournal>> {
        self.journal
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    fn scrub(&self, s: &str) -> String {
        let mut out: String = s.chars().take(600).collect();
        if let Some(k) = &self.cfg.api_key {
            out = out.replace(k.expose(), "***");
        }
        out
    }

    fn body(&self, req: &ChatRequest, json: bool) -> Result<serde_json::Value, LlmError> {
        let client_err = |e: async_openai::error::OpenAIError| LlmError::Client(e.to_string());
        let mut messages: Vec<ChatCompletionRequestMessage> =
            Vec::with_capacity(req.messages.len());
        for m in &req.messages {
            messages.push(match m.role {
                Role::System => ChatCompletionRequestSystemMessageArgs::default()
                    .content(m.content.as_str())
                    .build()
                    .map_err(client_err)?
                    .into(),
                Role::User => ChatCompletionRequestUserMessageArgs::default()
                    .content(m.content.as_str())
                    .build()
                    .map_err(client_err)?
                    .into(),
                Role::Assistant => ChatCompletionRequestAssistantMessageArgs::default()
                    .content(m.content.as_str())
                    .build()
                    .map_err(client_err)?
                    .into(),
            });
        }
        let mut b = CreateChatCompletionRequestArgs::default();
        b.model(req.model.as_str()).messages(messages);
        if let Some(t) = req.temperature {
            b.temperature(t);
        }
        if json {
            b.response_format(ResponseFormat::JsonObject);
        }
        let built = b.build().map_err(client_err)?;
        serde_json::to_value(&built).map_err(|e| LlmError::Client(e.to_string()))
    }

    /// Sends one chat completion with retries. See the module docs for the policy.
    pub async fn chat(&self, req: &ChatRequest) -> Result<ChatReply, LlmError> {
        let journal = self.journal();
        if let Some(reply) = journal.as_ref().and_then(|j| j.replay(req)) {
            return Ok(reply);
        }
        let reply = self.send_chat(req).await?;
        if let Some(j) = &journal {
            j.record(req, &reply).map_err(LlmError::Journal)?;
        }
        Ok(reply)
    }

    async fn send_chat(&self, req: &ChatRequest) -> Result<ChatReply, LlmError> {
        let start = Instant::now();
        let mut attempts = 0u32;
        let mut failures = 0u32;
        loop {
            let json = req.json && self.json_mode.load(Ordering::Relaxed);
            let body = self.body(req, json)?;
            attempts += 1;
            match self.attempt(&body).await {
                Ok((content, usage)) => {
                    return Ok(ChatReply {
                        content,
                        usage,
                        attempts,
                        elapsed: start.elapsed(),
                        json_mode: json,
                    })
                }
                Err(e) => {
                    if json && e.status == Some(400) && mentions_response_format(&e.message) {
                        // Server without JSON mode: resend as plain text; JSON is extracted from the text.
                        self.json_mode.store(false, Ordering::Relaxed);
                        continue;
                    }
                    if !e.retry {
                        return Err(match e.status {
                            Some(status) => LlmError::Rejected {
                                endpoint: self.endpoint.clone(),
                                status,
                                body: e.message,
                            },
                            None => LlmError::BadResponse {
                                endpoint: self.endpoint.clone(),
                                reason: e.message,
                            },
                        });
                    }
                    if failures >= self.cfg.max_retries {
                        return Err(LlmError::Exhausted {
                            endpoint: self.endpoint.clone(),
                            attempts,
                            last: e.message,
                        });
                    }
                    let wait = backoff_delay(&self.cfg, failures, e.retry_after, fastrand::f64());
                    failures += 1;
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// Sends a caller-built chat-completions body (e.g. with image parts or `logprobs`) with
    /// the same retry policy as [`HttpLlm::chat`]; returns the reply as JSON and the number of
    /// attempts.
    pub async fn post_json(
        &self,
        body: &serde_json::Value,
    ) -> Result<(serde_json::Value, u32), LlmError> {
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let res = match self.send(body).await {
                Ok(text) => serde_json::from_str(&text).map_err(|e| AttemptError {
                    retry: false,
                    retry_after: None,
                    status: None,
                    message: self.scrub(&format!("reply is not JSON ({e})")),
                }),
                Err(e) => Err(e),
            };
            match res {
                Ok(v) => return Ok((v, attempts)),
                Err(e) if !e.retry => {
                    return Err(match e.status {
                        Some(status) => LlmError::Rejected {
                            endpoint: self.endpoint.clone(),
                            status,
                            body: e.message,
                        },
                        None => LlmError::BadResponse {
                            endpoint: self.endpoint.clone(),
                            reason: e.message,
                        },
                    })
                }
                Err(e) if attempts > self.cfg.max_retries => {
                    return Err(LlmError::Exhausted {
                        endpoint: self.endpoint.clone(),
                        attempts,
                        last: e.message,
                    })
                }
                Err(e) => {
                    let wait =
                        backoff_delay(&self.cfg, attempts - 1, e.retry_after, fastrand::f64());
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    async fn attempt(&self, body: &serde_json::Value) -> Result<(String, Usage), AttemptError> {
        let text = self.send(body).await?;
        parse_reply(&text).map_err(|reason| AttemptError {
            retry: false,
            retry_after: None,
            status: None,
            message: self.scrub(&reason),
        })
    }

    /// One POST; the body text of a 2xx reply.
    async fn send(&self, body: &serde_json::Value) -> Result<String, AttemptError> {
        let mut rb = self.client.post(&self.endpoint).json(body);
        if let Some(k) = &self.cfg.api_key {
            rb = rb.bearer_auth(k.expose());
        }
        let resp = rb.send().await.map_err(|e| self.transport_error(e))?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, chrono::Utc::now()));
        let text = resp.text().await.map_err(|e| self.transport_error(e))?;
        if !status.is_success() {
            let code = status.as_u16();
            let quota = code == 429 && text.contains("insufficient_quota");
            return Err(AttemptError {
                retry: (code == 429 && !quota) || status.is_server_error() || code == 408,
                retry_after,
                status: Some(code),
                message: format!("HTTP {code}: {}", self.scrub(text.trim())),
            });
        }
        Ok(text)
    }

    fn transport_error(&self, e: reqwest::Error) -> AttemptError {
        let kind = if e.is_timeout() {
            format!("timed out after {:.1}s", self.cfg.timeout.as_secs_f64())
        } else if e.is_connect() {
            "connection failed".to_string()
        } else {
            "transport error".to_string()
        };
        let mut src = String::new();
        let mut cur: Option<&dyn std::error::Error> = std::error::Error::source(&e);
        while let Some(s) = cur {
            src = s.to_string();
            cur = s.source();
        }
        AttemptError {
            retry: e.is_timeout() || e.is_connect() || e.is_request() || e.is_body(),
            retry_after: None,
            status: None,
            message: self.scrub(&if src.is_empty() {
                kind
            } else {
                format!("{kind}: {src}")
            }),
        }
    }
}

fn mentions_response_format(msg: &str) -> bool {
    let m = msg.to_ascii_lowercase();
    m.contains("response_format") || m.contains("json_object") || m.contains("json mode")
}

/// Wait before retry number `failures` (0-based). `jitter` is uniform in [0, 1).
pub fn backoff_delay(
    cfg: &HttpConfig,
    failures: u32,
    retry_after: Option<Duration>,
    jitter: f64,
) -> Duration {
    let exp = cfg
        .backoff_base
        .saturating_mul(2u32.saturating_pow(failures.min(16)));
    let exp = exp.min(cfg.backoff_max);
    let jittered = exp.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0));
    match retry_after {
        Some(ra) => ra.min(cfg.retry_after_cap).max(jittered),
        None => jittered,
    }
}

/// `Retry-After` as seconds (`"3"`, `"1.5"`) or an HTTP date.
pub fn parse_retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let delta = when.with_timezone(&chrono::Utc) - now;
    Some(delta.to_std().unwrap_or(Duration::ZERO))
}

/// Reads `choices[0].message.content` and `usage` from a chat-completions reply.
pub fn parse_reply(text: &str) -> Result<(String, Usage), String> {
    let v: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| format!("reply is not JSON ({e}): {}", snippet(text)))?;
    let content = v
        .pointer("/choices/0/message/content")
        .and_then(|c| c.as_str())
        .ok_or_else(|| format!("reply has no choices[0].message.content: {}", snippet(text)))?
        .to_string();
    let usage = match v.get("usage") {
        Some(u) if u.is_object() => {
            let p = u.get("prompt_tokens").and_then(|x| x.as_u64()).unwrap_or(0);
            let c = u
                .get("completion_tokens")
                .and_then(|x| x.as_u64())
                .unwrap_or(0);
            let t = u
                .get("total_tokens")
                .and_then(|x| x.as_u64())
                .unwrap_or(p + c);
            Usage {
                prompt_tokens: p,
                completion_tokens: c,
                total_tokens: t,
                reported: true,
            }
        }
        _ => Usage::default(),
    };
    Ok((content, usage))
}

/// Rough token estimate (4 characters per token), used when a server reports no usage.
pub fn estimate_tokens(s: &str) -> u64 {
    (s.chars().count() as u64).div_ceil(4)
}

fn snippet(s: &str) -> String {
    let t: String = s.chars().take(200).collect();
    if s.chars().count() > 200 {
        format!("{t}...")
    } else {
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_and_date() {
        let now = chrono::DateTime::parse_from_rfc2822("Wed, 21 Oct 2015 07:28:00 GMT")
            .unwrap()
            .to_utc();
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after("1.5", now),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:07 GMT", now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
    }

    #[test]
    fn backoff_grows_caps_and_honours_retry_after() {
        let cfg = HttpConfig::new("http://x", None);
        assert_eq!(backoff_delay(&cfg, 0, None, 1.0), Duration::from_secs(1));
        assert_eq!(
            backoff_delay(&cfg, 0, None, 0.0),
            Duration::from_millis(500)
        );
        assert_eq!(backoff_delay(&cfg, 3, None, 1.0), Duration::from_secs(8));
        assert_eq!(backoff_delay(&cfg, 10, None, 1.0), Duration::from_secs(30));
        assert_eq!(
            backoff_delay(&cfg, 0, Some(Duration::from_secs(5)), 1.0),
            Duration::from_secs(5)
        );
        assert_eq!(
            backoff_delay(&cfg, 0, Some(Duration::from_secs(999)), 1.0),
            Duration::from_secs(120)
        );
    }

    #[test]
    fn reply_parsing_with_and_without_usage() {
        let (c, u) = parse_reply(
            r#"{"choices":[{"message":{"role":"assistant","content":"hi"}}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}"#,
        )
        .unwrap();
        assert_eq!(c, "hi");
        assert_eq!(
            u,
            Usage {
                prompt_tokens: 3,
                completion_tokens: 2,
                total_tokens: 5,
                reported: true
            }
        );
        let (_, u) = parse_reply(r#"{"choices":[{"message":{"content":"x"}}]}"#).unwrap();
        assert!(!u.reported);
        assert!(parse_reply("<html>").is_err());
        assert!(parse_reply(r#"{"choices":[]}"#).is_err());
    }

    #[test]
    fn api_key_debug_hides_value() {
        let k = ApiKey::new("sk-secret").unwrap();
        assert!(!format!("{k:?}").contains("secret"));
        assert!(ApiKey::new("  ").is_none());
    }

    #[test]
    fn request_body_uses_openai_wire_format() {
        let llm = HttpLlm::new(HttpConfig::new("http://127.0.0.1:1/v1/", None)).unwrap();
        assert_eq!(llm.endpoint(), "http://127.0.0.1:1/v1/chat/completions");
        let req = ChatRequest {
            model: "m".into(),
            messages: vec![Message::system("s"), Message::user("u")],
            json: true,
            temperature: Some(0.2),
        };
        let b = llm.body(&req, true).unwrap();
        assert_eq!(b["model"], "m");
        assert_eq!(b["messages"][0]["role"], "system");
        assert_eq!(b["messages"][1]["content"], "u");
        assert_eq!(b["response_format"]["type"], "json_object");
        assert!(llm
            .body(&req, false)
            .unwrap()
            .get("response_format")
            .is_none());
    }
}
