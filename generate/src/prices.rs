//! Per-model generation prices from `data/prices.json` (built in), extended or replaced per
//! model by a user file (`--prices PATH`, same format).
//!
//! Units: `per_output_second` (seconds of the returned video; billed only for a succeeded
//! prediction), `per_run` (each succeeded prediction), `per_predict_second`
//! (`metrics.predict_time`; billed whatever the outcome, as hosts bill compute time). A model
//! is matched by its `owner/name` (the `:version` is ignored) exactly, else by the longest
//! listed prefix. Unlisted models cost nothing and are flagged `unpriced`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::ProviderError;

pub const BUILTIN_PRICES_JSON: &str = include_str!("../data/prices.json");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    PerOutputSecond,
    PerRun,
    PerPredictSecond,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Price {
    pub unit: Unit,
    pub usd: f64,
    /// Seconds assumed for a `per_predict_second` model before it ran (for `--max-cost`).
    #[serde(default)]
    pub estimate_seconds: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PriceTable {
    pub models: BTreeMap<String, Price>,
}

/// What a finished (or failed) prediction cost.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Cost {
    pub usd: f64,
    pub unit: Option<Unit>,
    /// Seconds billed (output or predict seconds), when the unit is per second.
    pub billed_seconds: Option<f64>,
    pub unpriced: bool,
}

/// Assumed predict seconds when a per-predict-second model gives no estimate.
pub const DEFAULT_ESTIMATE_SECONDS: f64 = 60.0;

impl PriceTable {
    pub fn builtin() -> Self {
        serde_json::from_str(BUILTIN_PRICES_JSON)
            .expect("data/prices.json is checked by a unit test")
    }

    pub fn with_overrides(path: &Path) -> Result<Self, ProviderError> {
        let bad = |reason: String| {
            ProviderError::Config(format!("price file {}: {reason}", path.display()))
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        let user: PriceTable = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        for (name, p) in &user.models {
            if !(p.usd.is_finite() && p.usd >= 0.0) {
                return Err(bad(format!("model {name}: usd must be a number >= 0")));
            }
        }
        let mut t = Self::builtin();
        t.models.extend(user.models);
        Ok(t)
    }

    pub fn lookup(&self, model: &str) -> Option<&Price> {
        let base = model.split(':').next().unwrap_or(model);
        self.models.get(base).or_else(|| {
            self.models
                .iter()
                .filter(|(n, _)| base.starts_with(n.as_str()))
                .max_by_key(|(n, _)| n.len())
                .map(|(_, p)| p)
        })
    }

    /// The most a run of `model` is expected to cost, before it runs.
    pub fn estimate(&self, model: &str, requested_seconds: Option<f64>) -> Cost {
        match self.lookup(model) {
            None => Cost {
                usd: 0.0,
                unit: None,
                billed_seconds: None,
                unpriced: true,
            },
            Some(p) => {
                let secs = match p.unit {
                    Unit::PerRun => None,
                    Unit::PerOutputSecond => Some(requested_seconds.unwrap_or(5.0)),
                    Unit::PerPredictSecond => {
                        Some(p.estimate_seconds.unwrap_or(DEFAULT_ESTIMATE_SECONDS))
                    }
                };
                Cost {
                    usd: p.usd * secs.unwrap_or(1.0),
                    unit: Some(p.unit),
                    billed_seconds: secs,
                    unpriced: false,
                }
            }
        }
    }

    /// The cost of a finished prediction. `output_seconds` is the downloaded video's duration
    /// (or the requested one when it could not be measured).
    pub fn actual(
        &self,
        model: &str,
        succeeded: bool,
        output_seconds: Option<f64>,
        predict_time: Option<f64>,
    ) -> Cost {
        match self.lookup(model) {
            None => Cost {
                usd: 0.0,
                unit: None,
                billed_seconds: None,
                unpriced: true,
            },
            Some(p) => {
                let (usd, secs) = match p.unit {
                    Unit::PerRun => (if succeeded { p.usd } else { 0.0 }, None),
                    Unit::PerOutputSecond => {
                        let s = if succeeded {
                            output_seconds.unwrap_or(0.0)
                        } else {
                            0.0
                        };
                        (p.usd * s, Some(s))
                    }
                    Unit::PerPredictSecond => {
                        let s = predict_time.unwrap_or(0.0);
                        (p.usd * s, Some(s))
                    }
                };
                Cost {
                    usd,
                    unit: Some(p.unit),
                    billed_seconds: secs,
                    unpriced: false,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_parses_and_units_apply() {
        let t = PriceTable::builtin();
        let k = t.actual("kling/kling-v1", true, Some(5.0), Some(100.0));
        assert!((k.usd - 0.25).abs() < 1e-12);
        assert_eq!(t.actual("kling/kling-v1", false, Some(5.0), None).usd, 0.0);
        let s = t.actual("stability-ai/sdxl:39ed52f2", false, None, Some(10.0));
        assert!((s.usd - 0.00725).abs() < 1e-12);
        assert!((t.estimate("stability-ai/sdxl", None).usd - 0.00725).abs() < 1e-12);
        assert!((t.estimate("black-forest-labs/flux-schnell", None).usd - 0.003).abs() < 1e-12);
        assert!(t.actual("someone/else", true, Some(5.0), None).unpriced);
    }

    #[test]
    fn overrides() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("p.json");
        std::fs::write(
            &p,
            r#"{"models":{"me/model":{"unit":"per_run","usd":0.5},"kling/kling-v1":{"unit":"per_run","usd":1.0}}}"#,
        )
        .unwrap();
        let t = PriceTable::with_overrides(&p).unwrap();
        assert_eq!(t.estimate("me/model", None).usd, 0.5);
        assert_eq!(t.estimate("kling/kling-v1", Some(10.0)).usd, 1.0);
        std::fs::write(&p, r#"{"models":{"x/y":{"unit":"per_run","usd":-1}}}"#).unwrap();
        assert!(PriceTable::with_overrides(&p).is_err());
        std::fs::write(&p, r#"{"models":{"x/y":{"unit":"per_hour","usd":1}}}"#).unwrap();
        assert!(PriceTable::with_overrides(&p).is_err());
    }
}
