//! `create-storyboard`: the plan ([`vbench_prompt::storyboard_create`]), one start and one end
//! frame per clip generated with the image model chain (as `generate-images` does, one
//! prediction each), and the storyboard folder:
//!
//! * `narrative.md`: the unified narrative document;
//! * `frames/clip_NN_start.png`, `frames/clip_NN_end.png`;
//! * `storyboard_metadata.json`: exactly what `enhance-video-prompt --storyboard` and
//!   `generate-videos --storyboard` read ([`vbench_prompt::storyboard::load`]): the
//!   `unified_narrative_path` and per clip `clip_number`, `motion_description`,
//!   `camera_movement`, `shot_size`, `perspective`, `lens_type`, `start_frame_path`,
//!   `end_frame_path` (relative paths), plus the frame prompts;
//! * `storyboard_trace.json`: prompt, plan record (LLM or offline), every prediction, costs;
//! * `frames_journal.json` ([`FRAMES_JOURNAL`], only in a [`Hooks::run_dir`]): each finished
//!   frame (clip, start/end, prompt, file, tries with their cost), rewritten atomically after
//!   each one, so that a resumed run ([`Hooks::resume`]) reuses them instead of creating
//!   (paying) them again.

use std::path::PathBuf;

use serde_json::{json, Value};
use vbench_prompt::storyboard_create::{PlanRecord, StoryboardPlan};

use crate::attempt::{self, AttemptOptions, Budget};
use crate::images::to_png;
use crate::models::{GenericInput, ModelTable};
use crate::prices::PriceTable;
use crate::provider::{CancelFlag, Provider};
use crate::videos::{write_atomic, RunError, Ui};

pub const METADATA_FILE: &str = "storyboard_metadata.json";
pub const FRAMES_JOURNAL: &str = "frames_journal.json";

/// How a caller (the `feedback-loop` workflow) runs the storyboard: in a fixed folder, resuming
/// the frames an interrupted run in that folder had finished.
#[derive(Default)]
pub struct Hooks<'a> {
    /// The run folder (created if missing) instead of a timestamped one under `output_dir`; the
    /// frames are journaled there ([`FRAMES_JOURNAL`]).
    pub run_dir: Option<PathBuf>,
    /// Reuse the frames recorded in `run_dir`'s [`FRAMES_JOURNAL`] (same clip, frame and
    /// prompt, file still there): neither created nor paid again.
    pub resume: bool,
    /// Called after each finished frame with the image cost so far (reused frames included).
    pub on_frame: Option<&'a (dyn Fn(f64) + Sync)>,
}

fn journal_cost(entries: &[Value]) -> f64 {
    entries
        .iter()
        .flat_map(|p| p["tries"].as_array().cloned().unwrap_or_default())
        .filter_map(|t| t["cost"]["usd"].as_f64())
        .sum()
}

fn read_journal(path: &std::path::Path) -> Result<Vec<Value>, RunError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(text_err(path, e)),
    };
    let v: Value = serde_json::from_str(&text).map_err(|e| {
        RunError::Input(format!(
            "{}: not a frames journal ({e}); move the stage folder away to start it again",
            path.display()
        ))
    })?;
    Ok(v["frames"].as_array().cloned().unwrap_or_default())
}

#[derive(Debug, Clone)]
pub struct Options {
    pub prompt: String,
    pub output_dir: PathBuf,
    pub model: String,
    pub fallback_models: Vec<String>,
    pub aspect_ratio: Option<String>,
    pub seed: Option<u64>,
    pub max_cost: Option<f64>,
    pub attempt: AttemptOptions,
}

pub struct Outcome {
    pub dir: PathBuf,
    pub metadata: PathBuf,
    pub complete: bool,
    pub cost_usd: f64,
}

fn text_err(p: &std::path::Path, e: impl std::fmt::Display) -> RunError {
    RunError::Write {
        path: p.into(),
        reason: e.to_string(),
    }
}

#[allow(clippy::too_many_arguments)]
pub async fn run<P: Provider>(
    provider: &P,
    plan: &StoryboardPlan,
    record: &PlanRecord,
    opts: &Options,
    prices: &PriceTable,
    table: &ModelTable,
    cancel: &CancelFlag,
    ui: &dyn Ui,
) -> Result<Outcome, RunError> {
    run_with(
        provider,
        plan,
        record,
        opts,
        prices,
        table,
        cancel,
        ui,
        &Hooks::default(),
    )
    .await
}

/// [`run`] with [`Hooks`].
#[allow(clippy::too_many_arguments)]
pub async fn run_with<P: Provider>(
    provider: &P,
    plan: &StoryboardPlan,
    record: &PlanRecord,
    opts: &Options,
    prices: &PriceTable,
    table: &ModelTable,
    cancel: &CancelFlag,
    ui: &dyn Ui,
    hooks: &Hooks<'_>,
) -> Result<Outcome, RunError> {
    let dir = crate::videos::hook_run_dir(hooks.run_dir.as_deref(), &opts.output_dir)?;
    let frames = dir.join("frames");
    std::fs::create_dir_all(&frames).map_err(|e| text_err(&frames, e))?;
    let journal_path = dir.join(FRAMES_JOURNAL);
    let earlier = if hooks.resume {
        read_journal(&journal_path)?
    } else {
        Vec::new()
    };
    let mut journal: Vec<Value> = Vec::new();
    write_atomic(&dir.join("narrative.md"), &plan.narrative)?;
    let mut chain = vec![opts.model.clone()];
    for m in &opts.fallback_models {
        if !chain.contains(m) {
            chain.push(m.clone());
        }
    }
    let mut budget = Budget {
        max_usd: opts.max_cost,
        spent_usd: 0.0,
    };
    let mut clips = Vec::new();
    let mut predictions: Vec<Value> = Vec::new();
    let mut failures: Vec<Value> = Vec::new();
    let mut k = 0u64;
    for (i, c) in plan.clips.iter().enumerate() {
        let mut paths = Vec::new();
        for (which, prompt) in [
            ("start", &c.start_frame_prompt),
            ("end", &c.end_frame_prompt),
        ] {
            let rel = format!("frames/clip_{:02}_{which}.png", i + 1);
            let reused = earlier.iter().find(|e| {
                e["clip"] == json!(i + 1)
                    && e["frame"] == which
                    && e["prompt"] == json!(prompt)
                    && e["file"] == json!(rel)
                    && dir.join(&rel).is_file()
            });
            k += 1;
            if let Some(e) = reused {
                ui.notice(&format!(
                    "clip {}: {which} frame reused from the interrupted run",
                    i + 1
                ));
                predictions.push(json!({"clip": i + 1, "frame": which, "prompt": prompt,
                    "tries": e["tries"], "reused": true}));
                budget.spent_usd += journal_cost(std::slice::from_ref(e));
                journal.push(e.clone());
                paths.push(rel);
                continue;
            }
            ui.notice(&format!("clip {}: generating the {which} frame", i + 1));
            let generic = GenericInput {
                prompt: prompt.clone(),
                aspect_ratio: opts.aspect_ratio.clone(),
                seed: opts.seed.map(|s| s + k - 1),
                ..GenericInput::default()
            };
            let dl = dir.join(format!(".download_{:02}_{which}", i + 1));
            let (tries, res) = attempt::generate(
                provider,
                &chain,
                table,
                prices,
                &generic,
                &dl,
                opts.attempt,
                &mut budget,
                cancel,
                &|_| None,
            )
            .await;
            let entry = json!({"clip": i + 1, "frame": which, "prompt": prompt, "tries": tries});
            predictions.push(entry.clone());
            match res
                .map_err(|e| e.to_string())
                .and_then(|g| to_png(&g.file, &dir.join(&rel)))
            {
                Ok(_) => {
                    let mut e = entry;
                    e["file"] = json!(rel);
                    journal.push(e);
                    if hooks.run_dir.is_some() {
                        let text = serde_json::to_string_pretty(&json!({"frames": journal}))
                            .map_err(|e| text_err(&journal_path, e))?;
                        write_atomic(&journal_path, &(text + "\n"))?;
                    }
                    if let Some(f) = hooks.on_frame {
                        f(journal_cost(&predictions));
                    }
                    paths.push(rel)
                }
                Err(e) => {
                    ui.notice(&format!("clip {} {which} frame failed: {e}", i + 1));
                    failures.push(json!({"clip": i + 1, "frame": which, "error": e}));
                    paths.push(String::new());
                }
            }
        }
        clips.push(json!({
            "clip_number": i + 1,
            "motion_description": c.motion_description,
            "camera_movement": c.camera_movement,
            "shot_size": c.shot_size,
            "perspective": c.perspective,
            "lens_type": c.lens_type,
            "start_frame_path": paths[0],
            "end_frame_path": paths[1],
            "start_frame_prompt": c.start_frame_prompt,
            "end_frame_prompt": c.end_frame_prompt,
        }));
    }
    let cost = journal_cost(&predictions);
    let meta = json!({
        "prompt": opts.prompt,
        "unified_narrative_path": "narrative.md",
        "clips": clips,
        "image_model": opts.model,
        "created_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    });
    let metadata = dir.join(METADATA_FILE);
    let text = serde_json::to_string_pretty(&meta).map_err(|e| text_err(&metadata, e))?;
    write_atomic(&metadata, &(text + "\n"))?;
    let trace = json!({
        "tool": "create-storyboard",
        "prompt": opts.prompt,
        "plan": record,
        "num_clips": plan.clips.len(),
        "image_model": opts.model,
        "fallback_models": opts.fallback_models,
        "predictions": predictions,
        "failures": failures,
        "cost_usd": {"images": cost, "llm": record.cost_usd, "max_cost": opts.max_cost},
    });
    let tp = dir.join("storyboard_trace.json");
    let text = serde_json::to_string_pretty(&trace).map_err(|e| text_err(&tp, e))?;
    write_atomic(&tp, &(text + "\n"))?;
    Ok(Outcome {
        dir,
        metadata,
        complete: failures.is_empty(),
        cost_usd: cost,
    })
}
