//! `feedback-loop <prompt_file>`: the end-to-end workflow (epic 9, Story 9.3) with
//! checkpoint/resume and human feedback. The logic is in `vbench_generate::feedback`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use vbench_cli::console::{fallback_models, ConsoleUi};
use vbench_cli::replicate_args::{cancel_on_ctrl_c, ReplicateArgs};
use vbench_cli::scoring_args::ScoringArgs;
use vbench_generate::feedback::{self, Env, LoopError, Plan, Start, Workflow};
use vbench_generate::models::ModelTable;
use vbench_generate::prices::PriceTable;
use vbench_generate::replicate::{self, Token};
use vbench_prompt::cli_args::LlmArgs;
use vbench_prompt::input::{read_prompt, PromptSource};
use vbench_scorer::image_scores::{ImageScorer, METRICS};

/// Test hook (the same as generate-videos'): treat a piped stdin as a terminal for
/// `--interactive`.
const FORCE_INTERACTIVE_VAR: &str = "VBENCH_GENERATE_INTERACTIVE_STDIN";

/// Stands in for a missing Replicate token in `--workflow prompt-only`, which never calls the
/// provider.
const UNUSED_TOKEN: &str = "unused-prompt-only-workflow";

#[derive(Debug, Parser)]
#[command(
    name = "feedback-loop",
    version,
    about = "Image prompt -> image generation -> (storyboard) -> video prompt -> video generation, with checkpoint/resume and human feedback",
    after_help = "Workflows (--workflow):\n  \
full         stage_01_image_prompt, stage_02_image_generation, [stage_03_storyboard], stage_04_video_prompt, stage_05_video_generation\n               \
(image-to-video from stage 2's best image; one clip per storyboard clip when --storyboard-clips is given)\n  \
image-only   stage_01_image_prompt, stage_02_image_generation, [stage_03_storyboard]\n  \
video-only   [stage_03_storyboard], stage_04_video_prompt, stage_05_video_generation (text-to-video, or the storyboard's clips)\n  \
prompt-only  stage_01_image_prompt, stage_04_video_prompt (nothing generated on the provider)\n\
Every run folder holds checkpoint.json (rewritten after each stage and each finished generation), workflow_summary.json and index.html.\n\
--resume PATH (checkpoint.json or its folder) continues from the first unfinished stage; finished images, storyboard frames and videos are not generated or paid again, and finished LLM calls of an interrupted prompt stage are replayed from its journal. \
The workflow options come from the checkpoint; give the provider, LLM, device and weights options again.\n\
The Replicate token is read from REPLICATE_API_TOKEN (environment, then ./.env); prompt-only needs none.\n\
Exit status: 0 completed, 1 a stage failed, 2 bad options/input or a refused checkpoint, 130 interrupted (the resume command is printed)."
)]
struct Args {
    /// Starting prompt file ("-" = stdin). Not with --resume.
    #[arg(value_name = "PROMPT_FILE")]
    prompt_file: Option<String>,
    /// full, image-only, video-only or prompt-only (see below).
    #[arg(long, default_value = "full", value_parser = ["full", "image-only", "video-only", "prompt-only"])]
    workflow: String,
    /// Image prompt iterations.
    #[arg(long, default_value_t = 3, value_name = "N")]
    max_iterations_image: u32,
    /// Video prompt iterations.
    #[arg(long, default_value_t = 3, value_name = "N")]
    max_iterations_video: u32,
    /// Prompt score (0-100) at which the prompt loops stop.
    #[arg(long, default_value_t = 85.0, value_name = "F")]
    threshold: f64,
    /// Images generated in stage 2.
    #[arg(long, default_value_t = 8, value_name = "N")]
    num_image_variations: u32,
    /// Videos generated in stage 5 (per storyboard clip in storyboard mode).
    #[arg(long, default_value_t = 3, value_name = "N")]
    num_video_attempts: u32,
    /// Adds stage 3: a storyboard of N clips; stage 5 then generates each clip from its frames.
    #[arg(long, value_name = "N")]
    storyboard_clips: Option<usize>,
    #[arg(long, default_value = "output/feedback_loops", value_name = "DIR")]
    output_dir: PathBuf,
    /// Pause after each stage: accept, retry the stage, or give feedback for another iteration
    /// of it (only when stdin is a terminal).
    #[arg(long)]
    interactive: bool,
    /// Resume from a checkpoint.json (or the loop folder holding it).
    #[arg(long, value_name = "PATH")]
    resume: Option<PathBuf>,
    /// Image model (stages 2 and 3).
    #[arg(long, default_value = vbench_generate::images::DEFAULT_MODEL, value_name = "M")]
    image_model: String,
    /// Comma-separated fallback image models ("none" = no fallback).
    #[arg(long, value_name = "M1,M2")]
    image_fallback_models: Option<String>,
    /// Video model (stage 5).
    #[arg(long, default_value = "kling/kling-v1", value_name = "M")]
    video_model: String,
    /// Comma-separated fallback video models ("none" = no fallback).
    #[arg(long, value_name = "M1,M2")]
    video_fallback_models: Option<String>,
    #[arg(long, value_name = "S")]
    negative_prompt: Option<String>,
    #[arg(long)]
    duration: Option<f64>,
    #[arg(long)]
    aspect_ratio: Option<String>,
    #[arg(long)]
    seed: Option<u64>,
    /// Cap for the whole workflow (USD).
    #[arg(long, value_name = "USD")]
    max_cost: Option<f64>,
    /// Generation price file (generate/data/prices.json format).
    #[arg(long, value_name = "PATH")]
    generation_prices: Option<PathBuf>,
    /// Seconds to wait for one prediction before cancelling it and moving on.
    #[arg(long, default_value_t = 900.0, value_name = "SECS")]
    prediction_timeout: f64,
    #[command(flatten)]
    replicate: ReplicateArgs,
    #[command(flatten)]
    scoring: ScoringArgs,
    #[command(flatten)]
    llm: LlmArgs,
}

fn main() -> ExitCode {
    vbench_cli::console::run_main(run(Args::parse()))
}

async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let ui = ConsoleUi {
        verbose: args.llm.verbose,
        interactive: true,
    };
    let cwd = std::env::current_dir().context("no working directory")?;
    let table = ModelTable::builtin();
    let interactive = if args.interactive {
        let forced = std::env::var(FORCE_INTERACTIVE_VAR).is_ok_and(|v| v == "1");
        if std::io::stdin().is_terminal() || forced {
            true
        } else {
            eprintln!("note: stdin is not a terminal: --interactive is off");
            false
        }
    } else {
        false
    };
    let start = match &args.resume {
        Some(p) => {
            anyhow::ensure!(
                args.prompt_file.is_none(),
                "--resume continues a workflow: give no prompt file"
            );
            Start::Resume {
                checkpoint: p.clone(),
                interactive,
            }
        }
        None => {
            let f = args.prompt_file.as_deref().context(
                "no input: give a starting prompt file (\"-\" = stdin) or --resume PATH",
            )?;
            let prompt = read_prompt(&PromptSource::from_arg(f)).context("reading the prompt")?;
            let workflow: Workflow = args.workflow.parse().map_err(anyhow::Error::msg)?;
            anyhow::ensure!(
                (0.0..=100.0).contains(&args.threshold),
                "--threshold must be 0-100"
            );
            replicate::split_model(&args.image_model)?;
            replicate::split_model(&args.video_model)?;
            let key = if workflow == Workflow::Full || args.storyboard_clips.is_some() {
                "image-to-video"
            } else {
                "text-to-video"
            };
            let plan = Plan {
                workflow,
                prompt,
                prompt_file: (f != "-").then(|| f.to_string()),
                max_iterations_image: args.max_iterations_image,
                max_iterations_video: args.max_iterations_video,
                threshold: args.threshold,
                num_image_variations: args.num_image_variations,
                num_video_attempts: args.num_video_attempts,
                storyboard_clips: args.storyboard_clips,
                image_model: args.image_model.clone(),
                image_fallback_models: fallback_models(
                    args.image_fallback_models.as_deref(),
                    table.fallbacks("image"),
                )?,
                video_model: args.video_model.clone(),
                video_fallback_models: fallback_models(
                    args.video_fallback_models.as_deref(),
                    table.fallbacks(key),
                )?,
                negative_prompt: args.negative_prompt.clone(),
                duration: args.duration,
                aspect_ratio: args.aspect_ratio.clone(),
                seed: args.seed,
                max_cost: args.max_cost,
            };
            plan.check()?;
            Start::New {
                plan: Box::new(plan),
                output_dir: args.output_dir.clone(),
                interactive,
            }
        }
    };
    let prices = match &args.generation_prices {
        Some(p) => PriceTable::with_overrides(p)?,
        None => PriceTable::builtin(),
    };
    let (agents, notice) = args.llm.agents()?;
    if let Some(n) = &notice {
        eprintln!("note: {n}");
    }
    // --- provider. prompt-only never calls it: no token is needed then (a placeholder that is
    // never sent stands in).
    let prompt_only = match &start {
        Start::New { plan, .. } => plan.workflow == Workflow::PromptOnly,
        // an unreadable checkpoint is refused by feedback::run before anything is called
        Start::Resume { checkpoint, .. } => {
            match feedback::Checkpoint::load_for_resume(checkpoint) {
                Ok((cp, _)) => cp.plan.workflow == Workflow::PromptOnly,
                Err(_) => true,
            }
        }
    };
    let token = match Token::from_env(&cwd) {
        Some(t) => t,
        None if prompt_only => Token::new(UNUSED_TOKEN).context("placeholder token")?,
        None => anyhow::bail!(
            "no Replicate token: set REPLICATE_API_TOKEN in the environment or in ./.env"
        ),
    };
    let cancel =
        cancel_on_ctrl_c("interrupted: finishing the current step and writing the checkpoint");
    let (api_base, provider) = args.replicate.client(&cwd, token, false, cancel.clone())?;
    // --- scorers
    let (video_scorer, image_scorer, image_skipped) =
        if let Some(vs) = args.scoring.video_scorer()? {
            let is = ImageScorer::load(&args.scoring.hub(1)?, &METRICS)?;
            let skipped = is.skipped.clone();
            eprintln!(
                "video scoring with: {}; image scoring with: {}",
                if vs.scored_dimensions().is_empty() {
                    "no dimension".to_string()
                } else {
                    vs.scored_dimensions().join(", ")
                },
                if is.available().is_empty() {
                    "no network metric".to_string()
                } else {
                    is.available().join(", ")
                }
            );
            (Some(vs), Some(is), skipped)
        } else {
            (None, None, Vec::new())
        };
    let env = Env {
        agents: &agents,
        provider: &provider,
        video_scorer: video_scorer.as_ref(),
        image_scorer: image_scorer.as_ref(),
        image_skipped: &image_skipped,
        prices: &prices,
        table: &table,
        attempt: args.replicate.attempt(args.prediction_timeout)?,
        cancel: &cancel,
        ui: &ui,
        provider_name: "replicate".into(),
        api_base,
    };
    let out = match feedback::run(&env, start).await {
        Ok(o) => o,
        Err(e @ LoopError::Checkpoint { .. }) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
        Err(e) => return Err(e.into()),
    };
    print!("{}", out.console);
    let cp = out.loop_dir.join(feedback::state::CHECKPOINT_FILE);
    Ok(match out.status.as_str() {
        "completed" => ExitCode::SUCCESS,
        "interrupted" => {
            eprintln!(
                "interrupted: the checkpoint is saved. Resume with:\n  feedback-loop --resume {}\n(give the same provider, LLM, device and weights options)",
                cp.display()
            );
            ExitCode::from(130)
        }
        _ => {
            eprintln!(
                "a stage failed; after fixing the cause, resume with:\n  feedback-loop --resume {}",
                cp.display()
            );
            ExitCode::from(1)
        }
    })
}
