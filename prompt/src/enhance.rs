//! The shared two-agent loop and the three runs built on it (text-to-video / image-to-video,
//! storyboard, image).
//!
//! # Trace layout (`<output-dir>/<YYYYmmdd_HHMMSS>/`)
//! * `00_original_prompt.txt` — the input (after truncation, if any).
//! * Iteration `i` writes `{2i-1:02}_agent1_iteration_{i}.txt` (the Director's prompt) and
//!   `{2i:02}_agent2_iteration_{i}.txt` (the Engineer's critique, scores, usage and cost). This is
//!   the spec's numbering for iterations 1–2 and continues the same way after that
//!   (`05_agent1_iteration_3.txt`, `06_agent2_iteration_3.txt`, `07_agent1_iteration_4.txt`, ...).
//! * `05_final_enhanced_prompt.txt` and `06_videodirectorgpt_plan.json` keep their spec names
//!   whatever the number of iterations, so tools can find them; their names never collide with
//!   iteration files.
//! * Image-to-video and storyboard clips add `motion_prompt.json` (motion prompt, camera movement,
//!   motion intensity, frame-rate notes, negative prompt) and `negative_prompt.txt`.
//! * `prompt_trace_summary.json` — written last, also when the run fails (`status: "failed"`
//!   and `error`), so an interrupted run keeps every file done so far plus a summary.
//! * Storyboard mode: one `clip_NN/` folder per clip with the layout above, then
//!   `storyboard_enhanced_motion_prompts.json` and the top-level `prompt_trace_summary.json`.
//!
//! # Stops
//! Quick initial assessment: the rule-based scores of the original; if its overall is at least
//! [`INITIAL_SKIP_SCORE`] the original is returned without calling any agent. Otherwise the loop
//! stops when the overall reaches `threshold`, when it improved by less than `min_improvement`
//! over the previous iteration (convergence), or after `max_iterations`. The final prompt is the
//! best-scoring iteration's prompt.

use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;

use crate::agents::{Agents, CallRecord, CameraHints, Critique, EnhanceContext};
use crate::error::PromptError;
use crate::input::truncate_prompt;
use crate::motion::{self, MotionSpec};
use crate::plan::VideoPlan;
use crate::rubric::{rule_scores, PromptKind, Scores};
use crate::storyboard::Storyboard;
use crate::trace::TraceDir;

pub const INITIAL_SKIP_SCORE: f64 = 75.0;
pub const DEFAULT_MIN_IMPROVEMENT: f64 = 1.0;

/// Receives notices (always shown) and step messages (shown with `--verbose`).
pub trait Progress: Sync {
    fn notice(&self, msg: &str);
    fn step(&self, msg: &str);
}

#[derive(Debug, Clone, Serialize)]
pub struct LoopOptions {
    pub max_iterations: u32,
    pub threshold: f64,
    pub min_improvement: f64,
    pub initial_skip_score: f64,
}

impl Default for LoopOptions {
    fn default() -> Self {
        Self {
            max_iterations: 3,
            threshold: 85.0,
            min_improvement: DEFAULT_MIN_IMPROVEMENT,
            initial_skip_score: INITIAL_SKIP_SCORE,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    InitialAssessment,
    Threshold,
    Converged,
    MaxIterations,
}

#[derive(Debug, Clone, Serialize)]
pub struct Agent2Output {
    pub feedback: String,
    pub suggestions: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct IterationRecord {
    pub iteration_num: u32,
    pub agent1_output: String,
    pub agent2_output: Agent2Output,
    pub scores: Scores,
    pub agent1_file: String,
    pub agent2_file: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Assessment {
    pub scores: Scores,
    pub skipped_enhancement: bool,
    pub rule: String,
}

/// Everything one prompt's loop produced (also the partial state of a failed run).
#[derive(Debug, Clone, Serialize)]
pub struct LoopRun {
    pub original_prompt: String,
    pub initial_assessment: Option<Assessment>,
    pub iterations: Vec<IterationRecord>,
    pub total_iterations: u32,
    pub stop_reason: Option<StopReason>,
    pub final_prompt: Option<String>,
    pub final_score: Option<Scores>,
    pub calls: Vec<CallRecord>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CostTotals {
    pub calls: usize,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    pub total_cost_usd: f64,
    pub unpriced_models: Vec<String>,
    pub llm_seconds: f64,
}

pub fn totals(calls: &[CallRecord]) -> CostTotals {
    let mut unpriced: Vec<String> = calls
        .iter()
        .filter(|c| c.cost_usd.is_none())
        .map(|c| c.model.clone())
        .collect();
    unpriced.sort();
    unpriced.dedup();
    CostTotals {
        calls: calls.len(),
        prompt_tokens: calls.iter().map(|c| c.prompt_tokens).sum(),
        completion_tokens: calls.iter().map(|c| c.completion_tokens).sum(),
        total_tokens: calls.iter().map(|c| c.total_tokens).sum(),
        total_cost_usd: round6(calls.iter().filter_map(|c| c.cost_usd).sum()),
        unpriced_models: unpriced,
        llm_seconds: (calls.iter().map(|c| c.elapsed_seconds).sum::<f64>() * 1000.0).round()
            / 1000.0,
    }
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

fn critique_text(i: u32, c: &Critique, director: &CallRecord, rec: &CallRecord) -> String {
    let mut s = format!("Prompt Engineer critique (iteration {i})\n\nScores:\n");
    for (k, v) in &c.scores.values {
        s.push_str(&format!("  {k}: {v:.1}\n"));
    }
    s.push_str(&format!(
        "  overall (weighted): {:.1}\n\nFeedback:\n{}\n",
        c.scores.overall, c.feedback
    ));
    if !c.suggestions.is_empty() {
        s.push_str("\nSuggestions:\n");
        for x in &c.suggestions {
            s.push_str(&format!("- {x}\n"));
        }
    }
    s.push_str(&format!(
        "\nDirector call: {}\nEngineer call: {}\n",
        call_line(director),
        call_line(rec)
    ));
    s
}

fn call_line(r: &CallRecord) -> String {
    format!(
        "model {} | tokens {} in / {} out{} | cost {} | {:.2} s | attempts {}",
        r.model,
        r.prompt_tokens,
        r.completion_tokens,
        if r.usage_reported { "" } else { " (estimated)" },
        r.cost_usd
            .map(|c| format!("${c:.6}"))
            .unwrap_or_else(|| "unpriced".into()),
        r.elapsed_seconds,
        r.attempts
    )
}

/// The loop (see the module docs). Fills `run` as it goes, so a failure keeps the partial state.
#[allow(clippy::too_many_arguments)]
pub async fn run_loop(
    agents: &Agents,
    kind: PromptKind,
    prompt: &str,
    opts: &LoopOptions,
    ctx: &EnhanceContext,
    trace: &TraceDir,
    run: &mut LoopRun,
    progress: &dyn Progress,
) -> Result<(), PromptError> {
    trace.write_text("00_original_prompt.txt", prompt)?;
    let initial = rule_scores(kind, prompt);
    let skip = initial.overall >= opts.initial_skip_score;
    progress.step(&format!(
        "initial assessment: overall {:.1}{}",
        initial.overall,
        if skip {
            " (good enough, no enhancement)"
        } else {
            ""
        }
    ));
    run.initial_assessment = Some(Assessment {
        scores: initial.clone(),
        skipped_enhancement: skip,
        rule: format!(
            "rule-based scores (rubric module); enhancement skipped when overall >= {}",
            opts.initial_skip_score
        ),
    });
    if skip {
        run.stop_reason = Some(StopReason::InitialAssessment);
        run.final_prompt = Some(prompt.to_string());
        run.final_score = Some(initial);
        trace.write_text("05_final_enhanced_prompt.txt", prompt)?;
        return Ok(());
    }
    let mut current = prompt.to_string();
    let mut last: Option<Critique> = None;
    let mut best: Option<(String, Scores)> = None;
    let mut prev_overall: Option<f64> = None;
    for i in 1..=opts.max_iterations {
        progress.step(&format!("iteration {i}: director"));
        let (enhanced, rec1) = agents
            .direct(
                kind,
                &format!("agent1_iteration_{i}"),
                prompt,
                &current,
                last.as_ref(),
                ctx,
            )
            .await?;
        let f1 = format!("{:02}_agent1_iteration_{i}.txt", 2 * i - 1);
        trace.write_text(&f1, &enhanced)?;
        run.calls.push(rec1.clone());
        progress.step(&format!("iteration {i}: prompt engineer"));
        let (crit, rec2) = agents
            .critique(kind, &format!("agent2_iteration_{i}"), &enhanced, ctx)
            .await?;
        let f2 = format!("{:02}_agent2_iteration_{i}.txt", 2 * i);
        trace.write_text(&f2, &critique_text(i, &crit, &rec1, &rec2))?;
        run.calls.push(rec2);
        let overall = crit.scores.overall;
        progress.step(&format!("iteration {i}: overall {overall:.1}"));
        run.iterations.push(IterationRecord {
            iteration_num: i,
            agent1_output: enhanced.clone(),
            agent2_output: Agent2Output {
                feedback: crit.feedback.clone(),
                suggestions: crit.suggestions.clone(),
            },
            scores: crit.scores.clone(),
            agent1_file: f1,
            agent2_file: f2,
        });
        run.total_iterations = i;
        if best.as_ref().is_none_or(|(_, s)| overall > s.overall) {
            best = Some((enhanced.clone(), crit.scores.clone()));
        }
        if overall >= opts.threshold {
            run.stop_reason = Some(StopReason::Threshold);
            break;
        }
        if let Some(p) = prev_overall {
            if overall - p < opts.min_improvement {
                run.stop_reason = Some(StopReason::Converged);
                break;
            }
        }
        if i == opts.max_iterations {
            run.stop_reason = Some(StopReason::MaxIterations);
        }
        prev_overall = Some(overall);
        current = enhanced;
        last = Some(crit);
    }
    let (final_prompt, final_score) = best.expect("max_iterations >= 1 is checked by the options");
    trace.write_text("05_final_enhanced_prompt.txt", &final_prompt)?;
    run.final_prompt = Some(final_prompt);
    run.final_score = Some(final_score);
    Ok(())
}

/// Which tool is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Video,
    Image,
}

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub tool: Tool,
    /// The prompt (already read and checked); `None` only in storyboard mode.
    pub prompt: Option<String>,
    pub image_to_video: bool,
    pub storyboard: Option<Storyboard>,
    pub loop_opts: LoopOptions,
    pub output_dir: PathBuf,
    /// Notices raised before the run (e.g. the offline fallback), recorded in the summary.
    pub notices: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClipSummary {
    pub clip_id: String,
    pub folder: String,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub original_motion_description: String,
    pub camera_movement: String,
    pub shot_size: String,
    pub perspective: String,
    pub lens_type: String,
    pub start_frame_path: String,
    pub end_frame_path: String,
    pub enhanced_motion_prompt: Option<String>,
    pub negative_prompt: Option<String>,
    pub motion: Option<MotionSpec>,
    pub scores: Option<Scores>,
    pub total_iterations: u32,
    pub stop_reason: Option<StopReason>,
    pub cost: CostTotals,
}

/// `prompt_trace_summary.json`.
#[derive(Debug, Clone, Serialize)]
pub struct TraceSummary {
    pub tool: String,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub mode: String,
    pub backend: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    pub creative_model: String,
    pub critique_model: String,
    pub started_at: String,
    pub finished_at: String,
    pub elapsed_seconds: f64,
    pub settings: LoopOptions,
    pub score_weights: serde_json::Map<String, serde_json::Value>,
    pub prompt_truncated: bool,
    pub notices: Vec<String>,
    #[serde(flatten)]
    pub run: Option<LoopRun>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub videodirectorgpt_plan: Option<VideoPlan>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan_note: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub motion_prompt: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub motion: Option<MotionSpec>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storyboard_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unified_narrative_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clips: Option<Vec<ClipSummary>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storyboard_enhanced_prompts: Option<serde_json::Map<String, serde_json::Value>>,
    pub cost: CostTotals,
    pub trace_dir: String,
}

pub struct RunOutcome {
    pub summary: TraceSummary,
    pub trace_dir: PathBuf,
    /// Storyboard mode: some clips failed.
    pub partial_failure: bool,
}

/// A failed run; `trace_dir` is set when a trace folder (with a failed summary) was written.
#[derive(Debug)]
pub struct RunFailure {
    pub error: PromptError,
    pub trace_dir: Option<PathBuf>,
}

impl From<crate::error::InputError> for RunFailure {
    fn from(e: crate::error::InputError) -> Self {
        Self {
            error: e.into(),
            trace_dir: None,
        }
    }
}

impl From<PromptError> for RunFailure {
    fn from(error: PromptError) -> Self {
        Self {
            error,
            trace_dir: None,
        }
    }
}

/// Characters of prompt sent to the models: the smaller context (in tokens) of the two models,
/// a quarter of it for the prompt (the rest is instructions, critique and the reply), at four
/// characters per token — i.e. `context_tokens` characters.
pub fn max_prompt_chars(agents: &Agents) -> usize {
    let ctx = match agents.backend {
        crate::agents::Backend::Offline => agents.prices.context_tokens("offline"),
        crate::agents::Backend::Http(_) => agents
            .prices
            .context_tokens(&agents.creative_model)
            .min(agents.prices.context_tokens(&agents.critique_model)),
    };
    ctx as usize
}

fn weights(kind: PromptKind) -> serde_json::Map<String, serde_json::Value> {
    kind.dimensions()
        .iter()
        .map(|d| (d.key.to_string(), serde_json::json!(d.weight)))
        .collect()
}

fn now() -> String {
    chrono::Local::now().to_rfc3339()
}

struct Base<'a> {
    agents: &'a Agents,
    opts: &'a RunOptions,
    started: Instant,
    started_at: String,
    notices: Vec<String>,
    truncated: bool,
}

impl Base<'_> {
    fn summary(
        &self,
        tool: &str,
        mode: &str,
        kind: PromptKind,
        trace: &TraceDir,
        run: Option<LoopRun>,
        calls: &[CallRecord],
    ) -> TraceSummary {
        TraceSummary {
            tool: tool.into(),
            status: "completed".into(),
            error: None,
            mode: mode.into(),
            backend: self.agents.backend_name().into(),
            endpoint: self.agents.endpoint().map(str::to_string),
            creative_model: self.agents.creative_model.clone(),
            critique_model: self.agents.critique_model.clone(),
            started_at: self.started_at.clone(),
            finished_at: now(),
            elapsed_seconds: (self.started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
            settings: self.opts.loop_opts.clone(),
            score_weights: weights(kind),
            prompt_truncated: self.truncated,
            notices: self.notices.clone(),
            run,
            videodirectorgpt_plan: None,
            plan_note: None,
            motion_prompt: None,
            motion: None,
            storyboard_path: None,
            unified_narrative_path: None,
            clips: None,
            storyboard_enhanced_prompts: None,
            cost: totals(calls),
            trace_dir: trace.path().display().to_string(),
        }
    }
}

/// Runs `fut` unless Ctrl-C comes first. Cancelling the loop's future keeps what it already
/// stored in its `&mut LoopRun`, so the summary can still be written.
async fn interruptible<F: std::future::Future<Output = Result<(), PromptError>>>(
    fut: F,
) -> Result<(), PromptError> {
    tokio::select! {
        r = fut => r,
        _ = tokio::signal::ctrl_c() => Err(PromptError::Interrupted),
    }
}

/// The summary status of a run stopped by `error`.
fn failure_status(error: &PromptError) -> &'static str {
    if matches!(error, PromptError::Interrupted) {
        "interrupted"
    } else {
        "failed"
    }
}

fn fail(trace: &TraceDir, mut summary: TraceSummary, error: PromptError) -> RunFailure {
    summary.status = failure_status(&error).into();
    summary.error = Some(error.to_string());
    // Best effort: the original error matters more than a failure to write the summary.
    let _ = trace.write_json("prompt_trace_summary.json", &summary);
    RunFailure {
        error,
        trace_dir: Some(trace.path().to_path_buf()),
    }
}

fn new_run(prompt: &str) -> LoopRun {
    LoopRun {
        original_prompt: prompt.to_string(),
        initial_assessment: None,
        iterations: Vec::new(),
        total_iterations: 0,
        stop_reason: None,
        final_prompt: None,
        final_score: None,
        calls: Vec::new(),
    }
}

/// Runs a whole tool invocation: creates the trace folder, runs the loop(s), writes the summary.
pub async fn run(
    agents: &Agents,
    opts: &RunOptions,
    progress: &dyn Progress,
) -> Result<RunOutcome, RunFailure> {
    let mut base = Base {
        agents,
        opts,
        started: Instant::now(),
        started_at: now(),
        notices: opts.notices.clone(),
        truncated: false,
    };
    if opts.loop_opts.max_iterations == 0 {
        return Err(
            crate::error::InputError::Option("--max-iterations must be at least 1".into()).into(),
        );
    }
    if !(0.0..=100.0).contains(&opts.loop_opts.threshold) {
        return Err(crate::error::InputError::Option(
            "--threshold must be between 0 and 100".into(),
        )
        .into());
    }
    if let Some(sb) = &opts.storyboard {
        if sb.narrative_truncated {
            base.notices.push(format!(
                "the unified narrative was truncated to {} characters of context",
                crate::storyboard::MAX_NARRATIVE_CHARS
            ));
        }
        return run_storyboard(&mut base, sb, progress).await;
    }
    let Some(prompt) = opts.prompt.as_deref() else {
        return Err(crate::error::InputError::EmptyPrompt.into());
    };
    let limit = max_prompt_chars(agents);
    let (prompt, cut) = truncate_prompt(prompt, limit);
    if cut {
        let msg = format!("the prompt is longer than {limit} characters (the models' context budget) and was truncated");
        progress.notice(&msg);
        base.notices.push(msg);
        base.truncated = true;
    }
    let (tool, kind, mode) = match (opts.tool, opts.image_to_video) {
        (Tool::Image, _) => ("enhance-image-prompt", PromptKind::Image, "image"),
        (Tool::Video, true) => (
            "enhance-video-prompt",
            PromptKind::ImageToVideo,
            "image-to-video",
        ),
        (Tool::Video, false) => ("enhance-video-prompt", PromptKind::Video, "text-to-video"),
    };
    let trace = TraceDir::create_timestamped(&opts.output_dir)?;
    let mut run = new_run(&prompt);
    let ctx = EnhanceContext::default();
    let res = interruptible(run_loop(
        agents,
        kind,
        &prompt,
        &opts.loop_opts,
        &ctx,
        &trace,
        &mut run,
        progress,
    ))
    .await;
    if let Err(e) = res {
        let calls = run.calls.clone();
        let s = base.summary(tool, mode, kind, &trace, Some(run), &calls);
        return Err(fail(&trace, s, e));
    }
    let final_prompt = run.final_prompt.clone().unwrap_or_default();
    let mut plan = None;
    let mut plan_note = None;
    if opts.tool == Tool::Video {
        progress.step("VideoDirectorGPT plan");
        let planned = tokio::select! {
            r = agents.plan(&final_prompt) => r.map_err(PromptError::from),
            _ = tokio::signal::ctrl_c() => Err(PromptError::Interrupted),
        };
        match planned {
            Ok((p, rec, note)) => {
                run.calls.push(rec);
                if let Err(e) = trace.write_json("06_videodirectorgpt_plan.json", &p) {
                    let calls = run.calls.clone();
                    let s = base.summary(tool, mode, kind, &trace, Some(run), &calls);
                    return Err(fail(&trace, s, e));
                }
                if let Some(n) = &note {
                    progress.notice(n);
                }
                plan = Some(p);
                plan_note = note;
            }
            Err(e) => {
                let calls = run.calls.clone();
                let s = base.summary(tool, mode, kind, &trace, Some(run), &calls);
                return Err(fail(&trace, s, e));
            }
        }
    }
    let motion = (kind == PromptKind::ImageToVideo).then(|| motion::derive(&final_prompt));
    if let Some(m) = &motion {
        let r = trace
            .write_json("motion_prompt.json", m)
            .and_then(|_| trace.write_text("negative_prompt.txt", &m.negative_prompt));
        if let Err(e) = r {
            let calls = run.calls.clone();
            let s = base.summary(tool, mode, kind, &trace, Some(run), &calls);
            return Err(fail(&trace, s, e));
        }
    }
    let calls = run.calls.clone();
    let mut summary = base.summary(tool, mode, kind, &trace, Some(run), &calls);
    summary.videodirectorgpt_plan = plan;
    summary.plan_note = plan_note;
    summary.motion_prompt = motion.as_ref().map(|m| m.motion_prompt.clone());
    summary.motion = motion;
    trace
        .write_json("prompt_trace_summary.json", &summary)
        .map_err(|e| RunFailure {
            error: e,
            trace_dir: Some(trace.path().into()),
        })?;
    Ok(RunOutcome {
        summary,
        trace_dir: trace.path().into(),
        partial_failure: false,
    })
}

async fn run_storyboard(
    base: &mut Base<'_>,
    sb: &Storyboard,
    progress: &dyn Progress,
) -> Result<RunOutcome, RunFailure> {
    let agents = base.agents;
    let opts = base.opts;
    let kind = PromptKind::ImageToVideo;
    let trace = TraceDir::create_timestamped(&opts.output_dir)?;
    let storyboard_summary = |calls: &[CallRecord]| {
        base.summary(
            "enhance-video-prompt",
            "storyboard",
            kind,
            &trace,
            None,
            calls,
        )
    };
    let limit = max_prompt_chars(agents);
    let mut clips = Vec::new();
    let mut all_calls: Vec<CallRecord> = Vec::new();
    let mut prompts = serde_json::Map::new();
    let mut failed = 0usize;
    let n = sb.clips.len();
    for (i, clip) in sb.clips.iter().enumerate() {
        progress.step(&format!("storyboard clip {} ({}/{n})", clip.clip_id, i + 1));
        let clip_trace = match trace.subdir(&clip.folder) {
            Ok(t) => t,
            Err(e) => {
                let s = storyboard_summary(&all_calls);
                return Err(fail(&trace, s, e));
            }
        };
        let (prompt, cut) = truncate_prompt(&clip.motion_description, limit);
        let mut notices = Vec::new();
        if cut {
            let msg = format!(
                "clip {}: motion_description truncated to {limit} characters",
                clip.clip_id
            );
            progress.notice(&msg);
            notices.push(msg);
        }
        let ctx = EnhanceContext {
            narrative: Some(sb.narrative.clone()),
            camera: Some(CameraHints {
                camera_movement: clip.camera_movement.clone(),
                shot_size: clip.shot_size.clone(),
                perspective: clip.perspective.clone(),
                lens_type: clip.lens_type.clone(),
            }),
            start_frame: clip
                .start_frame_path
                .file_name()
                .map(|f| f.to_string_lossy().into_owned()),
            end_frame: clip
                .end_frame_path
                .file_name()
                .map(|f| f.to_string_lossy().into_owned()),
            clip_label: Some(format!("{} of {n} (clip id {})", i + 1, clip.clip_id)),
        };
        let mut run = new_run(&prompt);
        let res = interruptible(run_loop(
            agents,
            kind,
            &prompt,
            &opts.loop_opts,
            &ctx,
            &clip_trace,
            &mut run,
            progress,
        ))
        .await;
        all_calls.extend(run.calls.iter().cloned());
        let clip_cost = totals(&run.calls);
        let mut cs = ClipSummary {
            clip_id: clip.clip_id.clone(),
            folder: clip.folder.clone(),
            status: "completed".into(),
            error: None,
            original_motion_description: clip.motion_description.clone(),
            camera_movement: clip.camera_movement.clone(),
            shot_size: clip.shot_size.clone(),
            perspective: clip.perspective.clone(),
            lens_type: clip.lens_type.clone(),
            start_frame_path: clip.start_frame_path.display().to_string(),
            end_frame_path: clip.end_frame_path.display().to_string(),
            enhanced_motion_prompt: None,
            negative_prompt: None,
            motion: None,
            scores: run.final_score.clone(),
            total_iterations: run.total_iterations,
            stop_reason: run.stop_reason,
            cost: clip_cost,
        };
        let mut clip_base_notices = base.notices.clone();
        clip_base_notices.extend(notices);
        let clip_summary =
            |run: LoopRun, status: &str, err: Option<String>, motion: Option<MotionSpec>| {
                let calls = run.calls.clone();
                let mut s = base.summary(
                    "enhance-video-prompt",
                    "storyboard-clip",
                    kind,
                    &clip_trace,
                    Some(run),
                    &calls,
                );
                s.notices = clip_base_notices.clone();
                s.status = status.into();
                s.error = err;
                s.motion_prompt = motion.as_ref().map(|m| m.motion_prompt.clone());
                s.motion = motion;
                s
            };
        match res {
            Ok(()) => {
                let final_prompt = run.final_prompt.clone().unwrap_or_default();
                let m = motion::derive(&final_prompt);
                let written = clip_trace
                    .write_json("motion_prompt.json", &m)
                    .and_then(|_| clip_trace.write_text("negative_prompt.txt", &m.negative_prompt))
                    .and_then(|_| {
                        clip_trace.write_json(
                            "prompt_trace_summary.json",
                            &clip_summary(run, "completed", None, Some(m.clone())),
                        )
                    });
                if let Err(e) = written {
                    let s = storyboard_summary(&all_calls);
                    return Err(fail(&trace, s, e));
                }
                prompts.insert(
                    clip.clip_id.clone(),
                    serde_json::Value::String(final_prompt.clone()),
                );
                cs.enhanced_motion_prompt = Some(final_prompt);
                cs.negative_prompt = Some(m.negative_prompt.clone());
                cs.motion = Some(m);
            }
            Err(e) => {
                failed += 1;
                progress.notice(&format!("clip {} failed: {e}", clip.clip_id));
                let status = failure_status(&e);
                let _ = clip_trace.write_json(
                    "prompt_trace_summary.json",
                    &clip_summary(run, status, Some(e.to_string()), None),
                );
                cs.status = status.into();
                cs.error = Some(e.to_string());
                if !matches!(e, PromptError::Llm(_)) {
                    clips.push(cs);
                    let mut s = storyboard_summary(&all_calls);
                    s.clips = Some(clips);
                    return Err(fail(&trace, s, e));
                }
            }
        }
        clips.push(cs);
    }
    let mut summary = storyboard_summary(&all_calls);
    summary.storyboard_path = Some(sb.path.display().to_string());
    summary.unified_narrative_path = Some(sb.unified_narrative_path.display().to_string());
    summary.storyboard_enhanced_prompts = Some(prompts.clone());
    summary.status = match failed {
        0 => "completed".into(),
        f if f == n => "failed".into(),
        _ => "partial".into(),
    };
    if failed > 0 {
        summary.error = Some(format!("{failed} of {n} clips failed; see clips[].error"));
    }
    let doc = serde_json::json!({
        "storyboard_path": sb.path.display().to_string(),
        "unified_narrative_path": sb.unified_narrative_path.display().to_string(),
        "storyboard_enhanced_prompts": prompts,
        "clips": clips,
        "cost": summary.cost,
    });
    summary.clips = Some(clips);
    let w = trace
        .write_json("storyboard_enhanced_motion_prompts.json", &doc)
        .and_then(|_| trace.write_json("prompt_trace_summary.json", &summary));
    if let Err(e) = w {
        return Err(RunFailure {
            error: e,
            trace_dir: Some(trace.path().into()),
        });
    }
    if failed == n {
        return Err(RunFailure {
            error: PromptError::AllClipsFailed {
                count: n,
                summary: trace.path().join("prompt_trace_summary.json"),
            },
            trace_dir: Some(trace.path().into()),
        });
    }
    Ok(RunOutcome {
        summary,
        trace_dir: trace.path().into(),
        partial_failure: failed > 0,
    })
}
