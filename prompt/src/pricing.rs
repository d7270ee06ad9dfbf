//! Per-model token prices, from `data/prices.json` (built in) or a user file.
//!
//! The file maps model names to `input_per_1m` / `output_per_1m` (USD per million tokens) and
//! `context_tokens`. A model is matched exactly, else by the longest listed name that is a prefix of
//! it (`gpt-4-turbo-2024-04-09` uses `gpt-4-turbo`). Unlisted models cost 0 and are flagged `unpriced`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::InputError;

/// The built-in table.
pub const DEFAULT_PRICES_JSON: &str = include_str!("../data/prices.json");
/// Context window assumed for models missing from the table.
pub const DEFAULT_CONTEXT_TOKENS: u64 = 8192;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct ModelPrice {
    pub input_per_1m: f64,
    pub output_per_1m: f64,
    #[serde(default)]
    pub context_tokens: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PriceTable {
    pub models: BTreeMap<String, ModelPrice>,
}

impl PriceTable {
    pub fn builtin() -> Self {
        serde_json::from_str(DEFAULT_PRICES_JSON)
            .expect("data/prices.json is checked by a unit test")
    }

    /// The built-in table with the entries of `path` added or replaced.
    pub fn with_overrides(path: &Path) -> Result<Self, InputError> {
        let text = std::fs::read_to_string(path).map_err(|e| InputError::Prices {
            path: path.into(),
            reason: e.to_string(),
        })?;
        let user: PriceTable = serde_json::from_str(&text).map_err(|e| InputError::Prices {
            path: path.into(),
            reason: e.to_string(),
        })?;
        for (name, p) in &user.models {
            if !(p.input_per_1m >= 0.0 && p.output_per_1m >= 0.0) {
                return Err(InputError::Prices {
                    path: path.into(),
                    reason: format!("model {name}: prices must be >= 0"),
                });
            }
        }
        let mut table = Self::builtin();
        table.models.extend(user.models);
        Ok(table)
    }

    pub fn lookup(&self, model: &str) -> Option<&ModelPrice> {
        if let Some(p) = self.models.get(model) {
            return Some(p);
        }
        self.models
            .iter()
            .filter(|(name, _)| model.starts_with(name.as_str()))
            .max_by_key(|(name, _)| name.len())
            .map(|(_, p)| p)
    }

    /// Cost in USD, or `None` when the model is not in the table.
    pub fn cost(&self, model: &str, prompt_tokens: u64, completion_tokens: u64) -> Option<f64> {
        self.lookup(model).map(|p| {
            prompt_tokens as f64 / 1e6 * p.input_per_1m
                + completion_tokens as f64 / 1e6 * p.output_per_1m
        })
    }

    pub fn context_tokens(&self, model: &str) -> u64 {
        self.lookup(model)
            .and_then(|p| p.context_tokens)
            .unwrap_or(DEFAULT_CONTEXT_TOKENS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_parses_and_prices_gpt4_turbo() {
        let t = PriceTable::builtin();
        let c = t.cost("gpt-4-turbo", 1_000_000, 1_000_000).unwrap();
        assert!((c - 40.0).abs() < 1e-9);
    }

    #[test]
    fn lookup_longest_prefix() {
        let t = PriceTable::builtin();
        assert_eq!(t.lookup("gpt-4o-mini-2024").unwrap().input_per_1m, 0.15);
        assert_eq!(
            t.lookup("gpt-4-turbo-2024-04-09").unwrap().input_per_1m,
            10.0
        );
        assert!(t.lookup("llama3").is_none());
        assert_eq!(t.context_tokens("llama3"), DEFAULT_CONTEXT_TOKENS);
    }

    #[test]
    fn overrides_replace_and_extend() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("p.json");
        std::fs::write(
            &p,
            r#"{"models":{"llama3":{"input_per_1m":1.0,"output_per_1m":2.0}}}"#,
        )
        .unwrap();
        let t = PriceTable::with_overrides(&p).unwrap();
        assert_eq!(t.cost("llama3", 1_000_000, 0), Some(1.0));
        assert!(t.lookup("gpt-4").is_some());
        std::fs::write(&p, "{").unwrap();
        assert!(PriceTable::with_overrides(&p).is_err());
    }
}
