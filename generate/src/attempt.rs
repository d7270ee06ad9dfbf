//! One generation with a fallback chain: each model of the chain is tried up to
//! `tries_per_model` times (a failed or timed-out prediction, or an HTTP error that survived the
//! client's own retries); a model that rejects the request outright (4xx other than 429) is
//! left at once for the next one. Every prediction is recorded as a [`ModelTry`] with its
//! HTTP tries and its cost. `--max-cost` is checked before each prediction against its
//! estimated cost.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use crate::error::ProviderError;
use crate::models::{GenericInput, ModelTable};
use crate::prices::{Cost, PriceTable};
use crate::provider::{self, CancelFlag, Provider, TryLog, WaitOptions};

#[derive(Debug, Clone, Copy)]
pub struct AttemptOptions {
    pub wait: WaitOptions,
    pub tries_per_model: u32,
}

impl Default for AttemptOptions {
    fn default() -> Self {
        Self {
            wait: WaitOptions::default(),
            tries_per_model: 2,
        }
    }
}

/// Money spent so far and the cap.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Budget {
    pub max_usd: Option<f64>,
    pub spent_usd: f64,
}

/// One prediction (or one refused create) in the trace.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct ModelTry {
    pub model: String,
    pub family: String,
    /// Position in the chain (0 = the requested model).
    pub chain_index: usize,
    pub fallback: bool,
    /// The model's input as sent; data URIs are shortened to their size.
    pub input: Value,
    /// Generic fields this model has no input for.
    pub dropped_inputs: Vec<String>,
    pub prediction_id: Option<String>,
    pub status: String,
    pub error: Option<String>,
    pub predict_time: Option<f64>,
    pub output_url: Option<String>,
    pub estimated_cost: Cost,
    pub cost: Cost,
    pub started_at: String,
    pub finished_at: String,
    pub seconds: f64,
    /// Not read back when a resumed run reuses a finished generation.
    #[serde(skip_deserializing)]
    pub http: TryLog,
}

#[derive(Debug, Clone, Serialize)]
pub struct Generated {
    pub model: String,
    pub prediction_id: String,
    pub output_url: String,
    pub file: PathBuf,
    pub bytes: u64,
    pub output_seconds: Option<f64>,
    pub fallback_used: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum AttemptError {
    #[error("--max-cost {max:.4} USD: the next prediction ({model}, about {estimate:.4} USD) would bring the total from {spent:.4} above it")]
    Budget {
        model: String,
        estimate: f64,
        spent: f64,
        max: f64,
    },
    #[error("every model failed (last: {last})")]
    AllFailed { last: String },
    #[error("download failed: {0}")]
    Download(ProviderError),
    #[error("interrupted (Ctrl-C)")]
    Interrupted,
    #[error("the API refused the token (HTTP {status}): check REPLICATE_API_TOKEN")]
    Unauthorized { status: u16 },
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The input with every data URI replaced by its length (traces stay small and readable).
pub fn redact_input(v: &Value) -> Value {
    match v {
        Value::String(s) if s.starts_with("data:") => {
            let head = s.split(',').next().unwrap_or("data:");
            Value::String(format!("{head},<{} characters>", s.len()))
        }
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), redact_input(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(redact_input).collect()),
        other => other.clone(),
    }
}

/// Whether an error says the model itself refused the request (no point retrying it).
fn refused(e: &ProviderError) -> bool {
    matches!(e, ProviderError::Http { status, .. } if *status < 500 && *status != 429)
        || matches!(e, ProviderError::Config(_))
}

/// Generates one output along `chain` and downloads it to `dest`. Returns every prediction
/// made (for the trace) and the outcome. `measure` gives an output's duration in seconds
/// (for per-output-second prices).
#[allow(clippy::too_many_arguments)]
pub async fn generate<P: Provider>(
    provider: &P,
    chain: &[String],
    table: &ModelTable,
    prices: &PriceTable,
    generic: &GenericInput,
    dest: &Path,
    opts: AttemptOptions,
    budget: &mut Budget,
    cancel: &CancelFlag,
    measure: &dyn Fn(&Path) -> Option<f64>,
) -> (Vec<ModelTry>, Result<Generated, AttemptError>) {
    let mut tries: Vec<ModelTry> = Vec::new();
    let mut last = String::from("no model to try");
    for (ci, model) in chain.iter().enumerate() {
        let mapped = table.map(model, generic);
        for _ in 0..opts.tries_per_model.max(1) {
            if provider::is_cancelled(cancel) {
                return (tries, Err(AttemptError::Interrupted));
            }
            let estimate = prices.estimate(model, mapped.duration);
            if let Some(max) = budget.max_usd {
                if budget.spent_usd + estimate.usd > max + 1e-12 {
                    return (
                        tries,
                        Err(AttemptError::Budget {
                            model: model.clone(),
                            estimate: estimate.usd,
                            spent: budget.spent_usd,
                            max,
                        }),
                    );
                }
            }
            let started = std::time::Instant::now();
            let mut t = ModelTry {
                model: model.clone(),
                family: mapped.family.clone(),
                chain_index: ci,
                fallback: ci > 0,
                input: redact_input(&mapped.input),
                dropped_inputs: mapped.dropped.clone(),
                prediction_id: None,
                status: "error".into(),
                error: None,
                predict_time: None,
                output_url: None,
                estimated_cost: estimate,
                cost: prices.actual(model, false, None, None),
                started_at: now(),
                finished_at: String::new(),
                seconds: 0.0,
                http: TryLog::default(),
            };
            let mut log = TryLog::default();
            let res = match provider.create(model, &mapped.input, &mut log).await {
                Ok(p) => {
                    t.prediction_id = Some(p.id.clone());
                    provider::wait(provider, p, opts.wait, cancel, &mut log).await
                }
                Err(e) => Err(e),
            };
            let mut refused_model = false;
            let mut outcome: Option<Result<Generated, AttemptError>> = None;
            match res {
                Ok(p) => {
                    t.status = p.status.as_str().into();
                    t.predict_time = p.predict_time;
                    match (p.status.clone(), p.outputs.first()) {
                        (provider::Status::Succeeded, Some(url)) => {
                            t.output_url = Some(url.clone());
                            match provider.download(url, dest, &mut log).await {
                                Ok(bytes) => {
                                    let secs = measure(dest).or(mapped.duration);
                                    t.cost = prices.actual(model, true, secs, p.predict_time);
                                    outcome = Some(Ok(Generated {
                                        model: model.clone(),
                                        prediction_id: p.id.clone(),
                                        output_url: url.clone(),
                                        file: dest.to_path_buf(),
                                        bytes,
                                        output_seconds: secs,
                                        fallback_used: ci > 0,
                                    }));
                                }
                                Err(e) => {
                                    // the prediction ran: it is billed even though we lost it
                                    t.cost =
                                        prices.actual(model, true, mapped.duration, p.predict_time);
                                    t.error = Some(e.to_string());
                                    outcome =
                                        Some(Err(if matches!(e, ProviderError::Interrupted) {
                                            AttemptError::Interrupted
                                        } else {
                                            AttemptError::Download(e)
                                        }));
                                }
                            }
                        }
                        (provider::Status::Succeeded, None) => {
                            t.cost = prices.actual(model, true, mapped.duration, p.predict_time);
                            t.error = Some("succeeded without an output URL".into());
                        }
                        (_, _) => {
                            t.cost = prices.actual(model, false, None, p.predict_time);
                            t.error =
                                Some(p.error.clone().unwrap_or_else(|| {
                                    format!("prediction {}", p.status.as_str())
                                }));
                        }
                    }
                }
                Err(e) => {
                    t.status = match &e {
                        ProviderError::Timeout { .. } => "timeout".into(),
                        ProviderError::Interrupted => "interrupted".into(),
                        _ => "error".into(),
                    };
                    refused_model = refused(&e);
                    match &e {
                        ProviderError::Interrupted => {
                            outcome = Some(Err(AttemptError::Interrupted))
                        }
                        // no other model will do better with the same token
                        ProviderError::Http { status, .. } if *status == 401 || *status == 403 => {
                            outcome = Some(Err(AttemptError::Unauthorized { status: *status }))
                        }
                        _ => {}
                    }
                    t.error = Some(e.to_string());
                }
            }
            t.finished_at = now();
            t.seconds = started.elapsed().as_secs_f64();
            t.http = log;
            budget.spent_usd += t.cost.usd;
            if let Some(err) = &t.error {
                last = format!("{model}: {err}");
            }
            tries.push(t);
            if let Some(o) = outcome {
                return (tries, o);
            }
            if refused_model {
                break;
            }
        }
    }
    (tries, Err(AttemptError::AllFailed { last }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::{Prediction, Status};
    use std::sync::Mutex;

    /// Creates answer from a script; every prediction succeeds at once with one output.
    struct Fake {
        creates: Mutex<Vec<(String, Result<(), u16>)>>,
        script: Mutex<Vec<Result<(), u16>>>,
    }

    impl Provider for Fake {
        fn name(&self) -> &'static str {
            "fake"
        }
        async fn create(
            &self,
            model: &str,
            _input: &Value,
            _log: &mut TryLog,
        ) -> Result<Prediction, ProviderError> {
            let r = self.script.lock().unwrap().remove(0);
            self.creates.lock().unwrap().push((model.into(), r));
            match r {
                Ok(()) => Ok(Prediction {
                    id: "p".into(),
                    status: Status::Succeeded,
                    outputs: vec!["http://x/o.mp4".into()],
                    error: None,
                    predict_time: Some(2.0),
                    version: None,
                }),
                Err(status) => Err(ProviderError::Http {
                    op: "create",
                    what: model.into(),
                    status,
                    body: String::new(),
                }),
            }
        }
        async fn get(&self, _id: &str, _log: &mut TryLog) -> Result<Prediction, ProviderError> {
            unreachable!("predictions finish at once")
        }
        async fn cancel(&self, _id: &str, _log: &mut TryLog) -> Result<(), ProviderError> {
            Ok(())
        }
        async fn download(
            &self,
            _url: &str,
            dest: &Path,
            _log: &mut TryLog,
        ) -> Result<u64, ProviderError> {
            std::fs::write(dest, b"video").unwrap();
            Ok(5)
        }
    }

    fn fake(script: Vec<Result<(), u16>>) -> Fake {
        Fake {
            creates: Mutex::default(),
            script: Mutex::new(script),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_refusing_model_is_left_at_once_and_the_budget_is_checked_first() {
        let d = tempfile::tempdir().unwrap();
        let dest = d.path().join("v.mp4");
        let chain = vec!["a/refuses".to_string(), "b/works".to_string()];
        let prices: PriceTable = serde_json::from_str(
            r#"{"models":{"a/refuses":{"unit":"per_run","usd":1.0},"b/works":{"unit":"per_output_second","usd":0.1}}}"#,
        )
        .unwrap();
        let g = GenericInput {
            prompt: "p".into(),
            duration: Some(4.0),
            ..Default::default()
        };
        let p = fake(vec![Err(422), Ok(())]);
        let mut budget = Budget::default();
        let (tries, r) = generate(
            &p,
            &chain,
            &ModelTable::builtin(),
            &prices,
            &g,
            &dest,
            AttemptOptions::default(),
            &mut budget,
            &CancelFlag::default(),
            &|_| Some(3.0),
        )
        .await;
        let got = r.unwrap();
        assert_eq!(got.model, "b/works");
        assert!(got.fallback_used);
        assert_eq!(
            tries.len(),
            2,
            "one try on the refusing model despite 2 per model"
        );
        assert_eq!(tries[0].status, "error");
        assert!(
            (tries[1].cost.usd - 0.3).abs() < 1e-12,
            "3 measured seconds"
        );
        assert!(
            (tries[1].estimated_cost.usd - 0.4).abs() < 1e-12,
            "4 requested seconds"
        );
        assert!((budget.spent_usd - 0.3).abs() < 1e-12);

        // 0.3 spent, the next estimate is 1.0 (a/refuses per run): over a cap of 1.2
        budget.max_usd = Some(1.2);
        let p = fake(vec![Ok(())]);
        let (tries, r) = generate(
            &p,
            &chain,
            &ModelTable::builtin(),
            &prices,
            &g,
            &dest,
            AttemptOptions::default(),
            &mut budget,
            &CancelFlag::default(),
            &|_| None,
        )
        .await;
        assert!(matches!(r, Err(AttemptError::Budget { .. })));
        assert!(tries.is_empty() && p.creates.lock().unwrap().is_empty());
    }

    #[test]
    fn data_uris_are_redacted() {
        let v = serde_json::json!({"prompt": "p", "start_image": "data:image/png;base64,AAAA"});
        let r = redact_input(&v);
        assert_eq!(r["prompt"], "p");
        assert_eq!(r["start_image"], "data:image/png;base64,<26 characters>");
    }
}
