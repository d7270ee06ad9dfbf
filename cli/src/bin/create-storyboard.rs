//! `create-storyboard <prompt_file>`: a unified narrative and N clips (motion, camera metadata,
//! start/end frame prompts) from the LLM or the offline planner, the frames generated on a
//! hosted image model, and `storyboard_metadata.json` as `enhance-video-prompt --storyboard`
//! reads it (epic 9, Story 8.3 pattern). Logic: `vbench_prompt::storyboard_create` and
//! `vbench_generate::storyboard`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use vbench_cli::console::{fallback_models, ConsoleUi};
use vbench_cli::replicate_args::{self, cancel_on_ctrl_c, ReplicateArgs};
use vbench_generate::images::DEFAULT_MODEL;
use vbench_generate::models::ModelTable;
use vbench_generate::prices::PriceTable;
use vbench_generate::replicate;
use vbench_generate::storyboard::{self, Options};
use vbench_prompt::cli_args::LlmArgs;
use vbench_prompt::input::{read_prompt, PromptSource};
use vbench_prompt::storyboard_create::{self, MAX_CLIPS};

#[derive(Debug, Parser)]
#[command(
    name = "create-storyboard",
    version,
    about = "Plan a storyboard (LLM or offline), generate its start/end frames, write storyboard_metadata.json",
    after_help = "Exit status: 0 done, 3 some frames failed (their paths are empty), 2 bad options or input."
)]
struct Args {
    /// Prompt file ("-" = stdin).
    #[arg(value_name = "PROMPT_FILE")]
    prompt_file: String,
    /// Number of clips (default 3).
    #[arg(long, default_value_t = 3, value_name = "N")]
    num_clips: usize,
    #[arg(long, default_value = "output/storyboards", value_name = "DIR")]
    output_dir: PathBuf,
    /// Image model for the frames.
    #[arg(long, default_value = DEFAULT_MODEL, value_name = "M")]
    model: String,
    /// Comma-separated fallback image models ("none" = no fallback).
    #[arg(long, value_name = "M1,M2")]
    fallback_models: Option<String>,
    #[arg(long)]
    aspect_ratio: Option<String>,
    #[arg(long)]
    seed: Option<u64>,
    #[arg(long, value_name = "USD")]
    max_cost: Option<f64>,
    /// Seconds to wait for one prediction before cancelling it and moving on.
    #[arg(long, default_value_t = 300.0, value_name = "SECS")]
    prediction_timeout: f64,
    #[command(flatten)]
    replicate: ReplicateArgs,
    #[command(flatten)]
    llm: LlmArgs,
}

fn main() -> ExitCode {
    vbench_cli::console::run_main(run(Args::parse()))
}

async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let cwd = std::env::current_dir().context("no working directory")?;
    let prompt =
        read_prompt(&PromptSource::from_arg(&args.prompt_file)).context("reading the prompt")?;
    anyhow::ensure!(
        (1..=MAX_CLIPS).contains(&args.num_clips),
        "--num-clips must be 1..={MAX_CLIPS}"
    );
    let attempt = args.replicate.attempt(args.prediction_timeout)?;
    replicate::split_model(&args.model)?;
    let table = ModelTable::builtin();
    let fallback_models =
        fallback_models(args.fallback_models.as_deref(), table.fallbacks("image"))?;
    let (agents, notice) = args.llm.agents()?;
    if let Some(n) = notice {
        eprintln!("note: {n}");
    }
    let token = replicate_args::token(&cwd)?;
    let cancel = cancel_on_ctrl_c("interrupted: cancelling the running prediction");
    let (_, provider) = args.replicate.client(&cwd, token, false, cancel.clone())?;
    eprintln!(
        "planning {} clips with the {} planner",
        args.num_clips,
        agents.backend_name()
    );
    let (plan, record) = storyboard_create::plan(&agents, &prompt, args.num_clips).await?;
    if let Some(n) = &record.fallback_note {
        eprintln!("note: {n}");
    }
    let opts = Options {
        prompt,
        output_dir: args.output_dir.clone(),
        model: args.model.clone(),
        fallback_models,
        aspect_ratio: args.aspect_ratio.clone(),
        seed: args.seed,
        max_cost: args.max_cost,
        attempt,
    };
    let out = storyboard::run(
        &provider,
        &plan,
        &record,
        &opts,
        &PriceTable::builtin(),
        &table,
        &cancel,
        &ConsoleUi {
            verbose: false,
            interactive: false,
        },
    )
    .await?;
    println!("storyboard: {}", out.metadata.display());
    println!("frames cost: {:.4} USD", out.cost_usd);
    Ok(if out.complete {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    })
}
