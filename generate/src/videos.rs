//! The `generate-videos` run (epic 9, Story 9.2, Workflow 2).
//!
//! Modes: text-to-video (the prompt file), image-to-video (`--hero-frame` + `--motion-prompt`
//! or the prompt file), storyboard (one generation per clip from its start/end frames and its
//! enhanced motion prompt). Each attempt goes through [`crate::attempt::generate`] (fallback
//! chain, retries, costs), is downloaded as `video_NNN.mp4` (NNN = attempt number), scored in
//! process with [`crate::scoring::Scorer`], and `video_NNN_metadata.json` plus
//! `generation_trace.json` are written at once (atomically). When a group (a round, or a clip)
//! is finished its videos are ranked by the per-video total and renamed so that
//! `video_001.mp4` is the best; the report `index.html` is rewritten.
//!
//! Layout of a run folder `<output-dir>/<YYYYmmdd_HHMMSS>/`:
//! * text/image-to-video: round 1 at the top, later `--interactive` rounds in `round_02/`, …
//! * storyboard: `clip_01/`, `clip_02/`, …
//! * `generation_trace.json`, `index.html`, `posters/` at the top.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;
use serde_json::{json, Value};

use crate::attempt::{self, AttemptError, AttemptOptions, Budget, ModelTry};
use crate::models::{data_uri, GenericInput, ModelTable};
use crate::prices::PriceTable;
use crate::provider::{is_cancelled, CancelFlag, Provider};
use crate::scoring::{Scorer, Skipped, VideoScores, RANKING_RULE};

pub const TRACE_FILE: &str = "generation_trace.json";
/// Most `--interactive` rounds in one run.
pub const MAX_ROUNDS: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Input(String),
    #[error("cannot write {path}: {reason}")]
    Write { path: PathBuf, reason: String },
}

fn werr(path: &Path, e: impl std::fmt::Display) -> RunError {
    RunError::Write {
        path: path.into(),
        reason: e.to_string(),
    }
}

/// Where a hero frame comes from.
#[derive(Debug, Clone)]
pub enum ImageRef {
    Url(String),
    File(PathBuf),
}

impl ImageRef {
    pub fn parse(s: &str) -> Self {
        if s.starts_with("http://") || s.starts_with("https://") {
            Self::Url(s.into())
        } else {
            Self::File(PathBuf::from(s))
        }
    }
    fn describe(&self) -> String {
        match self {
            Self::Url(u) => u.clone(),
            Self::File(p) => p.display().to_string(),
        }
    }
    fn to_input(&self) -> Result<String, RunError> {
        match self {
            Self::Url(u) => Ok(u.clone()),
            Self::File(p) => {
                let bytes = std::fs::read(p).map_err(|e| {
                    RunError::Input(format!("cannot read the image {}: {e}", p.display()))
                })?;
                Ok(data_uri(&bytes, p))
            }
        }
    }
}

#[derive(Debug, Clone)]
pub enum Mode {
    TextToVideo {
        prompt: String,
    },
    ImageToVideo {
        prompt: String,
        hero_frame: ImageRef,
        motion_prompt: Option<String>,
    },
    Storyboard {
        storyboard: vbench_prompt::storyboard::Storyboard,
        /// Enhanced motion prompts by clip id (from `storyboard_enhanced_motion_prompts.json`).
        enhanced: std::collections::BTreeMap<String, String>,
        enhanced_source: Option<PathBuf>,
    },
}

impl Mode {
    pub fn name(&self) -> &'static str {
        match self {
            Mode::TextToVideo { .. } => "text-to-video",
            Mode::ImageToVideo { .. } => "image-to-video",
            Mode::Storyboard { .. } => "storyboard",
        }
    }
    /// The key of `default_fallbacks` in `models.json`.
    pub fn fallback_key(&self) -> &'static str {
        match self {
            Mode::TextToVideo { .. } => "text-to-video",
            _ => "image-to-video",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Options {
    pub mode: Mode,
    pub prompt_file: Option<PathBuf>,
    pub attempts: u32,
    pub negative_prompt: Option<String>,
    pub output_dir: PathBuf,
    pub model: String,
    /// The whole chain after the requested model.
    pub fallback_models: Vec<String>,
    pub duration: Option<f64>,
    pub aspect_ratio: Option<String>,
    /// Attempt `i` (1-based) uses `seed + i - 1`.
    pub seed: Option<u64>,
    pub interactive: bool,
    pub max_cost: Option<f64>,
    pub attempt: AttemptOptions,
    pub provider_name: String,
    pub api_base: String,
    /// Options as given, for the trace.
    pub settings: Value,
}

/// Console output. `ask` returns `None` when there is no more input.
pub trait Ui {
    fn notice(&self, msg: &str);
    fn step(&self, msg: &str);
    fn print(&self, msg: &str);
    fn ask(&self, question: &str) -> Option<String>;
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct VideoEntry {
    pub attempt: u32,
    pub rank: Option<u32>,
    /// Relative to the run folder.
    pub file: Option<String>,
    pub metadata_file: Option<String>,
    pub poster: Option<String>,
    /// `generating`, `downloaded`, `scored`, `unscored`, `failed`.
    pub status: String,
    pub error: Option<String>,
    pub model: Option<String>,
    pub prediction_id: Option<String>,
    pub fallback_used: bool,
    pub output_url: Option<String>,
    pub bytes: Option<u64>,
    pub output_seconds: Option<f64>,
    pub seed: Option<u64>,
    pub vbench_scores: Option<VideoScores>,
    pub cost_usd: f64,
    pub system_selected_best: bool,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub generation_seconds: f64,
    pub scoring_seconds: f64,
    /// Every prediction made for this attempt (model, fallback, HTTP tries, cost).
    pub generation: Vec<ModelTry>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Feedback {
    pub round: usize,
    /// `accept`, `pick`, `feedback`, `end`.
    pub action: String,
    pub video: Option<String>,
    pub text: Option<String>,
    pub at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Group {
    /// `round_01`, … or `clip_01`, …
    pub name: String,
    /// Relative folder ("" = the run folder).
    pub folder: String,
    pub prompt: String,
    pub negative_prompt: Option<String>,
    pub hero_frame_path: Option<String>,
    pub clip: Option<Value>,
    pub videos: Vec<VideoEntry>,
    /// The system-selected best (rank 1).
    pub best: Option<String>,
    /// What the user chose (interactive), else the system's pick.
    pub selected: Option<String>,
    pub selected_by: Option<String>,
    pub ranked: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Timings {
    pub generation_seconds: f64,
    pub scoring_seconds: f64,
    pub report_seconds: f64,
    pub total_seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CostSummary {
    pub total_usd: f64,
    pub max_cost_usd: Option<f64>,
    pub predictions: usize,
    pub succeeded: usize,
    pub unpriced_models: Vec<String>,
    pub per_attempt: Vec<Value>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Trace {
    pub tool: String,
    pub version: String,
    /// `running`, `completed`, `partial`, `failed`, `interrupted`, `stopped_max_cost`.
    pub status: String,
    pub mode: String,
    pub created_at: String,
    pub updated_at: String,
    pub run_dir: String,
    pub prompt_file: Option<String>,
    pub prompts: Value,
    pub negative_prompt: Option<String>,
    pub model: String,
    pub fallback_models: Vec<String>,
    pub provider: Value,
    pub settings: Value,
    pub hero_frame_path: Option<String>,
    pub storyboard: Option<Value>,
    pub scoring: Value,
    pub groups: Vec<Group>,
    pub feedback: Vec<Feedback>,
    pub costs: CostSummary,
    pub timings: Timings,
    pub failures: Vec<Value>,
    pub notes: Vec<String>,
}

pub struct Outcome {
    pub run_dir: PathBuf,
    pub trace: Trace,
}

/// What a caller (the `feedback-loop` stage runner) adds to a run: a fixed run folder instead of
/// a new timestamped one, reuse of the generations that an interrupted run of that same folder
/// had finished (they were paid for: they are neither created nor charged again), and a call
/// after each finished generation.
#[derive(Default)]
pub struct Hooks<'a> {
    pub run_dir: Option<PathBuf>,
    /// Reuse the finished generations recorded in `run_dir`'s `generation_trace.json`.
    pub resume: bool,
    pub on_progress: Option<&'a (dyn Fn(&GenerationProgress) + Sync)>,
}

/// Reported through [`Hooks::on_progress`] after each finished generation.
#[derive(Debug, Clone, Serialize)]
pub struct GenerationProgress {
    /// Generations finished (downloaded or failed) in this run, reused ones included.
    pub finished: usize,
    /// Generations with a file.
    pub succeeded: usize,
    pub cost_usd: f64,
}

/// The run folder a [`Hooks`] asks for (created), or a new timestamped one under `parent`.
pub(crate) fn hook_run_dir(fixed: Option<&Path>, parent: &Path) -> Result<PathBuf, RunError> {
    match fixed {
        Some(d) => {
            std::fs::create_dir_all(d).map_err(|e| werr(d, e))?;
            Ok(d.canonicalize().unwrap_or_else(|_| d.to_path_buf()))
        }
        None => {
            let t = vbench_prompt::trace::TraceDir::create_timestamped(parent)
                .map_err(|e| RunError::Input(e.to_string()))?;
            Ok(t.path()
                .canonicalize()
                .unwrap_or_else(|_| t.path().to_path_buf()))
        }
    }
}

/// The finished entries of an earlier run's trace in `run_dir`, by (group name, number), each
/// file moved to `<folder>/.resume_NNN.<ext>` (so that ranking names cannot collide).
/// `list` is the trace's array of groups as `(group name, folder, entries)`.
pub(crate) fn stage_finished<E: serde::de::DeserializeOwned>(
    run_dir: &Path,
    groups: Vec<(String, String, Vec<Value>)>,
    number_key: &str,
    ext: &str,
) -> Result<std::collections::HashMap<(String, u32), E>, RunError> {
    let mut out = std::collections::HashMap::new();
    for (name, folder, entries) in groups {
        let dir = run_dir.join(&folder);
        for v in entries {
            let Some(n) = v.get(number_key).and_then(Value::as_u64) else {
                continue;
            };
            let status = v.get("status").and_then(Value::as_str).unwrap_or("");
            if matches!(status, "generating" | "failed" | "") {
                continue;
            }
            let staged = dir.join(format!(".resume_{n:03}.{ext}"));
            let file = v
                .get("file")
                .and_then(Value::as_str)
                .map(|f| run_dir.join(f));
            if !staged.is_file() {
                match file {
                    Some(f) if f.is_file() => {
                        std::fs::rename(&f, &staged).map_err(|e| werr(&f, e))?
                    }
                    _ => continue,
                }
            }
            if let Ok(e) = serde_json::from_value::<E>(v) {
                out.insert((name.clone(), n as u32), e);
            }
        }
    }
    Ok(out)
}

fn read_trace_groups(run_dir: &Path) -> Vec<(String, String, Vec<Value>)> {
    let Ok(text) = std::fs::read_to_string(run_dir.join(TRACE_FILE)) else {
        return Vec::new();
    };
    let Ok(v) = serde_json::from_str::<Value>(&text) else {
        return Vec::new();
    };
    v.get("groups")
        .and_then(Value::as_array)
        .map(|gs| {
            gs.iter()
                .map(|g| {
                    (
                        g["name"].as_str().unwrap_or("").to_string(),
                        g["folder"].as_str().unwrap_or("").to_string(),
                        g["videos"].as_array().cloned().unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Writes through a temporary file and a rename, so a reader never sees half a file.
pub fn write_atomic(path: &Path, text: &str) -> Result<(), RunError> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, text).map_err(|e| werr(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| werr(path, e))
}

fn write_json_atomic(path: &Path, v: &impl Serialize) -> Result<(), RunError> {
    let text = serde_json::to_string_pretty(v).map_err(|e| werr(path, e))?;
    write_atomic(path, &(text + "\n"))
}

/// A video's duration from its container (frames / fps), for per-second prices.
pub fn measure_seconds(p: &Path) -> Option<f64> {
    let m = vbench_scorer::video::probe(p, false).ok()?;
    (m.declared_frames > 0 && m.avg_fps > 0.0).then(|| m.declared_frames as f64 / m.avg_fps)
}

fn rel(run_dir: &Path, p: &Path) -> String {
    p.strip_prefix(run_dir)
        .unwrap_or(p)
        .to_string_lossy()
        .into_owned()
}

/// The prompt with the reviewer's feedback folded in for the next round.
pub fn fold_feedback(prompt: &str, feedback: &str) -> String {
    format!(
        "{}\n\nRevise according to the reviewer's feedback: {}",
        prompt.trim(),
        feedback.trim()
    )
}

/// The prompt of a storyboard clip: its enhanced motion prompt when one was given, else its
/// motion description with the camera metadata.
pub fn clip_prompt(
    clip: &vbench_prompt::storyboard::Clip,
    enhanced: &std::collections::BTreeMap<String, String>,
) -> String {
    if let Some(p) = enhanced.get(&clip.clip_id) {
        return p.clone();
    }
    let camera: Vec<&str> = [
        clip.camera_movement.as_str(),
        clip.shot_size.as_str(),
        clip.perspective.as_str(),
        clip.lens_type.as_str(),
    ]
    .into_iter()
    .filter(|s| !s.is_empty())
    .collect();
    if camera.is_empty() {
        clip.motion_description.clone()
    } else {
        format!(
            "{} Camera: {}.",
            clip.motion_description.trim_end_matches('.').to_string() + ".",
            camera.join(", ")
        )
    }
}

/// Reads `storyboard_enhanced_motion_prompts.json` (from `enhance-video-prompt --storyboard`):
/// `{"storyboard_enhanced_prompts": {clip_id: prompt}}`.
pub fn read_enhanced_prompts(
    path: &Path,
) -> Result<std::collections::BTreeMap<String, String>, RunError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| RunError::Input(format!("cannot read {}: {e}", path.display())))?;
    let v: Value = serde_json::from_str(&text).map_err(|e| {
        RunError::Input(format!(
            "{} is not the JSON that enhance-video-prompt --storyboard writes: {e}",
            path.display()
        ))
    })?;
    let map = v
        .get("storyboard_enhanced_prompts")
        .and_then(Value::as_object)
        .ok_or_else(|| {
            RunError::Input(format!(
                "{} has no storyboard_enhanced_prompts object",
                path.display()
            ))
        })?;
    Ok(map
        .iter()
        .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
        .collect())
}

struct Ctx<'a, P: Provider> {
    provider: &'a P,
    scorer: Option<&'a Scorer>,
    opts: &'a Options,
    prices: &'a PriceTable,
    table: &'a ModelTable,
    cancel: &'a CancelFlag,
    ui: &'a dyn Ui,
    run_dir: PathBuf,
    trace: Trace,
    budget: Budget,
    started: Instant,
    stop: Option<String>,
    reuse: std::collections::HashMap<(String, u32), VideoEntry>,
    on_progress: Option<&'a (dyn Fn(&GenerationProgress) + Sync)>,
}

impl<P: Provider> Ctx<'_, P> {
    fn report_progress(&self) {
        if let Some(f) = self.on_progress {
            let all = self.trace.groups.iter().flat_map(|g| &g.videos);
            let finished = all.clone().filter(|v| v.finished_at.is_some()).count();
            let succeeded = all.filter(|v| v.file.is_some()).count();
            f(&GenerationProgress {
                finished,
                succeeded,
                cost_usd: self.trace.costs.total_usd,
            });
        }
    }

    /// Puts back a generation an interrupted run of this folder had finished.
    fn reuse_entry(
        &mut self,
        gi: usize,
        mut e: VideoEntry,
        folder: &Path,
        name: &str,
        dest: &Path,
    ) -> Result<(), RunError> {
        let staged = folder.join(format!(".resume_{:03}.mp4", e.attempt));
        std::fs::rename(&staged, dest).map_err(|x| werr(&staged, x))?;
        e.file = Some(rel(&self.run_dir, dest));
        e.rank = None;
        e.system_selected_best = false;
        e.metadata_file = Some(rel(
            &self.run_dir,
            &folder.join(format!("{name}_metadata.json")),
        ));
        if e.vbench_scores.is_none() {
            if let Some(scorer) = self.scorer {
                let prompt = self.trace.groups[gi].prompt.clone();
                let s = tokio::task::block_in_place(|| scorer.score(dest, &prompt));
                e.scoring_seconds = s.seconds;
                e.status = if s.total.is_some() || s.errors.is_empty() {
                    "scored".into()
                } else {
                    "scoring_failed".into()
                };
                e.vbench_scores = Some(s);
            }
        }
        self.ui.notice(&format!(
            "[{}] attempt {}: reusing the video the interrupted run finished (not generated again)",
            self.trace.groups[gi].name, e.attempt
        ));
        self.trace.notes.push(format!(
            "{} attempt {}: reused from the interrupted run; its cost ({:.4} USD) was paid once",
            self.trace.groups[gi].name, e.attempt, e.cost_usd
        ));
        let g = self.trace.groups[gi].clone();
        if let Some(mf) = &e.metadata_file {
            write_json_atomic(&self.run_dir.join(mf), &self.metadata(&g, &e))?;
        }
        self.trace.groups[gi].videos.push(e);
        self.save()?;
        self.report_progress();
        Ok(())
    }

    fn chain(&self) -> Vec<String> {
        let mut c = vec![self.opts.model.clone()];
        for m in &self.opts.fallback_models {
            if !c.contains(m) {
                c.push(m.clone());
            }
        }
        c
    }

    fn refresh_costs(&mut self) {
        let mut per = Vec::new();
        let mut preds = 0;
        let mut ok = 0;
        let mut unpriced: Vec<String> = Vec::new();
        let mut total = 0.0;
        for g in &self.trace.groups {
            for v in &g.videos {
                for t in &v.generation {
                    preds += 1;
                    if t.status == "succeeded" {
                        ok += 1;
                    }
                    total += t.cost.usd;
                    if t.cost.unpriced && !unpriced.contains(&t.model) {
                        unpriced.push(t.model.clone());
                    }
                }
                per.push(
                    json!({"group": g.name, "attempt": v.attempt, "cost_usd": v.cost_usd,
                    "predictions": v.generation.len()}),
                );
            }
        }
        self.trace.costs = CostSummary {
            total_usd: total,
            max_cost_usd: self.opts.max_cost,
            predictions: preds,
            succeeded: ok,
            unpriced_models: unpriced,
            per_attempt: per,
        };
    }

    fn save(&mut self) -> Result<(), RunError> {
        self.refresh_costs();
        self.trace.updated_at = now();
        self.trace.timings.total_seconds = self.started.elapsed().as_secs_f64();
        write_json_atomic(&self.run_dir.join(TRACE_FILE), &self.trace)
    }

    fn metadata(&self, g: &Group, v: &VideoEntry) -> Value {
        let mut scores = serde_json::Map::new();
        if let Some(s) = &v.vbench_scores {
            for (k, x) in &s.scores {
                scores.insert(k.clone(), json!(x));
            }
            scores.insert("overall".into(), json!(s.total));
        }
        let last = v.generation.last();
        json!({
            "file_path": v.file,
            "rank": v.rank,
            "system_selected_best": v.system_selected_best,
            "attempt": v.attempt,
            "mode": self.trace.mode,
            "group": g.name,
            "vbench_scores": scores,
            "scoring": {
                "ranking_rule": RANKING_RULE,
                "errors": v.vbench_scores.as_ref().map(|s| &s.errors),
                "not_applicable": v.vbench_scores.as_ref().map(|s| &s.not_applicable),
                "skipped_dimensions": self.trace.scoring.get("skipped_dimensions"),
                "seconds": v.scoring_seconds,
            },
            "generation_params": {
                "prompt": g.prompt,
                "negative_prompt": g.negative_prompt,
                "model": v.model,
                "requested_model": self.opts.model,
                "fallback_used": v.fallback_used,
                "settings": {
                    "input": last.map(|t| &t.input),
                    "dropped_inputs": last.map(|t| &t.dropped_inputs),
                    "duration": self.opts.duration,
                    "aspect_ratio": self.opts.aspect_ratio,
                    "mode": self.trace.mode,
                },
                "seed": v.seed,
                "timestamp": v.finished_at,
                "started_at": v.started_at,
                "cost": {
                    "usd": v.cost_usd,
                    "unit": last.and_then(|t| t.cost.unit),
                    "billed_seconds": last.and_then(|t| t.cost.billed_seconds),
                    "predictions": v.generation.len(),
                },
            },
            "prediction_id": v.prediction_id,
            "output_url": v.output_url,
            "output_seconds": v.output_seconds,
            "bytes": v.bytes,
            "hero_frame_path": g.hero_frame_path,
            "storyboard_clip": g.clip,
            "generation_seconds": v.generation_seconds,
        })
    }

    /// Generates, downloads and scores every attempt of group `gi`, then ranks it.
    async fn run_group(&mut self, gi: usize, generic: GenericInput) -> Result<(), RunError> {
        let folder = self.run_dir.join(&self.trace.groups[gi].folder);
        std::fs::create_dir_all(&folder).map_err(|e| werr(&folder, e))?;
        let chain = self.chain();
        for attempt in 1..=self.opts.attempts {
            if self.stop.is_some() {
                break;
            }
            if is_cancelled(self.cancel) {
                self.stop = Some("interrupted".into());
                break;
            }
            let seed = self.opts.seed.map(|s| s + attempt as u64 - 1);
            let g = GenericInput {
                seed,
                ..generic.clone()
            };
            let name = format!("video_{attempt:03}");
            let dest = folder.join(format!("{name}.mp4"));
            let key = (self.trace.groups[gi].name.clone(), attempt);
            if let Some(prev) = self.reuse.remove(&key) {
                self.reuse_entry(gi, prev, &folder, &name, &dest)?;
                continue;
            }
            self.ui.notice(&format!(
                "[{}] attempt {attempt}/{}: generating with {}",
                self.trace.groups[gi].name, self.opts.attempts, chain[0]
            ));
            let mut entry = VideoEntry {
                attempt,
                rank: None,
                file: None,
                metadata_file: None,
                poster: None,
                status: "generating".into(),
                error: None,
                model: None,
                prediction_id: None,
                fallback_used: false,
                output_url: None,
                bytes: None,
                output_seconds: None,
                seed,
                vbench_scores: None,
                cost_usd: 0.0,
                system_selected_best: false,
                started_at: now(),
                finished_at: None,
                generation_seconds: 0.0,
                scoring_seconds: 0.0,
                generation: Vec::new(),
            };
            self.trace.groups[gi].videos.push(entry.clone());
            self.save()?;
            let t0 = Instant::now();
            let (tries, res) = attempt::generate(
                self.provider,
                &chain,
                self.table,
                self.prices,
                &g,
                &dest,
                self.opts.attempt,
                &mut self.budget,
                self.cancel,
                &measure_seconds,
            )
            .await;
            entry.generation_seconds = t0.elapsed().as_secs_f64();
            self.trace.timings.generation_seconds += entry.generation_seconds;
            entry.cost_usd = tries.iter().map(|t| t.cost.usd).sum();
            for t in &tries {
                for h in t.http.tries.iter().filter(|h| h.error.is_some()) {
                    self.ui.step(&format!(
                        "  {} {}: {}{}",
                        h.op,
                        h.status
                            .map(|s| format!("HTTP {s}"))
                            .unwrap_or_else(|| "-".into()),
                        h.error.as_deref().unwrap_or(""),
                        h.retry_in_ms
                            .map(|ms| format!(" (retrying in {ms} ms)"))
                            .unwrap_or_default()
                    ));
                }
                if t.fallback {
                    self.ui
                        .step(&format!("  fallback to {}: {}", t.model, t.status));
                }
                if let Some(e) = &t.error {
                    self.ui.step(&format!("  {} {}: {e}", t.model, t.status));
                }
            }
            entry.generation = tries;
            match res {
                Ok(gen) => {
                    if gen.fallback_used {
                        self.ui.notice(&format!(
                            "  {} failed; generated with fallback {}",
                            chain[0], gen.model
                        ));
                    }
                    entry.model = Some(gen.model);
                    entry.prediction_id = Some(gen.prediction_id);
                    entry.fallback_used = gen.fallback_used;
                    entry.output_url = Some(gen.output_url);
                    entry.bytes = Some(gen.bytes);
                    entry.output_seconds = gen.output_seconds;
                    entry.file = Some(rel(&self.run_dir, &dest));
                    entry.status = "downloaded".into();
                    *self.trace.groups[gi]
                        .videos
                        .last_mut()
                        .expect("pushed above") = entry.clone();
                    self.save()?;
                    if let Some(scorer) = self.scorer {
                        self.ui.step(&format!("  scoring {}", dest.display()));
                        let prompt = self.trace.groups[gi].prompt.clone();
                        let s = tokio::task::block_in_place(|| scorer.score(&dest, &prompt));
                        entry.scoring_seconds = s.seconds;
                        self.trace.timings.scoring_seconds += s.seconds;
                        entry.status = if s.total.is_some() || s.errors.is_empty() {
                            "scored".into()
                        } else {
                            "scoring_failed".into()
                        };
                        if s.total.is_none() && !s.errors.is_empty() {
                            let why: Vec<String> =
                                s.errors.iter().map(|(d, e)| format!("{d}: {e}")).collect();
                            entry.error = Some(format!("scoring failed: {}", why.join("; ")));
                            self.trace
                                .failures
                                .push(json!({"group": self.trace.groups[gi].name,
                                "attempt": attempt, "stage": "scoring", "error": entry.error}));
                        }
                        entry.vbench_scores = Some(s);
                    } else {
                        entry.status = "unscored".into();
                    }
                    entry.metadata_file = Some(rel(
                        &self.run_dir,
                        &folder.join(format!("{name}_metadata.json")),
                    ));
                }
                Err(e) => {
                    entry.status = "failed".into();
                    entry.error = Some(e.to_string());
                    self.ui.notice(&format!("  attempt {attempt} failed: {e}"));
                    match &e {
                        AttemptError::Budget { .. } => self.stop = Some("stopped_max_cost".into()),
                        AttemptError::Interrupted => self.stop = Some("interrupted".into()),
                        AttemptError::Unauthorized { .. } => self.stop = Some("failed".into()),
                        _ => {}
                    }
                    let stage = match &e {
                        AttemptError::Download(_) => "download",
                        AttemptError::Budget { .. } => "max_cost",
                        AttemptError::Interrupted => "interrupted",
                        AttemptError::AllFailed { .. } => "generation",
                        AttemptError::Unauthorized { .. } => "authorization",
                    };
                    self.trace
                        .failures
                        .push(json!({"group": self.trace.groups[gi].name,
                        "attempt": attempt, "stage": stage, "error": e.to_string()}));
                }
            }
            entry.finished_at = Some(now());
            let g_snapshot = self.trace.groups[gi].clone();
            if let Some(mf) = &entry.metadata_file {
                let md = self.metadata(&g_snapshot, &entry);
                write_json_atomic(&self.run_dir.join(mf), &md)?;
            }
            *self.trace.groups[gi]
                .videos
                .last_mut()
                .expect("pushed above") = entry;
            self.save()?;
            self.report_progress();
        }
        self.rank_group(gi)?;
        self.save()
    }

    /// Sorts by total (best first; unscored after scored, then by attempt) and renames files
    /// so that `video_001.mp4` is the best.
    fn rank_group(&mut self, gi: usize) -> Result<(), RunError> {
        let folder = self.run_dir.join(&self.trace.groups[gi].folder);
        let mut have: Vec<usize> = self.trace.groups[gi]
            .videos
            .iter()
            .enumerate()
            .filter(|(_, v)| v.file.is_some())
            .map(|(i, _)| i)
            .collect();
        let total = |i: usize| {
            self.trace.groups[gi].videos[i]
                .vbench_scores
                .as_ref()
                .and_then(|s| s.total)
        };
        have.sort_by(|&a, &b| match (total(a), total(b)) {
            (Some(x), Some(y)) => y.total_cmp(&x).then(a.cmp(&b)),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => a.cmp(&b),
        });
        // two passes through temporary names: no rename can overwrite another video
        for &i in &have {
            let v = &self.trace.groups[gi].videos[i];
            let from = self.run_dir.join(v.file.as_deref().expect("filtered"));
            let tmp = folder.join(format!(".ranking_{:03}.mp4", v.attempt));
            std::fs::rename(&from, &tmp).map_err(|e| werr(&from, e))?;
            if let Some(mf) = &v.metadata_file {
                let _ = std::fs::remove_file(self.run_dir.join(mf));
            }
        }
        for (r, &i) in have.iter().enumerate() {
            let rank = r as u32 + 1;
            let attempt_no = self.trace.groups[gi].videos[i].attempt;
            let tmp = folder.join(format!(".ranking_{attempt_no:03}.mp4"));
            let dest = folder.join(format!("video_{rank:03}.mp4"));
            std::fs::rename(&tmp, &dest).map_err(|e| werr(&tmp, e))?;
            let v = &mut self.trace.groups[gi].videos[i];
            v.rank = Some(rank);
            v.system_selected_best = rank == 1;
            v.file = Some(rel(&self.run_dir, &dest));
            v.metadata_file = Some(rel(
                &self.run_dir,
                &folder.join(format!("video_{rank:03}_metadata.json")),
            ));
        }
        let g = &mut self.trace.groups[gi];
        g.videos
            .sort_by_key(|v| (v.rank.unwrap_or(u32::MAX), v.attempt));
        g.best = g
            .videos
            .first()
            .filter(|v| v.rank == Some(1))
            .and_then(|v| v.file.clone());
        g.selected = g.best.clone();
        g.selected_by = g.best.as_ref().map(|_| "system".to_string());
        g.ranked = true;
        let snapshot = g.clone();
        for v in &snapshot.videos {
            if let Some(mf) = &v.metadata_file {
                write_json_atomic(&self.run_dir.join(mf), &self.metadata(&snapshot, v))?;
            }
        }
        Ok(())
    }

    fn print_group(&self, gi: usize) {
        let g = &self.trace.groups[gi];
        let dims: Vec<String> = self
            .scorer
            .map(|s| s.scored_dimensions())
            .unwrap_or_default();
        let short = |d: &str| -> String {
            d.split('_')
                .map(|w| w.chars().take(5).collect::<String>())
                .collect::<Vec<_>>()
                .join("_")
        };
        let mut out = String::new();
        out.push_str(&format!(
            "\n{} — ranked videos ({} of {} attempts downloaded)\n",
            g.name,
            g.videos.iter().filter(|v| v.file.is_some()).count(),
            g.videos.len()
        ));
        let mut head = format!("{:>4}  {:>7}", "rank", "total");
        for d in &dims {
            head.push_str(&format!("  {:>11}", short(d)));
        }
        head.push_str(&format!("  {:>9}  {:<28}  file", "cost_usd", "model"));
        out.push_str(&head);
        out.push('\n');
        for v in g.videos.iter().filter(|v| v.file.is_some()) {
            let s = v.vbench_scores.as_ref();
            let mut line = format!(
                "{:>4}  {:>7}",
                v.rank.map(|r| r.to_string()).unwrap_or_default(),
                s.and_then(|s| s.total)
                    .map(|t| format!("{t:.4}"))
                    .unwrap_or_else(|| "-".into())
            );
            for d in &dims {
                let x = s
                    .and_then(|s| s.scores.get(d))
                    .map(|x| format!("{x:.4}"))
                    .unwrap_or_else(|| "-".into());
                line.push_str(&format!("  {x:>11}"));
            }
            line.push_str(&format!(
                "  {:>9.4}  {:<28}  {}",
                v.cost_usd,
                v.model.as_deref().unwrap_or("-"),
                self.run_dir.join(v.file.as_deref().unwrap_or("")).display()
            ));
            if v.system_selected_best {
                line.push_str("  <- system-selected best");
            }
            out.push_str(&line);
            out.push('\n');
        }
        for v in g.videos.iter().filter(|v| v.file.is_none()) {
            out.push_str(&format!(
                "   -  attempt {} failed: {}\n",
                v.attempt,
                v.error.as_deref().unwrap_or("unknown")
            ));
        }
        self.ui.print(&out);
    }

    fn write_report(&mut self) -> Result<PathBuf, RunError> {
        let t0 = Instant::now();
        let p = crate::report::write(&self.run_dir, &mut self.trace)?;
        self.trace.timings.report_seconds += t0.elapsed().as_secs_f64();
        Ok(p)
    }
}

/// Runs everything; the trace and the report are on disk whatever happens after the run
/// folder exists. Scoring runs on the calling worker through `tokio::task::block_in_place`, so
/// call this from a multi-threaded tokio runtime.
pub async fn run<P: Provider>(
    provider: &P,
    scorer: Option<&Scorer>,
    opts: &Options,
    prices: &PriceTable,
    table: &ModelTable,
    cancel: &CancelFlag,
    ui: &dyn Ui,
) -> Result<Outcome, RunError> {
    run_with(
        provider,
        scorer,
        opts,
        prices,
        table,
        cancel,
        ui,
        &Hooks::default(),
    )
    .await
}

/// [`run`] with [`Hooks`]: a fixed folder, resume, progress calls.
#[allow(clippy::too_many_arguments)]
pub async fn run_with<P: Provider>(
    provider: &P,
    scorer: Option<&Scorer>,
    opts: &Options,
    prices: &PriceTable,
    table: &ModelTable,
    cancel: &CancelFlag,
    ui: &dyn Ui,
    hooks: &Hooks<'_>,
) -> Result<Outcome, RunError> {
    if opts.attempts == 0 {
        return Err(RunError::Input("--num-attempts must be at least 1".into()));
    }
    // every image is read before the run folder exists, so that a bad input leaves nothing
    let hero_input = match &opts.mode {
        Mode::ImageToVideo { hero_frame, .. } => Some(hero_frame.to_input()?),
        _ => None,
    };
    let mut clip_images = Vec::new();
    if let Mode::Storyboard { storyboard, .. } = &opts.mode {
        for clip in &storyboard.clips {
            clip_images.push((
                ImageRef::File(clip.start_frame_path.clone()).to_input()?,
                ImageRef::File(clip.end_frame_path.clone()).to_input()?,
            ));
        }
    }
    // absolute, so that the paths printed for manual viewing work from anywhere
    let run_dir = hook_run_dir(hooks.run_dir.as_deref(), &opts.output_dir)?;
    let reuse: std::collections::HashMap<(String, u32), VideoEntry> = if hooks.resume {
        stage_finished(&run_dir, read_trace_groups(&run_dir), "attempt", "mp4")?
    } else {
        Default::default()
    };
    let reused_usd: f64 = reuse.values().map(|v| v.cost_usd).sum();
    let (prompts, hero, storyboard) = match &opts.mode {
        Mode::TextToVideo { prompt } => (json!({"original": prompt}), None, None),
        Mode::ImageToVideo {
            prompt,
            hero_frame,
            motion_prompt,
        } => (
            json!({"original": prompt, "motion_prompt": motion_prompt}),
            Some(hero_frame.describe()),
            None,
        ),
        Mode::Storyboard {
            storyboard,
            enhanced,
            enhanced_source,
        } => (
            json!({"storyboard_enhanced_prompts": enhanced,
                   "enhanced_prompts_file": enhanced_source.as_ref().map(|p| p.display().to_string())}),
            None,
            Some(json!({
                "storyboard_path": storyboard.path.display().to_string(),
                "unified_narrative_path": storyboard.unified_narrative_path.display().to_string(),
                "clips": storyboard.clips.len(),
            })),
        ),
    };
    let scoring = match scorer {
        Some(s) => json!({
            "enabled": true,
            "device": s.device(),
            "dimensions_requested": s.requested,
            "dimensions_scored": s.scored_dimensions(),
            "skipped_dimensions": s.skipped,
            "ranking_rule": RANKING_RULE,
        }),
        None => json!({"enabled": false, "reason": "--skip-scoring",
            "skipped_dimensions": Vec::<Skipped>::new(),
            "ranking_rule": "attempt order (no scores)"}),
    };
    let mut notes = Vec::new();
    if let Some(s) = scorer {
        notes.extend(s.warnings());
    }
    let mut chain = vec![opts.model.clone()];
    chain.extend(
        opts.fallback_models
            .iter()
            .filter(|m| **m != opts.model)
            .cloned(),
    );
    let trace = Trace {
        tool: "generate-videos".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        status: "running".into(),
        mode: opts.mode.name().into(),
        created_at: now(),
        updated_at: now(),
        run_dir: run_dir.display().to_string(),
        prompt_file: opts.prompt_file.as_ref().map(|p| p.display().to_string()),
        prompts,
        negative_prompt: opts.negative_prompt.clone(),
        model: opts.model.clone(),
        fallback_models: chain[1..].to_vec(),
        provider: json!({"name": opts.provider_name, "api_base": opts.api_base}),
        settings: opts.settings.clone(),
        hero_frame_path: hero,
        storyboard,
        scoring,
        groups: Vec::new(),
        feedback: Vec::new(),
        costs: CostSummary {
            total_usd: 0.0,
            max_cost_usd: opts.max_cost,
            predictions: 0,
            succeeded: 0,
            unpriced_models: Vec::new(),
            per_attempt: Vec::new(),
        },
        timings: Timings {
            generation_seconds: 0.0,
            scoring_seconds: 0.0,
            report_seconds: 0.0,
            total_seconds: 0.0,
        },
        failures: Vec::new(),
        notes,
    };
    let mut cx = Ctx {
        provider,
        scorer,
        opts,
        prices,
        table,
        cancel,
        ui,
        run_dir: run_dir.clone(),
        trace,
        budget: Budget {
            max_usd: opts.max_cost,
            spent_usd: reused_usd,
        },
        started: Instant::now(),
        stop: None,
        reuse,
        on_progress: hooks.on_progress,
    };
    cx.save()?;
    ui.notice(&format!("run folder: {}", run_dir.display()));
    let base = GenericInput {
        prompt: String::new(),
        negative_prompt: opts.negative_prompt.clone(),
        duration: opts.duration,
        aspect_ratio: opts.aspect_ratio.clone(),
        image: None,
        end_image: None,
        seed: None,
    };
    let result = match &opts.mode {
        Mode::Storyboard {
            storyboard,
            enhanced,
            ..
        } => {
            let mut r = Ok(());
            for (clip, (image, end_image)) in storyboard.clips.iter().zip(clip_images) {
                if cx.stop.is_some() {
                    break;
                }
                let prompt = clip_prompt(clip, enhanced);
                cx.trace.groups.push(Group {
                    name: clip.folder.clone(),
                    folder: clip.folder.clone(),
                    prompt: prompt.clone(),
                    negative_prompt: opts.negative_prompt.clone(),
                    hero_frame_path: Some(clip.start_frame_path.display().to_string()),
                    clip: Some(json!({
                        "clip_id": clip.clip_id,
                        "motion_description": clip.motion_description,
                        "enhanced_motion_prompt": enhanced.get(&clip.clip_id),
                        "camera_movement": clip.camera_movement,
                        "shot_size": clip.shot_size,
                        "perspective": clip.perspective,
                        "lens_type": clip.lens_type,
                        "start_frame_path": clip.start_frame_path.display().to_string(),
                        "end_frame_path": clip.end_frame_path.display().to_string(),
                    })),
                    videos: Vec::new(),
                    best: None,
                    selected: None,
                    selected_by: None,
                    ranked: false,
                });
                let gi = cx.trace.groups.len() - 1;
                let g = GenericInput {
                    prompt,
                    image: Some(image),
                    end_image: Some(end_image),
                    ..base.clone()
                };
                r = cx.run_group(gi, g).await;
                if r.is_err() {
                    break;
                }
                cx.print_group(gi);
                cx.write_report()?;
                cx.save()?;
            }
            r
        }
        Mode::TextToVideo { prompt } | Mode::ImageToVideo { prompt, .. } => {
            let (mut prompt, image) = match &opts.mode {
                Mode::ImageToVideo { motion_prompt, .. } => (
                    motion_prompt.clone().unwrap_or_else(|| prompt.clone()),
                    hero_input.clone(),
                ),
                _ => (prompt.clone(), None),
            };
            let mut r = Ok(());
            for round in 1..=MAX_ROUNDS {
                let folder = if round == 1 {
                    String::new()
                } else {
                    format!("round_{round:02}")
                };
                cx.trace.groups.push(Group {
                    name: format!("round_{round:02}"),
                    folder,
                    prompt: prompt.clone(),
                    negative_prompt: opts.negative_prompt.clone(),
                    hero_frame_path: cx.trace.hero_frame_path.clone(),
                    clip: None,
                    videos: Vec::new(),
                    best: None,
                    selected: None,
                    selected_by: None,
                    ranked: false,
                });
                let gi = cx.trace.groups.len() - 1;
                let g = GenericInput {
                    prompt: prompt.clone(),
                    image: image.clone(),
                    ..base.clone()
                };
                r = cx.run_group(gi, g).await;
                if r.is_err() {
                    break;
                }
                cx.print_group(gi);
                let report = cx.write_report()?;
                cx.save()?;
                if !opts.interactive || cx.stop.is_some() {
                    break;
                }
                ui.print(&format!("report: {}", report.display()));
                let n = cx.trace.groups[gi]
                    .videos
                    .iter()
                    .filter(|v| v.rank.is_some())
                    .count();
                let answer = ui.ask(&format!(
                    "Enter = accept the system-selected best; 1-{n} = pick that video; anything else = feedback for another round: "
                ));
                let mut fb = Feedback {
                    round,
                    action: "end".into(),
                    video: None,
                    text: None,
                    at: now(),
                };
                let Some(a) = answer else {
                    cx.trace.feedback.push(fb);
                    cx.save()?;
                    break;
                };
                let a = a.trim().to_string();
                let pick = a.parse::<usize>().ok().filter(|k| (1..=n).contains(k));
                if a.is_empty() || a.eq_ignore_ascii_case("a") || a.eq_ignore_ascii_case("accept") {
                    fb.action = "accept".into();
                    fb.video = cx.trace.groups[gi].best.clone();
                    cx.trace.groups[gi].selected_by = Some("user".into());
                    cx.trace.feedback.push(fb);
                    cx.save()?;
                    break;
                } else if let Some(k) = pick {
                    let file = cx.trace.groups[gi].videos[k - 1].file.clone();
                    fb.action = "pick".into();
                    fb.video = file.clone();
                    cx.trace.groups[gi].selected = file;
                    cx.trace.groups[gi].selected_by = Some("user".into());
                    cx.trace.feedback.push(fb);
                    cx.save()?;
                    break;
                } else {
                    fb.action = "feedback".into();
                    fb.text = Some(a.clone());
                    cx.trace.feedback.push(fb);
                    prompt = fold_feedback(&prompt, &a);
                    cx.save()?;
                    ui.notice(&format!(
                        "feedback saved; round {} with the revised prompt",
                        round + 1
                    ));
                }
            }
            r
        }
    };
    let all: Vec<&VideoEntry> = cx.trace.groups.iter().flat_map(|g| &g.videos).collect();
    let ok = all.iter().filter(|v| v.file.is_some()).count();
    let failed_any = all
        .iter()
        .any(|v| v.file.is_none() || v.status == "scoring_failed");
    cx.trace.status = match (&cx.stop, ok, failed_any) {
        (Some(s), _, _) => s.clone(),
        (None, 0, _) => "failed".into(),
        (None, _, true) => "partial".into(),
        (None, _, false) => "completed".into(),
    };
    if let Err(e) = &result {
        cx.trace.status = "failed".into();
        cx.trace.notes.push(e.to_string());
    }
    let report = cx.write_report();
    cx.save()?;
    result?;
    report?;
    Ok(Outcome {
        run_dir,
        trace: cx.trace,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feedback_is_folded() {
        let p = fold_feedback("A cat.", " slower camera ");
        assert!(p.starts_with("A cat.\n\n"));
        assert!(p.ends_with("slower camera"));
    }
}
