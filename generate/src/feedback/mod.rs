//! `feedback-loop` (epic 9, Story 9.3, Workflow 3): image prompt → image generation →
//! (storyboard) → video prompt → video generation, each stage calling the other tools'
//! libraries in process, in a loop folder `<output-dir>/<YYYYmmdd_HHMMSS>/`:
//!
//! * `stage_01_image_prompt/`, `stage_02_image_generation/`, `stage_03_storyboard/` (only with
//!   `storyboard_clips`), `stage_04_video_prompt/`, `stage_05_video_generation/` — each laid
//!   out exactly as the tool's own run folder (`enhance-image-prompt`, `generate-images`,
//!   `create-storyboard`, `enhance-video-prompt`, `generate-videos`);
//! * `checkpoint.json` ([`state::Checkpoint`]): written atomically after every stage and after
//!   every finished generation inside stages 2, 3 and 5;
//! * `workflow_summary.json`, `index.html` ([`summary`]);
//! * `retries/`: earlier tries of a stage (interactive retry/feedback, or a prompt stage that
//!   was interrupted), kept because they were paid for.
//!
//! Stage 5 is image-to-video from stage 2's best image when the workflow has images, one
//! generation per clip from stage 3's storyboard when there is one, else text-to-video.
//!
//! Resume continues from the first stage that is not completed. A generation stage reuses the
//! images/videos its interrupted run had finished (not created nor charged again), the
//! storyboard stage its recorded plan and finished frames; a generation in flight when the
//! process died is made again. Prompt stages are run again (their partial folder is set aside
//! under `retries/`), but the LLM calls the interrupted run had finished are answered from its
//! journal (`<stage folder>.llm_journal.json` while the stage runs, [`LLM_JOURNAL`] in the stage
//! folder once it completes) as long as the requests are the same, so they are not paid again.

pub mod state;
pub mod summary;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::{json, Value};
use vbench_prompt::agents::{Agents, Backend};
use vbench_prompt::enhance::{LoopOptions, Progress, RunOptions, Tool};
use vbench_prompt::journal::ChatJournal;
use vbench_scorer::image_scores::{ImageScorer, SkippedMetric};

use crate::attempt::AttemptOptions;
use crate::images::{self, NoVqa};
use crate::models::ModelTable;
use crate::prices::PriceTable;
use crate::provider::{is_cancelled, CancelFlag, Provider};
use crate::scoring::Scorer;
use crate::videos::{self, fold_feedback, GenerationProgress, Hooks, ImageRef, Mode, Ui};
use state::{now, FeedbackRecord, SUMMARY_FILE};
pub use state::{Checkpoint, LoopError, Plan, Stage, StageRecord, Workflow};

/// A prompt stage's journal of finished LLM calls ([`ChatJournal`]), in its stage folder.
pub const LLM_JOURNAL: &str = "llm_journal.json";

/// Most tries of one stage in `--interactive` mode.
pub const MAX_STAGE_TRIES: u32 = 10;

/// What the run needs that is not stored in the checkpoint.
pub struct Env<'a, P: Provider> {
    pub agents: &'a Agents,
    pub provider: &'a P,
    pub video_scorer: Option<&'a Scorer>,
    pub image_scorer: Option<&'a ImageScorer>,
    pub image_skipped: &'a [SkippedMetric],
    pub prices: &'a PriceTable,
    pub table: &'a ModelTable,
    pub attempt: AttemptOptions,
    pub cancel: &'a CancelFlag,
    pub ui: &'a (dyn Ui + Sync),
    pub provider_name: String,
    pub api_base: String,
}

pub enum Start {
    New {
        plan: Box<Plan>,
        output_dir: PathBuf,
        interactive: bool,
    },
    /// A `checkpoint.json`, or the loop folder holding one.
    Resume {
        checkpoint: PathBuf,
        interactive: bool,
    },
}

pub struct Outcome {
    pub loop_dir: PathBuf,
    /// `completed`, `interrupted`, `failed`.
    pub status: String,
    pub checkpoint: Checkpoint,
    pub summary: Value,
    pub console: String,
}

struct UiProgress<'a>(&'a (dyn Ui + Sync));

impl Progress for UiProgress<'_> {
    fn notice(&self, msg: &str) {
        self.0.notice(&format!("note: {msg}"));
    }
    fn step(&self, msg: &str) {
        self.0.step(msg);
    }
}

/// What one try of a stage produced.
struct StageResult {
    /// `completed`, `interrupted`, `failed`.
    status: String,
    outputs: Value,
    scores: Value,
    files: Vec<String>,
    cost_usd: f64,
    error: Option<String>,
}

impl StageResult {
    fn failed(e: impl std::fmt::Display, cost_usd: f64) -> Self {
        Self {
            status: "failed".into(),
            outputs: Value::Null,
            scores: Value::Null,
            files: Vec::new(),
            cost_usd,
            error: Some(e.to_string()),
        }
    }
    fn interrupted(cost_usd: f64) -> Self {
        Self {
            status: "interrupted".into(),
            error: Some("interrupted".into()),
            ..Self::failed("", cost_usd)
        }
    }
}

struct Loop<'a, P: Provider> {
    env: &'a Env<'a, P>,
    dir: PathBuf,
    cp: Mutex<Checkpoint>,
    interactive: bool,
}

fn rel_to(dir: &Path, p: &Path) -> String {
    p.strip_prefix(dir)
        .unwrap_or(p)
        .to_string_lossy()
        .into_owned()
}

fn werr(p: &Path, e: impl std::fmt::Display) -> LoopError {
    LoopError::Write {
        path: p.into(),
        reason: e.to_string(),
    }
}

impl<P: Provider> Loop<'_, P> {
    fn cp(&self) -> std::sync::MutexGuard<'_, Checkpoint> {
        self.cp.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn save(&self) -> Result<(), LoopError> {
        self.cp().save(&self.dir)
    }

    fn record(&self, s: Stage) -> StageRecord {
        self.cp()
            .stage(s)
            .cloned()
            .unwrap_or_else(|| StageRecord::new(s))
    }

    fn update(&self, s: Stage, f: impl FnOnce(&mut StageRecord)) {
        let mut cp = self.cp();
        if let Some(r) = cp.stages.iter_mut().find(|r| r.stage == s) {
            f(r);
        }
    }

    /// A completed earlier stage's output (a string).
    fn out(&self, s: Stage, key: &str) -> Option<String> {
        self.cp()
            .stage(s)
            .filter(|r| r.status == "completed")
            .and_then(|r| r.outputs.get(key))
            .and_then(Value::as_str)
            .map(String::from)
    }

    /// USD left under `--max-cost` for the whole workflow.
    fn budget_left(&self) -> Option<f64> {
        let cp = self.cp();
        cp.plan.max_cost.map(|m| (m - cp.total_cost()).max(0.0))
    }

    /// Moves a stage folder (a finished try being redone, or an interrupted partial one) to
    /// `retries/<folder>_<label>`; returns its new relative path.
    fn set_aside(&self, s: Stage, label: &str) -> Result<Option<String>, LoopError> {
        let from = self.dir.join(s.folder());
        if !from.exists() {
            return Ok(None);
        }
        let retries = self.dir.join("retries");
        std::fs::create_dir_all(&retries).map_err(|e| werr(&retries, e))?;
        let mut n = 1;
        let to = loop {
            let t = retries.join(format!("{}_{label}_{n:02}", s.folder()));
            if !t.exists() {
                break t;
            }
            n += 1;
        };
        std::fs::rename(&from, &to).map_err(|e| werr(&from, e))?;
        Ok(Some(rel_to(&self.dir, &to)))
    }

    /// Moves a tool's timestamped run folder to the stage folder.
    fn adopt(&self, run_dir: &Path, s: Stage) -> Result<PathBuf, LoopError> {
        let dest = self.dir.join(s.folder());
        std::fs::rename(run_dir, &dest).map_err(|e| werr(run_dir, e))?;
        let _ = std::fs::remove_dir(self.dir.join(".work"));
        Ok(dest)
    }

    fn prompt_with_feedback(&self, base: String, s: Stage) -> String {
        match self.record(s).feedback {
            Some(fb) => fold_feedback(&base, &fb),
            None => base,
        }
    }

    /// Where a prompt stage's LLM calls are journaled while it runs (moved into the stage folder
    /// as [`LLM_JOURNAL`] when it completes).
    fn journal_path(&self, s: Stage) -> PathBuf {
        self.dir.join(format!("{}.{LLM_JOURNAL}", s.folder()))
    }

    async fn prompt_stage(&self, s: Stage, resume: bool) -> StageResult {
        let env = self.env;
        let plan = self.cp().plan.clone();
        let video = s == Stage::VideoPrompt;
        let best_image = self.out(Stage::ImageGeneration, "best_image");
        let storyboard_meta = self.out(Stage::Storyboard, "storyboard");
        let storyboard = match (&storyboard_meta, video) {
            (Some(m), true) => match vbench_prompt::storyboard::load(&self.dir.join(m)) {
                Ok(sb) => Some(sb),
                Err(e) => return StageResult::failed(e, 0.0),
            },
            _ => None,
        };
        let prompt = self.prompt_with_feedback(plan.prompt.clone(), s);
        self.update(s, |r| {
            r.inputs = json!({
                "prompt": prompt,
                "max_iterations": if video { plan.max_iterations_video } else { plan.max_iterations_image },
                "threshold": plan.threshold,
                "image_to_video": video && best_image.is_some() && storyboard.is_none(),
                "hero_frame": if video { best_image.clone() } else { None },
                "storyboard": if video { storyboard_meta.clone() } else { None },
                "feedback": r.feedback,
            })
        });
        let opts = RunOptions {
            tool: if video { Tool::Video } else { Tool::Image },
            prompt: if storyboard.is_some() {
                None
            } else {
                Some(prompt)
            },
            image_to_video: video && best_image.is_some() && storyboard.is_none(),
            storyboard,
            loop_opts: LoopOptions {
                max_iterations: if video {
                    plan.max_iterations_video
                } else {
                    plan.max_iterations_image
                },
                threshold: plan.threshold,
                ..LoopOptions::default()
            },
            output_dir: self.dir.join(".work"),
            notices: Vec::new(),
        };
        // every finished LLM call is journaled; a resumed stage replays them instead of paying
        // them again (the HTTP backend only: offline calls cost nothing)
        let journal_path = self.journal_path(s);
        let journal = if matches!(env.agents.backend, Backend::Http(_)) {
            match ChatJournal::open(&journal_path, resume) {
                Ok(j) => Some(Arc::new(j)),
                Err(e) => return StageResult::failed(e, 0.0),
            }
        } else {
            None
        };
        env.agents.set_journal(journal.clone());
        let res = vbench_prompt::run(env.agents, &opts, &UiProgress(env.ui)).await;
        env.agents.set_journal(None);
        if let Some(n) = journal.as_ref().map(|j| j.replayed()).filter(|n| *n > 0) {
            env.ui.notice(&format!(
                "note: {n} LLM call(s) replayed from the interrupted run's journal (not paid again)"
            ));
        }
        let out = match res {
            Ok(o) => o,
            Err(f) => {
                if let Some(d) = &f.trace_dir {
                    let _ = self.adopt(d, s);
                }
                if matches!(f.error, vbench_prompt::PromptError::Interrupted) {
                    env.cancel.store(true, std::sync::atomic::Ordering::SeqCst);
                    return StageResult::interrupted(0.0);
                }
                return StageResult::failed(f.error, 0.0);
            }
        };
        let folder = match self.adopt(&out.trace_dir, s) {
            Ok(f) => f,
            Err(e) => return StageResult::failed(e, 0.0),
        };
        if journal_path.is_file() {
            let to = folder.join(LLM_JOURNAL);
            if let Err(e) = std::fs::rename(&journal_path, &to) {
                return StageResult::failed(werr(&journal_path, e), 0.0);
            }
        }
        let v = serde_json::to_value(&out.summary).unwrap_or(Value::Null);
        let cost = v["cost"]["total_cost_usd"].as_f64().unwrap_or(0.0);
        let sb_file = folder.join("storyboard_enhanced_motion_prompts.json");
        let mut files = vec![rel_to(&self.dir, &folder.join("prompt_trace_summary.json"))];
        let sb_rel = sb_file.is_file().then(|| rel_to(&self.dir, &sb_file));
        files.extend(sb_rel.clone());
        StageResult {
            status: "completed".into(),
            outputs: json!({
                "final_prompt": v.get("final_prompt"),
                "motion_prompt": v.get("motion_prompt"),
                "negative_prompt": v.get("motion").and_then(|m| m.get("negative_prompt")),
                "storyboard_enhanced_prompts_file": sb_rel,
                "stop_reason": v.get("stop_reason"),
                "total_iterations": v.get("total_iterations"),
                "trace_dir": rel_to(&self.dir, &folder),
                "backend": v.get("backend"),
            }),
            scores: v.get("final_score").cloned().unwrap_or(Value::Null),
            files,
            cost_usd: cost,
            error: None,
        }
    }

    /// Records each finished generation of stage `s` in the checkpoint.
    fn progress_hook(&self, s: Stage) -> impl Fn(&GenerationProgress) + Sync + '_ {
        let cp = &self.cp;
        let dir = self.dir.as_path();
        let ui = self.env.ui;
        move |p: &GenerationProgress| {
            let mut cp = cp.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(r) = cp.stages.iter_mut().find(|r| r.stage == s) {
                r.progress = serde_json::to_value(p).ok();
                r.cost_usd = r.earlier_tries_cost_usd + p.cost_usd;
            }
            if let Err(e) = cp.save(dir) {
                ui.notice(&format!("cannot write the checkpoint: {e}"));
            }
        }
    }

    async fn image_stage(&self, resume: bool) -> StageResult {
        let env = self.env;
        let s = Stage::ImageGeneration;
        let plan = self.cp().plan.clone();
        let base = self
            .out(Stage::ImagePrompt, "final_prompt")
            .unwrap_or_else(|| plan.prompt.clone());
        let prompt = self.prompt_with_feedback(base, s);
        self.update(s, |r| {
            r.inputs = json!({"prompt": prompt, "num_image_variations": plan.num_image_variations,
                "model": plan.image_model, "fallback_models": plan.image_fallback_models,
                "feedback": r.feedback});
        });
        let opts = images::Options {
            prompt,
            prompt_file: None,
            variations: plan.num_image_variations,
            negative_prompt: None,
            output_dir: self.dir.clone(),
            model: plan.image_model.clone(),
            fallback_models: plan.image_fallback_models.clone(),
            aspect_ratio: plan.aspect_ratio.clone(),
            seed: plan.seed,
            max_cost: self.budget_left(),
            attempt: env.attempt,
            provider_name: env.provider_name.clone(),
            api_base: env.api_base.clone(),
            settings: json!({"feedback_loop_stage": s.folder()}),
        };
        let hook = self.progress_hook(s);
        let hooks = Hooks {
            run_dir: Some(self.dir.join(s.folder())),
            resume,
            on_progress: Some(&hook),
        };
        let out = match images::run_with(
            env.provider,
            env.image_scorer,
            env.image_skipped,
            None::<&NoVqa>,
            &opts,
            env.prices,
            env.table,
            env.cancel,
            env.ui,
            &hooks,
        )
        .await
        {
            Ok(o) => o,
            Err(e) => return StageResult::failed(e, 0.0),
        };
        let t = &out.trace;
        let cost = t.costs["total_usd"].as_f64().unwrap_or(0.0);
        if t.status == "interrupted" {
            return StageResult::interrupted(cost);
        }
        let folder = s.folder();
        // the system's pick, else the first image (unscored runs keep generation order)
        let best = t
            .best
            .clone()
            .or_else(|| t.images.iter().find_map(|v| v.file.clone()));
        let Some(best) = best else {
            return StageResult::failed(
                format!("no image was generated (status {})", t.status),
                cost,
            );
        };
        let best_entry = t.images.iter().find(|v| v.file.as_deref() == Some(&best));
        StageResult {
            status: "completed".into(),
            outputs: json!({
                "best_image": format!("{folder}/{best}"),
                "images": t.images.iter().filter_map(|v| v.file.as_ref().map(|f| format!("{folder}/{f}"))).collect::<Vec<_>>(),
                "generation_status": t.status,
                "report": format!("{folder}/index.html"),
            }),
            scores: json!({
                "best_image": best_entry.map(|v| &v.scores),
                "combined_rank": best_entry.and_then(|v| v.combined_rank),
            }),
            files: vec![
                format!("{folder}/{best}"),
                format!("{folder}/{}", images::TRACE_FILE),
            ],
            cost_usd: cost,
            error: None,
        }
    }

    async fn storyboard_stage(&self, resume: bool) -> StageResult {
        let env = self.env;
        let s = Stage::Storyboard;
        let plan = self.cp().plan.clone();
        let n = plan.storyboard_clips.unwrap_or(3);
        let base = self
            .out(Stage::ImagePrompt, "final_prompt")
            .unwrap_or_else(|| plan.prompt.clone());
        let prompt = self.prompt_with_feedback(base, s);
        self.update(s, |r| {
            r.inputs = json!({"prompt": prompt, "clips": n, "model": plan.image_model, "feedback": r.feedback});
        });
        // the plan (a paid LLM call) is recorded in the checkpoint: a resumed stage reuses it,
        // so that its frame prompts, and with them the finished frames, stay valid
        let recorded = if resume {
            self.record(s).progress.and_then(|p| {
                let sb = serde_json::from_value(p.get("plan")?.clone()).ok()?;
                let rec = serde_json::from_value(p.get("plan_record")?.clone()).ok()?;
                (p.get("prompt")? == &json!(prompt)).then_some((sb, rec))
            })
        } else {
            None
        };
        let (sb_plan, record) = match recorded {
            Some(x) => {
                env.ui
                    .notice("note: the storyboard plan is reused from the interrupted run");
                x
            }
            None => match vbench_prompt::storyboard_create::plan(env.agents, &prompt, n).await {
                Ok(x) => x,
                Err(e) => return StageResult::failed(e, 0.0),
            },
        };
        let llm_cost = record.cost_usd.unwrap_or(0.0);
        let earlier = self.record(s).earlier_tries_cost_usd;
        self.update(s, |r| {
            r.progress = Some(
                json!({"prompt": prompt, "plan": sb_plan, "plan_record": record,
                "frames_cost_usd": 0.0}),
            );
            r.cost_usd = earlier + llm_cost;
        });
        if let Err(e) = self.save() {
            return StageResult::failed(e, llm_cost);
        }
        let (cp_lock, dir, ui) = (&self.cp, self.dir.as_path(), env.ui);
        let on_frame = move |frames_cost: f64| {
            let mut cp = cp_lock.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(r) = cp.stages.iter_mut().find(|r| r.stage == s) {
                if let Some(p) = r.progress.as_mut() {
                    p["frames_cost_usd"] = json!(frames_cost);
                }
                r.cost_usd = earlier + llm_cost + frames_cost;
            }
            if let Err(e) = cp.save(dir) {
                ui.notice(&format!("cannot write the checkpoint: {e}"));
            }
        };
        let opts = crate::storyboard::Options {
            prompt,
            output_dir: self.dir.clone(),
            model: plan.image_model.clone(),
            fallback_models: plan.image_fallback_models.clone(),
            aspect_ratio: plan.aspect_ratio.clone(),
            seed: plan.seed,
            max_cost: self.budget_left().map(|b| (b - llm_cost).max(0.0)),
            attempt: env.attempt,
        };
        let hooks = crate::storyboard::Hooks {
            run_dir: Some(self.dir.join(s.folder())),
            resume,
            on_frame: Some(&on_frame),
        };
        let out = match crate::storyboard::run_with(
            env.provider,
            &sb_plan,
            &record,
            &opts,
            env.prices,
            env.table,
            env.cancel,
            env.ui,
            &hooks,
        )
        .await
        {
            Ok(o) => o,
            Err(e) => return StageResult::failed(e, llm_cost),
        };
        let cost = out.cost_usd + llm_cost;
        // (out.dir is this folder, canonicalized)
        let folder = self.dir.join(s.folder());
        if is_cancelled(env.cancel) {
            return StageResult::interrupted(cost);
        }
        if !out.complete {
            return StageResult::failed(
                "some storyboard frames could not be generated (see storyboard_trace.json)",
                cost,
            );
        }
        let meta = rel_to(&self.dir, &folder.join(crate::storyboard::METADATA_FILE));
        StageResult {
            status: "completed".into(),
            outputs: json!({"storyboard": meta, "clips": sb_plan.clips.len(),
                "narrative": rel_to(&self.dir, &folder.join("narrative.md"))}),
            scores: Value::Null,
            files: vec![meta],
            cost_usd: cost,
            error: None,
        }
    }

    async fn video_stage(&self, resume: bool) -> StageResult {
        let env = self.env;
        let s = Stage::VideoGeneration;
        let plan = self.cp().plan.clone();
        let fb = self.record(s).feedback;
        let prompt = self
            .out(Stage::VideoPrompt, "final_prompt")
            .unwrap_or_else(|| plan.prompt.clone());
        let prompt = match &fb {
            Some(f) => fold_feedback(&prompt, f),
            None => prompt,
        };
        let motion = self
            .out(Stage::VideoPrompt, "motion_prompt")
            .map(|m| match &fb {
                Some(f) => fold_feedback(&m, f),
                None => m,
            });
        let best_image = self.out(Stage::ImageGeneration, "best_image");
        let mode = if let Some(meta) = self.out(Stage::Storyboard, "storyboard") {
            let storyboard = match vbench_prompt::storyboard::load(&self.dir.join(&meta)) {
                Ok(sb) => sb,
                Err(e) => return StageResult::failed(e, 0.0),
            };
            let file = self
                .out(Stage::VideoPrompt, "storyboard_enhanced_prompts_file")
                .map(|f| self.dir.join(f));
            let enhanced = match &file {
                Some(f) => match videos::read_enhanced_prompts(f) {
                    Ok(m) => m,
                    Err(e) => return StageResult::failed(e, 0.0),
                },
                None => Default::default(),
            };
            let enhanced = clip_prompts_with_feedback(&storyboard.clips, enhanced, fb.as_deref());
            Mode::Storyboard {
                storyboard,
                enhanced,
                enhanced_source: file,
            }
        } else if let Some(img) = &best_image {
            Mode::ImageToVideo {
                prompt: prompt.clone(),
                hero_frame: ImageRef::File(self.dir.join(img)),
                motion_prompt: motion.clone(),
            }
        } else {
            Mode::TextToVideo {
                prompt: prompt.clone(),
            }
        };
        self.update(s, |r| {
            r.inputs = json!({"mode": mode.name(), "prompt": prompt, "motion_prompt": motion,
                "hero_frame": best_image, "storyboard": Value::Null, "num_video_attempts": plan.num_video_attempts,
                "model": plan.video_model, "fallback_models": plan.video_fallback_models, "feedback": r.feedback});
        });
        if let Some(meta) = self.out(Stage::Storyboard, "storyboard") {
            self.update(s, |r| r.inputs["storyboard"] = json!(meta));
        }
        let opts = videos::Options {
            mode,
            prompt_file: None,
            attempts: plan.num_video_attempts,
            negative_prompt: plan
                .negative_prompt
                .clone()
                .or_else(|| self.out(Stage::VideoPrompt, "negative_prompt")),
            output_dir: self.dir.clone(),
            model: plan.video_model.clone(),
            fallback_models: plan.video_fallback_models.clone(),
            duration: plan.duration,
            aspect_ratio: plan.aspect_ratio.clone(),
            seed: plan.seed,
            interactive: false,
            max_cost: self.budget_left(),
            attempt: env.attempt,
            provider_name: env.provider_name.clone(),
            api_base: env.api_base.clone(),
            settings: json!({"feedback_loop_stage": s.folder(), "plan": plan}),
        };
        let hook = self.progress_hook(s);
        let hooks = Hooks {
            run_dir: Some(self.dir.join(s.folder())),
            resume,
            on_progress: Some(&hook),
        };
        let out = match videos::run_with(
            env.provider,
            env.video_scorer,
            &opts,
            env.prices,
            env.table,
            env.cancel,
            env.ui,
            &hooks,
        )
        .await
        {
            Ok(o) => o,
            Err(e) => return StageResult::failed(e, 0.0),
        };
        let t = &out.trace;
        let cost = t.costs.total_usd;
        if t.status == "interrupted" {
            return StageResult::interrupted(cost);
        }
        let folder = s.folder();
        let bests: Vec<String> = t
            .groups
            .iter()
            .filter_map(|g| g.best.as_ref().map(|b| format!("{folder}/{b}")))
            .collect();
        let Some(best) = bests.first().cloned() else {
            return StageResult::failed(
                format!("no video was generated (status {})", t.status),
                cost,
            );
        };
        let best_scores = t
            .groups
            .first()
            .and_then(|g| g.videos.iter().find(|v| v.rank == Some(1)))
            .and_then(|v| v.vbench_scores.as_ref())
            .map(|s| json!({"scores": s.scores, "total": s.total}));
        let mut files = vec![format!("{folder}/{}", videos::TRACE_FILE)];
        files.extend(bests.iter().cloned());
        StageResult {
            status: "completed".into(),
            outputs: json!({
                "best_video": best,
                "best_per_clip": if t.groups.len() > 1 { json!(bests) } else { Value::Null },
                "mode": t.mode,
                "generation_status": t.status,
                "report": format!("{folder}/{}", crate::report::REPORT_FILE),
            }),
            scores: best_scores
                .map(|b| json!({"best_video": b}))
                .unwrap_or(Value::Null),
            files,
            cost_usd: cost,
            error: None,
        }
    }

    async fn run_stage(&self, s: Stage, resume: bool) -> StageResult {
        match s {
            Stage::ImagePrompt | Stage::VideoPrompt => self.prompt_stage(s, resume).await,
            Stage::ImageGeneration => self.image_stage(resume).await,
            Stage::Storyboard => self.storyboard_stage(resume).await,
            Stage::VideoGeneration => self.video_stage(resume).await,
        }
    }

    fn stage_report(&self, s: Stage) -> String {
        let r = self.record(s);
        let mut t = format!(
            "\n== stage {} {} ({}) — cost {:.4} USD, {:.1} s\n",
            r.number, r.stage_name, r.status, r.cost_usd, r.seconds
        );
        for (k, v) in r.outputs.as_object().into_iter().flatten() {
            if !v.is_null() {
                let line = match v {
                    Value::String(x) => x.clone(),
                    other => other.to_string(),
                };
                let short: String = line.chars().take(200).collect();
                t.push_str(&format!("  {k}: {short}\n"));
            }
        }
        if !r.scores.is_null() {
            t.push_str(&format!("  scores: {}\n", r.scores));
        }
        t
    }

    /// Runs stage `s` until it is accepted; `Err` only for what stops the workflow.
    async fn drive(&self, s: Stage) -> Result<String, LoopError> {
        let mut resume = {
            let r = self.record(s);
            // a failed stage is resumed too: its finished (paid) generations are kept
            matches!(r.status.as_str(), "running" | "interrupted" | "failed")
        };
        loop {
            if is_cancelled(self.env.cancel) {
                return Ok("interrupted".into());
            }
            if resume && !s.resumable_inside() {
                if let Some(p) = self.set_aside(s, "interrupted")? {
                    self.cp().notes.push(format!(
                        "stage {} was interrupted and is run again; the partial folder is {p}",
                        s.folder()
                    ));
                }
            }
            let started = Instant::now();
            let try_cost_before = self.record(s).earlier_tries_cost_usd;
            self.update(s, |r| {
                if !resume || r.started_at.is_none() {
                    r.started_at = Some(now());
                }
                if !resume {
                    r.tries += 1;
                }
                r.tries = r.tries.max(1);
                r.status = "running".into();
                r.error = None;
            });
            self.save()?;
            self.env.ui.notice(&format!(
                "\n== stage {} {}{}",
                s.number(),
                s.name(),
                if resume { " (resumed)" } else { "" }
            ));
            let res = self.run_stage(s, resume).await;
            let secs = started.elapsed().as_secs_f64();
            self.update(s, |r| {
                r.seconds += secs;
                r.status = res.status.clone();
                r.outputs = res.outputs.clone();
                r.scores = res.scores.clone();
                r.files = res.files.clone();
                r.cost_usd = try_cost_before + res.cost_usd;
                r.error = res.error.clone();
                r.finished_at = Some(now());
            });
            self.save()?;
            if res.status != "completed" {
                if let Some(e) = &res.error {
                    self.env
                        .ui
                        .notice(&format!("stage {} {}: {e}", s.number(), res.status));
                }
                return Ok(res.status);
            }
            self.env.ui.print(&self.stage_report(s));
            if !self.interactive {
                return Ok("completed".into());
            }
            let tries = self.record(s).tries;
            let answer = if tries >= MAX_STAGE_TRIES {
                self.env
                    .ui
                    .notice(&format!("{MAX_STAGE_TRIES} tries of this stage: accepted"));
                Some(String::new())
            } else {
                self.env.ui.ask(
                    "Enter = accept and continue; r = retry this stage; anything else = feedback for another iteration of this stage: ",
                )
            };
            let mut fb = FeedbackRecord {
                stage: s.name().into(),
                try_number: tries,
                action: "accept".into(),
                text: None,
                at: now(),
            };
            let a = answer.as_deref().map(str::trim).map(String::from);
            match a.as_deref() {
                None => {
                    fb.action = "end_of_input".into();
                    self.cp().feedback.push(fb);
                    self.save()?;
                    return Ok("completed".into());
                }
                Some("") | Some("a") | Some("accept") => {
                    self.cp().feedback.push(fb);
                    self.save()?;
                    return Ok("completed".into());
                }
                Some(x) => {
                    let retry = x.eq_ignore_ascii_case("r") || x.eq_ignore_ascii_case("retry");
                    fb.action = if retry { "retry" } else { "feedback" }.into();
                    fb.text = (!retry).then(|| x.to_string());
                    let label = format!("try{tries:02}");
                    let moved = self.set_aside(s, &label)?;
                    self.update(s, |r| {
                        r.earlier_tries.push(json!({
                            "try": tries,
                            "folder": moved,
                            "outputs": r.outputs,
                            "scores": r.scores,
                            "cost_usd": r.cost_usd - r.earlier_tries_cost_usd,
                            "redone_because": fb.action,
                            "feedback": fb.text,
                        }));
                        r.earlier_tries_cost_usd = r.cost_usd;
                        if !retry {
                            r.feedback = Some(x.to_string());
                        }
                        r.status = "pending".into();
                        r.files.clear();
                    });
                    self.cp().feedback.push(fb);
                    self.save()?;
                    resume = false;
                }
            }
        }
    }

    fn finish(&self, status: &str) -> Result<(Value, String), LoopError> {
        let mut cp = self.cp();
        cp.status = status.into();
        cp.save(&self.dir)?;
        let v = summary::summary(&cp);
        let p = self.dir.join(SUMMARY_FILE);
        let text = serde_json::to_string_pretty(&v).map_err(|e| werr(&p, e))?;
        crate::videos::write_atomic(&p, &(text + "\n"))?;
        crate::videos::write_atomic(
            &self.dir.join("index.html"),
            &summary::index_html(&cp, &self.dir),
        )?;
        Ok((v, summary::console(&cp, &self.dir)))
    }
}

/// Runs (or resumes) the workflow. Scoring runs through `tokio::task::block_in_place`: call it
/// from a multi-threaded tokio runtime.
pub async fn run<P: Provider>(env: &Env<'_, P>, start: Start) -> Result<Outcome, LoopError> {
    let (cp, dir, interactive) = match start {
        Start::New {
            plan,
            output_dir,
            interactive,
        } => {
            plan.check()?;
            let dir = crate::videos::hook_run_dir(None, &output_dir)?;
            std::fs::write(
                dir.join("00_start_prompt.txt"),
                format!("{}\n", plan.prompt.trim_end()),
            )
            .map_err(|e| werr(&dir, e))?;
            (Checkpoint::new(*plan, &dir, interactive), dir, interactive)
        }
        Start::Resume {
            checkpoint,
            interactive,
        } => {
            let (mut cp, dir) = Checkpoint::load_for_resume(&checkpoint)?;
            cp.resumed_at.push(now());
            cp.status = "running".into();
            cp.loop_dir = dir.display().to_string();
            cp.interactive = interactive;
            (cp, dir, interactive)
        }
    };
    let lp = Loop {
        env,
        dir: dir.clone(),
        cp: Mutex::new(cp),
        interactive,
    };
    lp.save()?;
    env.ui.notice(&format!("loop folder: {}", dir.display()));
    let stages: Vec<Stage> = lp.cp().stages.iter().map(|r| r.stage).collect();
    let mut status = "completed".to_string();
    for s in stages {
        if lp.record(s).status == "completed" {
            env.ui.step(&format!(
                "stage {} {}: already completed",
                s.number(),
                s.name()
            ));
            continue;
        }
        let st = lp.drive(s).await?;
        if st != "completed" {
            status = st;
            break;
        }
    }
    if status == "completed" && is_cancelled(env.cancel) {
        status = "interrupted".into();
    }
    let (summary, console) = lp.finish(&status)?;
    let cp = lp.cp().clone();
    Ok(Outcome {
        loop_dir: dir,
        status,
        checkpoint: cp,
        summary,
        console,
    })
}

/// Feedback on the video stage of a storyboard workflow goes into every clip's prompt: its
/// enhanced motion prompt, or the description `generate-videos` would use for it.
fn clip_prompts_with_feedback(
    clips: &[vbench_prompt::storyboard::Clip],
    enhanced: std::collections::BTreeMap<String, String>,
    feedback: Option<&str>,
) -> std::collections::BTreeMap<String, String> {
    match feedback {
        Some(f) => clips
            .iter()
            .map(|c| {
                (
                    c.clip_id.clone(),
                    fold_feedback(&videos::clip_prompt(c, &enhanced), f),
                )
            })
            .collect(),
        None => enhanced,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storyboard_feedback_reaches_every_clip_prompt() {
        let clip = |id: &str, motion: &str| vbench_prompt::storyboard::Clip {
            clip_id: id.into(),
            folder: format!("clip_{id}"),
            motion_description: motion.into(),
            camera_movement: String::new(),
            shot_size: String::new(),
            perspective: String::new(),
            lens_type: String::new(),
            start_frame_path: "s.png".into(),
            end_frame_path: "e.png".into(),
        };
        let clips = [clip("1", "A dog runs."), clip("2", "The dog sits.")];
        let enhanced: std::collections::BTreeMap<String, String> =
            [("1".to_string(), "Enhanced run.".to_string())].into();
        let same = clip_prompts_with_feedback(&clips, enhanced.clone(), None);
        assert_eq!(same, enhanced);
        let got = clip_prompts_with_feedback(&clips, enhanced, Some("slower camera"));
        assert_eq!(got["1"], fold_feedback("Enhanced run.", "slower camera"));
        assert_eq!(got["2"], fold_feedback("The dog sits.", "slower camera"));
        assert!(got["2"].contains("slower camera"));
    }
}
