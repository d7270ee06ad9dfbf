//! The workflow's plan, stages and `checkpoint.json` (written atomically after every stage and
//! every finished generation inside a stage), and the checks `--resume` makes before it trusts
//! one.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::videos::write_atomic;

pub const CHECKPOINT_FILE: &str = "checkpoint.json";
pub const SUMMARY_FILE: &str = "workflow_summary.json";
pub const TOOL: &str = "feedback-loop";
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

#[derive(Debug, thiserror::Error)]
pub enum LoopError {
    #[error("{0}")]
    Input(String),
    /// A checkpoint `--resume` refuses.
    #[error("cannot resume from {path}: {reason}")]
    Checkpoint { path: PathBuf, reason: String },
    #[error("cannot write {path}: {reason}")]
    Write { path: PathBuf, reason: String },
}

impl From<crate::videos::RunError> for LoopError {
    fn from(e: crate::videos::RunError) -> Self {
        match e {
            crate::videos::RunError::Input(s) => LoopError::Input(s),
            crate::videos::RunError::Write { path, reason } => LoopError::Write { path, reason },
        }
    }
}

/// Which stages a workflow runs (`--workflow`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Workflow {
    /// 1 image prompt, 2 image generation, (3 storyboard), 4 video prompt, 5 video generation
    /// (image-to-video from stage 2's best image, or from stage 3's storyboard).
    Full,
    /// 1, 2 (and 3 with `--storyboard-clips`).
    ImageOnly,
    /// (3 with `--storyboard-clips`), 4, 5 (text-to-video, or the storyboard's clips).
    VideoOnly,
    /// 1 and 4: prompts only, nothing generated or paid on the provider.
    PromptOnly,
}

impl std::str::FromStr for Workflow {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "full" => Self::Full,
            "image-only" => Self::ImageOnly,
            "video-only" => Self::VideoOnly,
            "prompt-only" => Self::PromptOnly,
            _ => {
                return Err(format!(
                    "unknown workflow {s:?} (full, image-only, video-only, prompt-only)"
                ))
            }
        })
    }
}

impl Workflow {
    pub fn name(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::ImageOnly => "image-only",
            Self::VideoOnly => "video-only",
            Self::PromptOnly => "prompt-only",
        }
    }

    /// The stages, in order.
    pub fn stages(self, storyboard: bool) -> Vec<Stage> {
        use Stage::*;
        let mut v = match self {
            Self::Full => vec![ImagePrompt, ImageGeneration, VideoPrompt, VideoGeneration],
            Self::ImageOnly => vec![ImagePrompt, ImageGeneration],
            Self::VideoOnly => vec![VideoPrompt, VideoGeneration],
            Self::PromptOnly => vec![ImagePrompt, VideoPrompt],
        };
        if storyboard && self != Self::PromptOnly {
            v.push(Storyboard);
            v.sort_by_key(|s| s.number());
        }
        v
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    ImagePrompt,
    ImageGeneration,
    Storyboard,
    VideoPrompt,
    VideoGeneration,
}

impl Stage {
    pub fn number(self) -> u8 {
        match self {
            Self::ImagePrompt => 1,
            Self::ImageGeneration => 2,
            Self::Storyboard => 3,
            Self::VideoPrompt => 4,
            Self::VideoGeneration => 5,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Self::ImagePrompt => "image_prompt",
            Self::ImageGeneration => "image_generation",
            Self::Storyboard => "storyboard",
            Self::VideoPrompt => "video_prompt",
            Self::VideoGeneration => "video_generation",
        }
    }
    pub fn folder(self) -> String {
        format!("stage_{:02}_{}", self.number(), self.name())
    }
    /// Stages whose generations are resumed one by one (the others are run again whole).
    pub fn resumable_inside(self) -> bool {
        matches!(
            self,
            Self::ImageGeneration | Self::Storyboard | Self::VideoGeneration
        )
    }
}

/// Everything that decides what the workflow does; stored in the checkpoint, so that `--resume`
/// continues the same workflow (provider, LLM, device and weights options come from the command
/// line of each invocation).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    pub workflow: Workflow,
    pub prompt: String,
    pub prompt_file: Option<String>,
    pub max_iterations_image: u32,
    pub max_iterations_video: u32,
    pub threshold: f64,
    pub num_image_variations: u32,
    pub num_video_attempts: u32,
    pub storyboard_clips: Option<usize>,
    pub image_model: String,
    pub image_fallback_models: Vec<String>,
    pub video_model: String,
    pub video_fallback_models: Vec<String>,
    pub negative_prompt: Option<String>,
    pub duration: Option<f64>,
    pub aspect_ratio: Option<String>,
    pub seed: Option<u64>,
    /// For the whole workflow (USD).
    pub max_cost: Option<f64>,
}

impl Plan {
    pub fn check(&self) -> Result<(), LoopError> {
        let bad = |s: &str| Err(LoopError::Input(s.into()));
        if self.prompt.trim().is_empty() {
            return bad("the starting prompt is empty");
        }
        if self.max_iterations_image == 0 || self.max_iterations_video == 0 {
            return bad("--max-iterations-image and --max-iterations-video must be at least 1");
        }
        if self.num_image_variations == 0 || self.num_video_attempts == 0 {
            return bad("--num-image-variations and --num-video-attempts must be at least 1");
        }
        if let Some(n) = self.storyboard_clips {
            if self.workflow == Workflow::PromptOnly {
                return bad("--storyboard-clips generates frames: not with --workflow prompt-only");
            }
            if !(1..=vbench_prompt::storyboard_create::MAX_CLIPS).contains(&n) {
                return Err(LoopError::Input(format!(
                    "--storyboard-clips must be 1..={}",
                    vbench_prompt::storyboard_create::MAX_CLIPS
                )));
            }
        }
        if let Some(m) = self.max_cost {
            if !(m.is_finite() && m >= 0.0) {
                return bad("--max-cost must be >= 0");
            }
        }
        Ok(())
    }
}

/// One stage in the checkpoint and in `workflow_summary.json` (the spec's `WorkflowStage`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StageRecord {
    pub stage: Stage,
    pub stage_name: String,
    pub number: u8,
    /// Relative to the loop folder.
    pub folder: String,
    /// `pending`, `running`, `completed`, `interrupted`, `failed`.
    pub status: String,
    /// Tries of this stage (interactive retries and feedback iterations count).
    pub tries: u32,
    pub inputs: Value,
    pub outputs: Value,
    pub scores: Value,
    /// The latest human feedback for this stage.
    pub feedback: Option<String>,
    /// Files (relative to the loop folder) that must exist for the stage to count as done.
    pub files: Vec<String>,
    /// USD spent by this stage, earlier tries included.
    pub cost_usd: f64,
    /// USD of earlier tries (set aside under `retries/`).
    pub earlier_tries_cost_usd: f64,
    pub seconds: f64,
    /// Inside a generation stage: finished generations and their cost so far.
    pub progress: Option<Value>,
    pub error: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// Earlier tries: folder (under `retries/`), outputs, cost, why it was retried.
    pub earlier_tries: Vec<Value>,
}

impl StageRecord {
    pub fn new(stage: Stage) -> Self {
        Self {
            stage,
            stage_name: stage.name().into(),
            number: stage.number(),
            folder: stage.folder(),
            status: "pending".into(),
            tries: 0,
            inputs: Value::Null,
            outputs: Value::Null,
            scores: Value::Null,
            feedback: None,
            files: Vec::new(),
            cost_usd: 0.0,
            earlier_tries_cost_usd: 0.0,
            seconds: 0.0,
            progress: None,
            error: None,
            started_at: None,
            finished_at: None,
            earlier_tries: Vec::new(),
        }
    }
}

/// A human decision in `--interactive` mode.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FeedbackRecord {
    pub stage: String,
    pub try_number: u32,
    /// `accept`, `retry`, `feedback`, `end_of_input`.
    pub action: String,
    pub text: Option<String>,
    pub at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Checkpoint {
    pub tool: String,
    pub version: String,
    /// `running`, `interrupted`, `failed`, `completed`.
    pub status: String,
    pub created_at: String,
    pub updated_at: String,
    pub loop_dir: String,
    pub interactive: bool,
    pub plan: Plan,
    pub stages: Vec<StageRecord>,
    pub feedback: Vec<FeedbackRecord>,
    /// When each `--resume` started.
    pub resumed_at: Vec<String>,
    pub notes: Vec<String>,
}

pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Checkpoint {
    pub fn new(plan: Plan, loop_dir: &Path, interactive: bool) -> Self {
        let stages = plan
            .workflow
            .stages(plan.storyboard_clips.is_some())
            .into_iter()
            .map(StageRecord::new)
            .collect();
        Self {
            tool: TOOL.into(),
            version: VERSION.into(),
            status: "running".into(),
            created_at: now(),
            updated_at: now(),
            loop_dir: loop_dir.display().to_string(),
            interactive,
            plan,
            stages,
            feedback: Vec::new(),
            resumed_at: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub fn save(&mut self, loop_dir: &Path) -> Result<(), LoopError> {
        self.updated_at = now();
        let p = loop_dir.join(CHECKPOINT_FILE);
        let text = serde_json::to_string_pretty(self).map_err(|e| LoopError::Write {
            path: p.clone(),
            reason: e.to_string(),
        })?;
        write_atomic(&p, &(text + "\n"))?;
        Ok(())
    }

    pub fn stage(&self, s: Stage) -> Option<&StageRecord> {
        self.stages.iter().find(|r| r.stage == s)
    }

    /// Total USD: the sum of the stages' costs.
    pub fn total_cost(&self) -> f64 {
        self.stages.iter().map(|s| s.cost_usd).sum()
    }

    /// Reads a checkpoint for `--resume` (a file, or the loop folder holding one) and checks it:
    /// the same tool and version, and every file of a finished stage still there. Returns the
    /// checkpoint and the loop folder (the checkpoint's own folder, wherever it was moved).
    pub fn load_for_resume(path: &Path) -> Result<(Self, PathBuf), LoopError> {
        let file = if path.is_dir() {
            path.join(CHECKPOINT_FILE)
        } else {
            path.to_path_buf()
        };
        let refuse = |reason: String| LoopError::Checkpoint {
            path: file.clone(),
            reason,
        };
        let text = std::fs::read_to_string(&file).map_err(|e| refuse(e.to_string()))?;
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| refuse(format!("not a JSON checkpoint: {e}")))?;
        if v.get("tool").and_then(Value::as_str) != Some(TOOL) {
            return Err(refuse(format!("not a {TOOL} checkpoint")));
        }
        let version = v.get("version").and_then(Value::as_str).unwrap_or("?");
        if version != VERSION {
            return Err(refuse(format!(
                "it was written by {TOOL} {version} and this is {TOOL} {VERSION}; resume it with {TOOL} {version} or start a new run"
            )));
        }
        let cp: Checkpoint = serde_json::from_value(v)
            .map_err(|e| refuse(format!("the checkpoint is damaged: {e}")))?;
        let dir = file
            .parent()
            .map(|p| {
                if p.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    p
                }
            })
            .unwrap_or(Path::new("."))
            .to_path_buf();
        let dir = dir.canonicalize().unwrap_or(dir);
        let missing: Vec<String> = cp
            .stages
            .iter()
            .filter(|s| s.status == "completed")
            .flat_map(|s| s.files.iter())
            .filter(|f| !dir.join(f).exists())
            .cloned()
            .collect();
        if !missing.is_empty() {
            return Err(refuse(format!(
                "files of finished stages are missing from {}: {}",
                dir.display(),
                missing.join(", ")
            )));
        }
        Ok((cp, dir))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflows_name_their_stages() {
        let n = |w: Workflow, sb| -> Vec<u8> { w.stages(sb).iter().map(|s| s.number()).collect() };
        assert_eq!(n(Workflow::Full, false), [1, 2, 4, 5]);
        assert_eq!(n(Workflow::Full, true), [1, 2, 3, 4, 5]);
        assert_eq!(n(Workflow::ImageOnly, false), [1, 2]);
        assert_eq!(n(Workflow::VideoOnly, true), [3, 4, 5]);
        assert_eq!(n(Workflow::PromptOnly, false), [1, 4]);
        assert_eq!(Stage::VideoGeneration.folder(), "stage_05_video_generation");
        assert_eq!("image-only".parse::<Workflow>(), Ok(Workflow::ImageOnly));
        assert!("x".parse::<Workflow>().is_err());
    }
}
