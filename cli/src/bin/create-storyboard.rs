//! `create-storyboard <prompt_file>`: a unified narrative and N clips (motion, camera metadata,
//! start/end frame prompts) from the LLM or the offline planner, the frames generated on a
//! hosted image model, and `storyboard_metadata.json` as `enhance-video-prompt --storyboard`
//! reads it (epic 9, Story 8.3 pattern). Logic: `vbench_prompt::storyboard_create` and
//! `vbench_generate::storyboard`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use vbench_cli::console::{fallback_models, ConsoleUi};
use vbench_generate::attempt::AttemptOptions;
use vbench_generate::images::DEFAULT_MODEL;
use vbench_generate::models::ModelTable;
use vbench_generate::prices::PriceTable;
use vbench_generate::provider::WaitOptions;
use vbench_generate::replicate::{self, Replicate, ReplicateConfig, Token};
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
    #[arg(long, value_name = "URL")]
    api_base: Option<String>,
    #[arg(long, default_value_t = 1000)]
    retry_base_ms: u64,
    #[arg(long, default_value_t = 1.0)]
    poll_interval: f64,
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
    anyhow::ensure!(
        args.poll_interval.is_finite() && args.poll_interval > 0.0,
        "--poll-interval must be > 0"
    );
    replicate::split_model(&args.model)?;
    let table = ModelTable::builtin();
    let fallback_models =
        fallback_models(args.fallback_models.as_deref(), table.fallbacks("image"))?;
    let (agents, notice) = args.llm.agents()?;
    if let Some(n) = notice {
        eprintln!("note: {n}");
    }
    let token = Token::from_env(&cwd)
        .context("no Replicate token: set REPLICATE_API_TOKEN in the environment or in ./.env")?;
    let api_base = replicate::resolve_api_base(args.api_base.as_deref(), &cwd)?;
    let mut cfg = ReplicateConfig::new(api_base, token);
    cfg.backoff_base = Duration::from_millis(args.retry_base_ms);
    cfg.show_progress = false;
    let cancel = Arc::new(AtomicBool::new(false));
    let provider = Replicate::new(cfg, cancel.clone())?;
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
        attempt: AttemptOptions {
            wait: WaitOptions {
                timeout: Duration::from_secs(300),
                poll_first: Duration::from_secs_f64(args.poll_interval),
                poll_max: Duration::from_secs(10),
            },
            tries_per_model: 2,
        },
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
