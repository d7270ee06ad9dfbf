//! `generate-images <prompt_file>`: N image variations on a hosted image model (Replicate),
//! scored in process (PickScore, CLIP similarity, LAION aesthetic; VQAScore through an
//! OpenAI-compatible vision model with `--vqa-model`), ranked so that `image_001.png` is the best (epic 9, Story 8.2 pattern). The logic
//! is in `vbench_generate::images`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use vbench_cli::args::WeightsArgs;
use vbench_cli::console::{fallback_models, ConsoleUi};
use vbench_cli::replicate_args::{self, cancel_on_ctrl_c, merge_settings, ReplicateArgs};
use vbench_generate::images::{self, HttpVqa, Options, DEFAULT_MODEL};
use vbench_generate::models::ModelTable;
use vbench_generate::prices::PriceTable;
use vbench_generate::replicate;
use vbench_prompt::input::{read_prompt, PromptSource};
use vbench_scorer::image_scores::{ImageScorer, METRICS};
use vbench_scorer::{DeviceChoice, ModelHub, Runtime};

#[derive(Debug, Parser)]
#[command(
    name = "generate-images",
    version,
    about = "Generate image variations on Replicate, score them (PickScore, CLIP, aesthetic), rank them",
    after_help = "The Replicate token is read from REPLICATE_API_TOKEN (environment, then ./.env) and is never written anywhere.\n\
Default fallback chain (data/models.json \"image\"): black-forest-labs/flux-schnell, stability-ai/sdxl.\n\
Ranking: the mean of each image's rank under every metric scored for all images (see generation_trace.json scoring.ranking_rule).\n\
Exit status: 0 all variations generated and scored, 3 some failed, 4 stopped by --max-cost, 1 nothing generated, 2 bad options or input, 130 interrupted."
)]
struct Args {
    /// Prompt file ("-" = stdin).
    #[arg(value_name = "PROMPT_FILE")]
    prompt_file: String,
    /// Image variations (default 8).
    #[arg(long, default_value_t = 8, value_name = "N")]
    num_variations: u32,
    #[arg(long, value_name = "S")]
    negative_prompt: Option<String>,
    #[arg(long, default_value = "output/image_generations", value_name = "DIR")]
    output_dir: PathBuf,
    /// Replicate image model: owner/name or owner/name:version.
    #[arg(long, default_value = DEFAULT_MODEL, value_name = "M")]
    model: String,
    /// Comma-separated fallback models ("none" = no fallback). Default: data/models.json "image".
    #[arg(long, value_name = "M1,M2")]
    fallback_models: Option<String>,
    /// e.g. 16:9 (models without the input ignore it; the trace says so).
    #[arg(long)]
    aspect_ratio: Option<String>,
    /// Seed of variation 1; variation i uses seed + i - 1.
    #[arg(long)]
    seed: Option<u64>,
    /// Do not score; images keep generation order.
    #[arg(long)]
    skip_scoring: bool,
    /// auto, cpu, cuda or metal.
    #[arg(long, default_value = "auto")]
    device: DeviceChoice,
    #[command(flatten)]
    weights: WeightsArgs,
    /// Stop before a prediction whose estimated cost would bring the total above this (USD).
    #[arg(long, value_name = "USD")]
    max_cost: Option<f64>,
    /// Price file extending/replacing the built-in table.
    #[arg(long, value_name = "PATH")]
    prices: Option<PathBuf>,
    /// Seconds to wait for one prediction before cancelling it and moving on.
    #[arg(long, default_value_t = 300.0, value_name = "SECS")]
    prediction_timeout: f64,
    #[command(flatten)]
    replicate: ReplicateArgs,
    /// OpenAI-compatible vision model for VQAScore (e.g. gpt-4o). Without it VQAScore is
    /// reported as not configured. Key: OPENAI_API_KEY (environment or .env).
    #[arg(long, value_name = "M")]
    vqa_model: Option<String>,
    /// Base URL of the VQA endpoint (default OPENAI_BASE_URL, else https://api.openai.com/v1).
    #[arg(long, value_name = "URL")]
    llm_base_url: Option<String>,
    #[arg(long, short)]
    verbose: bool,
}

fn main() -> ExitCode {
    vbench_cli::console::run_main(run(Args::parse()))
}

async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let ui = ConsoleUi {
        verbose: args.verbose,
        interactive: true,
    };
    let cwd = std::env::current_dir().context("no working directory")?;
    let prompt =
        read_prompt(&PromptSource::from_arg(&args.prompt_file)).context("reading the prompt")?;
    anyhow::ensure!(
        args.num_variations >= 1,
        "--num-variations must be at least 1"
    );
    if let Some(m) = args.max_cost {
        anyhow::ensure!(m.is_finite() && m >= 0.0, "--max-cost must be >= 0");
    }
    replicate::split_model(&args.model)?;
    let table = ModelTable::builtin();
    let fallback_models =
        fallback_models(args.fallback_models.as_deref(), table.fallbacks("image"))?;
    let prices = match &args.prices {
        Some(p) => PriceTable::with_overrides(p)?,
        None => PriceTable::builtin(),
    };
    let token = replicate_args::token(&cwd)?;
    let cancel =
        cancel_on_ctrl_c("interrupted: cancelling the running prediction and writing the trace");
    let (api_base, provider) =
        args.replicate
            .client(&cwd, token, std::io::stderr().is_terminal(), cancel.clone())?;
    let (scorer, skipped) = if args.skip_scoring {
        (None, Vec::new())
    } else {
        let runtime = Runtime::new(args.device, 1)?;
        let hub = ModelHub::new(args.weights.resolver()?, runtime);
        let s = ImageScorer::load(&hub, &METRICS)?;
        let skipped = s.skipped.clone();
        eprintln!(
            "scoring with: {}",
            if s.available().is_empty() {
                "no network metric".to_string()
            } else {
                s.available().join(", ")
            }
        );
        (Some(s), skipped)
    };
    let vqa = match &args.vqa_model {
        None => None,
        Some(model) => {
            let (cfg, _) = vbench_prompt::config::resolve_http(
                vbench_prompt::config::LlmChoice::Openai,
                args.llm_base_url.as_deref(),
                &cwd,
            )?;
            let cfg = cfg.context("--vqa-model needs an OpenAI-compatible endpoint")?;
            Some(HttpVqa {
                llm: vbench_prompt::llm::HttpLlm::new(cfg)?,
                model: model.clone(),
            })
        }
    };
    let mut settings = serde_json::json!({
        "vqa_model": args.vqa_model,
        "num_variations": args.num_variations,
        "aspect_ratio": args.aspect_ratio,
        "seed": args.seed,
        "skip_scoring": args.skip_scoring,
        "device": format!("{:?}", args.device).to_lowercase(),
        "max_cost": args.max_cost,
        "prices_file": args.prices.as_ref().map(|p| p.display().to_string()),
    });
    merge_settings(
        &mut settings,
        args.replicate.settings(args.prediction_timeout),
    );
    let opts = Options {
        prompt,
        prompt_file: (args.prompt_file != "-").then(|| PathBuf::from(&args.prompt_file)),
        variations: args.num_variations,
        negative_prompt: args.negative_prompt.clone(),
        output_dir: args.output_dir.clone(),
        model: args.model.clone(),
        fallback_models,
        aspect_ratio: args.aspect_ratio.clone(),
        seed: args.seed,
        max_cost: args.max_cost,
        attempt: args.replicate.attempt(args.prediction_timeout)?,
        provider_name: "replicate".into(),
        api_base,
        settings,
    };
    let out = images::run(
        &provider,
        scorer.as_ref(),
        &skipped,
        vqa.as_ref(),
        &opts,
        &prices,
        &table,
        &cancel,
        &ui,
    )
    .await?;
    println!("run folder: {}", out.run_dir.display());
    Ok(match out.trace.status.as_str() {
        "completed" => ExitCode::SUCCESS,
        "partial" => ExitCode::from(3),
        "stopped_max_cost" => ExitCode::from(4),
        "interrupted" => ExitCode::from(130),
        _ => ExitCode::from(1),
    })
}
