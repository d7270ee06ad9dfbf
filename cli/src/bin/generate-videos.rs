//! `generate-videos <prompt_file>`: hosted video generation (Replicate) with VBench scoring in
//! process, ranking, metadata, trace and an HTML report (epic 9, Story 9.2). The logic is in
//! `vbench_generate::videos`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use vbench_cli::console::{fallback_models, ConsoleUi};
use vbench_cli::replicate_args::{self, cancel_on_ctrl_c, merge_settings, ReplicateArgs};
use vbench_cli::scoring_args::ScoringArgs;
use vbench_generate::models::ModelTable;
use vbench_generate::prices::PriceTable;
use vbench_generate::replicate;
use vbench_generate::videos::{self, ImageRef, Mode, Options};
use vbench_prompt::input::{read_prompt, PromptSource};

/// Test hook: treat a piped stdin as a terminal for `--interactive`.
const FORCE_INTERACTIVE_VAR: &str = "VBENCH_GENERATE_INTERACTIVE_STDIN";

#[derive(Debug, Parser)]
#[command(
    name = "generate-videos",
    version,
    about = "Generate videos on Replicate, score them with VBench in process, rank them",
    after_help = "The Replicate token is read from REPLICATE_API_TOKEN (environment, then ./.env) and is never written anywhere.\n\
Default fallback chain (data/models.json): text-to-video kwaivgi/kling-v1.6-standard, wavespeedai/wan-2.1-t2v-480p, pixverse/pixverse-v4; \
image-to-video kwaivgi/kling-v1.6-standard, wavespeedai/wan-2.1-i2v-480p, pixverse/pixverse-v4 (the requested model is tried first).\n\
Exit status: 0 all videos generated and scored, 3 some attempts failed, 4 stopped by --max-cost, 1 nothing generated, 2 bad options or input, 130 interrupted."
)]
struct Args {
    /// Enhanced prompt file ("-" = stdin). In storyboard mode: optional
    /// storyboard_enhanced_motion_prompts.json from `enhance-video-prompt --storyboard`.
    #[arg(value_name = "PROMPT_FILE")]
    prompt_file: Option<String>,
    /// Video attempts (default 3; in storyboard mode 1 per clip).
    #[arg(long, value_name = "N")]
    num_attempts: Option<u32>,
    /// Image-to-video mode (requires --hero-frame).
    #[arg(long)]
    image_to_video: bool,
    /// Hero frame image (path, or http(s) URL) for image-to-video.
    #[arg(long, value_name = "PATH")]
    hero_frame: Option<String>,
    /// Motion prompt for image-to-video (e.g. "camera pans left"); used instead of the prompt
    /// file's text when given.
    #[arg(long, value_name = "S")]
    motion_prompt: Option<String>,
    /// storyboard_metadata.json: one generation per clip from its start/end frames.
    #[arg(long, value_name = "PATH")]
    storyboard: Option<PathBuf>,
    /// Negative prompt (e.g. "jerky, flicker, inconsistent").
    #[arg(long, value_name = "S")]
    negative_prompt: Option<String>,
    #[arg(long, default_value = "output/video_generations", value_name = "DIR")]
    output_dir: PathBuf,
    /// Replicate model: owner/name or owner/name:version.
    #[arg(long, default_value = "kling/kling-v1", value_name = "M")]
    model: String,
    /// Comma-separated models tried in order when the model keeps failing ("none" = no
    /// fallback). Default: the chain for the mode in data/models.json.
    #[arg(long, value_name = "M1,M2")]
    fallback_models: Option<String>,
    /// Requested video length in seconds (models without a duration input ignore it).
    #[arg(long)]
    duration: Option<f64>,
    /// e.g. 16:9.
    #[arg(long)]
    aspect_ratio: Option<String>,
    /// Seed of attempt 1; attempt i uses seed + i - 1.
    #[arg(long)]
    seed: Option<u64>,
    #[command(flatten)]
    scoring: ScoringArgs,
    /// After ranking, ask: accept / pick another / feedback for another round (only when
    /// stdin is a terminal).
    #[arg(long)]
    interactive: bool,
    /// Stop before a prediction whose estimated cost would bring the total above this (USD).
    #[arg(long, value_name = "USD")]
    max_cost: Option<f64>,
    /// Price file extending/replacing the built-in table (generate/data/prices.json format).
    #[arg(long, value_name = "PATH")]
    prices: Option<PathBuf>,
    /// Seconds to wait for one prediction before cancelling it and moving on.
    #[arg(long, default_value_t = 900.0, value_name = "SECS")]
    prediction_timeout: f64,
    #[command(flatten)]
    replicate: ReplicateArgs,
    /// No download progress bars.
    #[arg(long)]
    quiet: bool,
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
    // --- inputs and mode
    let mode = if let Some(sb) = &args.storyboard {
        anyhow::ensure!(
            !args.image_to_video && args.hero_frame.is_none(),
            "--storyboard takes the frames from the storyboard: drop --image-to-video/--hero-frame"
        );
        let storyboard = vbench_prompt::storyboard::load(sb).context("reading the storyboard")?;
        let (enhanced, enhanced_source) = match &args.prompt_file {
            Some(p) => (
                videos::read_enhanced_prompts(std::path::Path::new(p))?,
                Some(PathBuf::from(p)),
            ),
            None => (Default::default(), None),
        };
        Mode::Storyboard {
            storyboard,
            enhanced,
            enhanced_source,
        }
    } else if args.image_to_video || args.hero_frame.is_some() {
        let hero = args
            .hero_frame
            .as_deref()
            .context("--image-to-video needs --hero-frame PATH")?;
        let hero = ImageRef::parse(hero);
        if let ImageRef::File(p) = &hero {
            anyhow::ensure!(p.is_file(), "hero frame {} does not exist", p.display());
        }
        let prompt = match (&args.prompt_file, &args.motion_prompt) {
            (Some(f), _) => {
                read_prompt(&PromptSource::from_arg(f)).context("reading the prompt")?
            }
            (None, Some(m)) => m.clone(),
            (None, None) => anyhow::bail!("image-to-video needs --motion-prompt or a prompt file"),
        };
        Mode::ImageToVideo {
            prompt,
            hero_frame: hero,
            motion_prompt: args.motion_prompt.clone(),
        }
    } else {
        let f = args
            .prompt_file
            .as_deref()
            .context("no input: give a prompt file (\"-\" = stdin), --image-to-video --hero-frame, or --storyboard")?;
        Mode::TextToVideo {
            prompt: read_prompt(&PromptSource::from_arg(f)).context("reading the prompt")?,
        }
    };
    let attempts = args.num_attempts.unwrap_or(match mode {
        Mode::Storyboard { .. } => 1,
        _ => 3,
    });
    anyhow::ensure!(attempts >= 1, "--num-attempts must be at least 1");
    if let Some(m) = args.max_cost {
        anyhow::ensure!(m.is_finite() && m >= 0.0, "--max-cost must be >= 0");
    }
    replicate::split_model(&args.model)?;
    let table = ModelTable::builtin();
    let fallback_models = fallback_models(
        args.fallback_models.as_deref(),
        table.fallbacks(mode.fallback_key()),
    )?;
    let prices = match &args.prices {
        Some(p) => PriceTable::with_overrides(p)?,
        None => PriceTable::builtin(),
    };
    // --- provider
    let token = replicate_args::token(&cwd)?;
    let cancel =
        cancel_on_ctrl_c("interrupted: cancelling the running prediction and writing the trace");
    let (api_base, provider) = args.replicate.client(
        &cwd,
        token,
        !args.quiet && std::io::stderr().is_terminal(),
        cancel.clone(),
    )?;
    // --- scorer
    let scorer = args.scoring.video_scorer()?;
    if let Some(s) = &scorer {
        eprintln!(
            "scoring on {} with: {}",
            s.device(),
            if s.scored_dimensions().is_empty() {
                "no dimension".to_string()
            } else {
                s.scored_dimensions().join(", ")
            }
        );
        for sk in &s.skipped {
            if args.verbose {
                eprintln!("  skipped {}: {}", sk.dimension, sk.reason);
            }
        }
        if !s.skipped.is_empty() {
            let names: Vec<&str> = s.skipped.iter().map(|x| x.dimension.as_str()).collect();
            eprintln!(
                "skipped dimensions ({}): {} (reasons in generation_trace.json; --verbose shows them)",
                names.len(),
                names.join(", ")
            );
        }
    }
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
    let mut settings = serde_json::json!({
        "num_attempts": attempts,
        "image_to_video": matches!(mode, Mode::ImageToVideo { .. }),
        "duration": args.duration,
        "aspect_ratio": args.aspect_ratio,
        "seed": args.seed,
        "interactive": interactive,
        "max_cost": args.max_cost,
        "prices_file": args.prices.as_ref().map(|p| p.display().to_string()),
    });
    merge_settings(
        &mut settings,
        args.replicate.settings(args.prediction_timeout),
    );
    let opts = Options {
        mode,
        prompt_file: args.prompt_file.as_ref().map(PathBuf::from),
        attempts,
        negative_prompt: args.negative_prompt.clone(),
        output_dir: args.output_dir.clone(),
        model: args.model.clone(),
        fallback_models,
        duration: args.duration,
        aspect_ratio: args.aspect_ratio.clone(),
        seed: args.seed,
        interactive,
        max_cost: args.max_cost,
        attempt: args.replicate.attempt(args.prediction_timeout)?,
        provider_name: "replicate".into(),
        api_base,
        settings,
    };
    let out = videos::run(
        &provider,
        scorer.as_ref(),
        &opts,
        &prices,
        &table,
        &cancel,
        &ui,
    )
    .await?;
    let t = &out.trace;
    println!("\nrun folder: {}", out.run_dir.display());
    for g in &t.groups {
        if let Some(b) = &g.best {
            println!(
                "{}: system-selected best {}",
                g.name,
                out.run_dir.join(b).display()
            );
        }
        if g.selected_by.as_deref() == Some("user") {
            if let Some(s) = &g.selected {
                println!(
                    "{}: chosen by you {}",
                    g.name,
                    out.run_dir.join(s).display()
                );
            }
        }
    }
    println!(
        "cost: {:.4} USD ({} predictions, {} succeeded{}{})",
        t.costs.total_usd,
        t.costs.predictions,
        t.costs.succeeded,
        if t.costs.unpriced_models.is_empty() {
            String::new()
        } else {
            format!("; unpriced: {}", t.costs.unpriced_models.join(", "))
        },
        t.costs
            .max_cost_usd
            .map(|m| format!("; --max-cost {m:.4}"))
            .unwrap_or_default()
    );
    println!(
        "time: generation {:.1} s, scoring {:.1} s, report {:.1} s, total {:.1} s",
        t.timings.generation_seconds,
        t.timings.scoring_seconds,
        t.timings.report_seconds,
        t.timings.total_seconds
    );
    println!(
        "trace: {}\nreport: {}",
        out.run_dir.join(videos::TRACE_FILE).display(),
        out.run_dir
            .join(vbench_generate::report::REPORT_FILE)
            .display()
    );
    if !t.failures.is_empty() {
        eprintln!("{} failure(s):", t.failures.len());
        for f in &t.failures {
            eprintln!(
                "  {} attempt {} ({}): {}",
                f["group"].as_str().unwrap_or("-"),
                f["attempt"],
                f["stage"].as_str().unwrap_or("-"),
                f["error"].as_str().unwrap_or("-")
            );
        }
    }
    Ok(match t.status.as_str() {
        "completed" => ExitCode::SUCCESS,
        "partial" => ExitCode::from(3),
        "stopped_max_cost" => ExitCode::from(4),
        "interrupted" => ExitCode::from(130),
        _ => ExitCode::from(1),
    })
}
