//! Scoring generated videos in process with `vbench-scorer`: every requested dimension is loaded
//! once; a dimension that is not implemented in this build or whose weights are missing is
//! listed as skipped with the reason (never dropped silently). Prompt dimensions get the
//! generation prompt; appearance_style gets the style phrase the prompt ends with, or is
//! reported as not applicable for that video.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;
use vbench_scorer::dimensions::{self, Dimension, VideoInput};
use vbench_scorer::evaluate::{score_video, DimResult, NoProgress};
use vbench_scorer::{prompts, scores, ModelHub, VideoJob};

/// The rule the ranking uses (written into the trace).
pub const RANKING_RULE: &str = "vbench_scorer::scores::per_video_total: each dimension's per-video value normalised with VBench's scripts/constant.py (min, max, weight; imaging_quality / 100 first), weighted mean per group, then (4 x quality + 1 x semantic) / 5, or the one group present";

#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub dimension: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct VideoScores {
    /// Per-video value of each dimension that scored (VBench's `video_results`).
    pub scores: BTreeMap<String, f64>,
    /// The ranking score ([`RANKING_RULE`]); `None` when no dimension scored.
    pub total: Option<f64>,
    /// Dimensions that failed on this video, with the reason.
    pub errors: BTreeMap<String, String>,
    /// Dimensions that do not apply to this video (e.g. no style phrase).
    pub not_applicable: BTreeMap<String, String>,
    pub seconds: f64,
}

pub struct Scorer {
    hub: ModelHub,
    loaded: Vec<Box<dyn Dimension>>,
    pub requested: Vec<String>,
    pub skipped: Vec<Skipped>,
}

impl Scorer {
    /// Loads what it can of `requested` (empty = every dimension VBench has).
    pub fn new(hub: ModelHub, requested: &[String]) -> Result<Self, String> {
        let requested: Vec<String> = if requested.is_empty() {
            dimensions::ALL.iter().map(|s| s.to_string()).collect()
        } else {
            requested.to_vec()
        };
        let mut loaded = Vec::new();
        let mut skipped = Vec::new();
        for d in &requested {
            if !dimensions::ALL.contains(&d.as_str()) {
                return Err(format!(
                    "unknown dimension `{d}` (VBench's: {})",
                    dimensions::ALL.join(", ")
                ));
            }
            if !dimensions::IMPLEMENTED.contains(&d.as_str()) {
                skipped.push(Skipped {
                    dimension: d.clone(),
                    reason: "not implemented in this build".into(),
                });
                continue;
            }
            match hub
                .check_available(d)
                .and_then(|_| dimensions::load(d, &hub))
            {
                Ok(dim) => loaded.push(dim),
                Err(e) => skipped.push(Skipped {
                    dimension: d.clone(),
                    reason: e.to_string(),
                }),
            }
        }
        Ok(Self {
            hub,
            loaded,
            requested,
            skipped,
        })
    }

    pub fn scored_dimensions(&self) -> Vec<String> {
        self.loaded.iter().map(|d| d.name().to_string()).collect()
    }

    pub fn device(&self) -> String {
        self.hub.runtime.device_name()
    }

    pub fn warnings(&self) -> Vec<String> {
        self.hub.take_warnings()
    }

    pub fn score(&self, path: &Path, prompt: &str) -> VideoScores {
        let t0 = std::time::Instant::now();
        let style = prompts::style_from_prompt(prompt);
        let mut out = VideoScores::default();
        let dims: Vec<&dyn Dimension> = self
            .loaded
            .iter()
            .filter(|d| {
                if d.name() == "appearance_style" && style.is_none() {
                    out.not_applicable.insert(
                        d.name().into(),
                        "the prompt ends in none of VBench's style phrases".into(),
                    );
                    false
                } else {
                    true
                }
            })
            .map(|d| d.as_ref())
            .collect();
        if !dims.is_empty() {
            let job = VideoJob {
                path: path.to_path_buf(),
                input: VideoInput {
                    display_path: path.display().to_string(),
                    prompt: Some(prompt.to_string()),
                    style,
                    meta: None,
                    ..Default::default()
                },
                dimensions: dims.iter().map(|d| d.name().to_string()).collect(),
            };
            for (name, r) in score_video(&job, &dims, &NoProgress) {
                match r {
                    DimResult::Ok { record, .. } => {
                        match record.get("video_results").and_then(|v| v.as_f64()) {
                            Some(v) if v.is_finite() => {
                                out.scores.insert(name, v);
                            }
                            _ => {
                                out.errors.insert(name, "no finite per-video value".into());
                            }
                        }
                    }
                    DimResult::Err { error } => {
                        out.errors.insert(name, error);
                    }
                }
            }
        }
        let vals: Vec<(&str, f64)> = out.scores.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        out.total = scores::per_video_total(&vals);
        out.seconds = t0.elapsed().as_secs_f64();
        out
    }
}
