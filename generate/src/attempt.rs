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
#[derive(Debug, Clone, Serialize)]
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
                    if matches!(e, ProviderError::Interrupted) {
                        outcome = Some(Err(AttemptError::Interrupted));
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

    #[test]
    fn data_uris_are_redacted() {
        let v = serde_json::json!({"prompt": "p", "start_image": "data:image/png;base64,AAAA"});
        let r = redact_input(&v);
        assert_eq!(r["prompt"], "p");
        assert_eq!(r["start_image"], "data:image/png;base64,<26 characters>");
    }
}
