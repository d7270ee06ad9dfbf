//! `vbench-score`: score videos with VBench's dimensions, VBench-shaped results.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use vbench_cli::args::WeightsArgs;
use vbench_cli::progress::Bars;
use vbench_scorer::dimensions::{self, VideoInput};
use vbench_scorer::shard::Shard;
use vbench_scorer::{prompts, DeviceChoice, EvalConfig, ModelHub, Precision, Runtime, VideoJob};

#[derive(Debug, Parser)]
#[command(
    name = "vbench-score",
    version,
    about = "Score videos with VBench 0.1.5's dimensions, number for number",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Video files and/or directories of videos (not recursive).
    #[arg(value_name = "VIDEOS or DIRS")]
    inputs: Vec<PathBuf>,
    /// Comma-separated dimensions (default: every implemented one).
    #[arg(long, short, value_delimiter = ',')]
    dimensions: Vec<String>,
    /// One prompt for every video (VBench --prompt).
    #[arg(long, conflicts_with = "prompts")]
    prompt: Option<String>,
    /// JSON map {video: prompt} (VBench --prompt_file). Without --prompt/--prompts, the prompt
    /// is taken from the file name (`<prompt>-<index>.mp4`). A video the file does not list
    /// has no prompt: the dimensions that need one fail for that video.
    #[arg(long, value_name = "FILE")]
    prompts: Option<PathBuf>,
    /// VBench's prompt-suite JSON (e.g. VBench_full_info.json): videos named
    /// `{prompt_en}-{i}.mp4` are scored on the dimensions their record lists.
    #[arg(long, value_name = "FILE")]
    full_info: Option<PathBuf>,
    /// A `filter-static` result (`filtered_static_video.json`): temporal_flickering then scores
    /// only the videos it lists as static (VBench evaluates temporal_flickering on static videos);
    /// the other dimensions are unaffected.
    #[arg(long, value_name = "FILE")]
    static_list: Option<PathBuf>,
    /// Style phrase for appearance_style when no full-info record gives one.
    #[arg(long)]
    style: Option<String>,
    /// Any-prompt mode (videos without a --full-info record): how a prompt is turned into what
    /// object_class, multiple_objects, color, spatial_relationship and scene check. `rules`:
    /// the built-in parser. `llm`: ask an OpenAI-compatible LLM for it (--llm-base-url or
    /// OPENAI_BASE_URL, key OPENAI_API_KEY from the environment or .env), falling back to the
    /// rules on any failure; the parsed info and any fallback note are stored in each
    /// per-video record (`prompt_info`).
    #[arg(long, default_value = "rules", value_parser = ["rules", "llm"])]
    prompt_parser: String,
    /// With --prompt-parser llm: base URL of the API, e.g. http://127.0.0.1:11434/v1.
    /// Default: OPENAI_BASE_URL (environment or .env), else https://api.openai.com/v1.
    #[arg(long, value_name = "URL")]
    llm_base_url: Option<String>,
    /// With --prompt-parser llm: the model asked.
    #[arg(long, default_value = "gpt-4o-mini", value_name = "M")]
    llm_model: String,
    /// With --prompt-parser llm: per-request timeout in seconds.
    #[arg(long, default_value_t = 60.0, value_name = "SECS")]
    llm_timeout: f64,
    /// With --prompt-parser llm: retries after a failed request.
    #[arg(long, default_value_t = 2, value_name = "N")]
    llm_retries: u32,
    /// scene: caption each of the 16 sampled frames from its own features. VBench captions
    /// frame i from frame i//3's (only frames 0-5 matter); not VBench-compatible.
    #[arg(long)]
    scene_corrected: bool,
    /// scene: the beam-search length normalisation of Tag2Text's captioner, as in
    /// transformers `4.33` (4.33.2, VBench's pin) or `4.46` (4.46.3).
    #[arg(long, default_value = "4.33", value_parser = ["4.33", "4.46"], value_name = "VERSION")]
    beam_rules: String,
    /// color labels every instance with its own ObjectDet text (VBench uses instance 0's for
    /// all) and spatial_relationship checks the relation's direction (VBench ignores it);
    /// not VBench-compatible. Applies to the four GRiT dimensions.
    #[arg(long)]
    semantic_corrected: bool,
    /// auto, cpu, cuda or metal (auto falls back to CPU with a notice).
    #[arg(long, default_value = "auto")]
    device: DeviceChoice,
    /// fp32 (default; VBench on CPU, the parity target) or vbench-cuda-fp16 (the CLIP towers in
    /// fp16 as VBench runs them on CUDA; an approximation, marked in the results).
    #[arg(long, default_value = "fp32")]
    precision: Precision,
    /// Frames per forward pass.
    #[arg(long, default_value_t = 16)]
    batch_size: usize,
    /// imaging_quality's frame preprocessing (VBench --imaging_quality_preprocessing_mode):
    /// `longer` resizes the longer side to 512 when it is larger (VBench's default), `shorter`
    /// the shorter side, `shorter_centercrop` the shorter side then a 512x512 centre crop,
    /// `None` keeps the frames as they are.
    #[arg(long, value_name = "MODE", default_value = "longer")]
    imaging_quality_mode: dimensions::imaging_quality::PreprocessMode,
    #[command(flatten)]
    weights: WeightsArgs,
    /// Output folder (VBench --output_path).
    #[arg(long, short, default_value = "evaluation_results")]
    output: PathBuf,
    /// Run name: files are `<name>_eval_results.json` etc. Default `results_<timestamp>`, or
    /// with --resume the newest run in the output folder.
    #[arg(long)]
    name: Option<String>,
    /// Skip videos already in the run's per-video results.
    #[arg(long)]
    resume: bool,
    /// Score a deterministic 1/N of the videos (0-based K); `merge` joins the shards. Also
    /// taken from SLURM_ARRAY_TASK_ID/_MIN/_COUNT or JOB_COMPLETION_INDEX (with --shard-count).
    #[arg(long, value_name = "K/N")]
    shard: Option<Shard>,
    /// The number of shards, for JOB_COMPLETION_INDEX (Kubernetes Indexed Jobs) or to override
    /// SLURM_ARRAY_TASK_COUNT.
    #[arg(long, value_name = "N")]
    shard_count: Option<usize>,
    /// Download missing weights of the requested dimensions before scoring (otherwise
    /// dimensions whose weights are not local are skipped, with the command that fetches them).
    #[arg(long)]
    download: bool,
    /// Print the results as JSON on stdout (the table goes to stderr).
    #[arg(long)]
    json: bool,
    #[arg(long, short)]
    verbose: bool,
    /// No progress bars.
    #[arg(long)]
    quiet: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Merge the shards of a run (`--shard K/N` outputs) into the results one process writes.
    Merge {
        /// Folders holding the shards' files (`*_shard.json`, `*_per_video.jsonl`).
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Where the merged results go.
        #[arg(long, short, default_value = "evaluation_results")]
        output: PathBuf,
        /// Name of the merged files (default: the shards' run name).
        #[arg(long)]
        name: Option<String>,
    },
    /// VBench's static filter (`vbench static_filter`): RAFT on every frame pair of each
    /// `*.mp4` in --videos-path; writes `{prompt: {static_count, static_path}}` to
    /// RESULT_PATH/STORE_NAME and copies the static videos to RESULT_PATH/filtered_videos/
    /// as `{prompt}-{i}.mp4`. Score temporal_flickering on that folder, or pass the JSON as
    /// --static-list.
    FilterStatic {
        /// Folder of `.mp4` videos (VBench --videos_path).
        #[arg(long)]
        videos_path: PathBuf,
        /// Output folder (VBench --result_path).
        #[arg(long, default_value = vbench_scorer::static_filter::DEFAULT_RESULT_PATH)]
        result_path: PathBuf,
        /// Output JSON file name (VBench --store_name).
        #[arg(long, default_value = vbench_scorer::static_filter::DEFAULT_STORE_NAME)]
        store_name: String,
        /// `temporal_flickering` (the suite's 75 prompts, at most 5 static videos each), `all`
        /// (every video, no cap) or a .json list of file names/prompts (VBench --filter_scope).
        #[arg(long, default_value = "temporal_flickering")]
        filter_scope: vbench_scorer::static_filter::FilterScope,
        /// raft-things.pth (VBench --model); default: the `raft-things` weights entry.
        #[arg(long, value_name = "FILE")]
        model: Option<PathBuf>,
        /// auto, cpu, cuda or metal.
        #[arg(long, default_value = "auto")]
        device: DeviceChoice,
        /// Frame pairs per RAFT batch (also capped by memory).
        #[arg(long, default_value_t = 16)]
        batch_size: usize,
        #[command(flatten)]
        weights: WeightsArgs,
    },
    /// Checkpoints: what each dimension needs and where it is.
    Weights {
        #[command(subcommand)]
        action: WeightsAction,
        #[command(flatten)]
        weights: WeightsArgs,
    },
}

#[derive(Debug, Subcommand)]
enum WeightsAction {
    /// List every checkpoint, the dimensions that use it, and where it was found.
    List,
    /// Download what the given dimensions need (all when none are given).
    Download { dimensions: Vec<String> },
    /// Hash every local checkpoint and compare with the manifest.
    Verify,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match real_main(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn real_main(cli: Cli) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Some(Command::Weights { action, weights }) => return weights_cmd(action, weights),
        Some(Command::FilterStatic {
            videos_path,
            result_path,
            store_name,
            filter_scope,
            model,
            device,
            batch_size,
            weights,
        }) => {
            let opts = vbench_scorer::static_filter::StaticFilterOptions {
                videos_path: videos_path.clone(),
                result_path: result_path.clone(),
                store_name: store_name.clone(),
                scope: filter_scope.clone(),
                batch_size: *batch_size,
            };
            return filter_static_cmd(&opts, model.as_deref(), *device, weights);
        }
        Some(Command::Merge { dirs, output, name }) => {
            let summary = vbench_scorer::merge(dirs, output, name.as_deref())?;
            print_report(&summary);
            return Ok(if summary.failures.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            });
        }
        None => {}
    }
    let shard = match cli.shard {
        Some(s) => Some(s),
        None => Shard::from_env(|k| std::env::var(k).ok(), cli.shard_count)
            .map_err(anyhow::Error::msg)?,
    };
    if cli.inputs.is_empty() {
        bail!("no videos given (usage: vbench-score [OPTIONS] <VIDEOS or DIRS>...)");
    }
    let dims: Vec<String> = if cli.dimensions.is_empty() {
        dimensions::IMPLEMENTED
            .iter()
            .map(|s| s.to_string())
            .collect()
    } else {
        cli.dimensions
            .iter()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    };
    for d in &dims {
        if !dimensions::ALL.contains(&d.as_str()) {
            bail!(
                "unknown dimension `{d}`; known: {}",
                dimensions::ALL.join(", ")
            );
        }
    }
    let prompt_map: Option<HashMap<String, String>> = cli
        .prompts
        .as_deref()
        .map(prompts::load_prompt_file)
        .transpose()?;
    let full_info = cli
        .full_info
        .as_deref()
        .map(prompts::load_full_info)
        .transpose()?;
    let static_list = cli
        .static_list
        .as_deref()
        .map(vbench_scorer::static_filter::StaticList::load)
        .transpose()?;
    let videos = prompts::expand_inputs(&cli.inputs)?;
    let mut jobs = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for path in videos {
        let display = path.to_string_lossy().into_owned();
        if !seen.insert(display.clone()) {
            continue;
        }
        let record = full_info
            .as_ref()
            .and_then(|r| prompts::match_full_info(r, &path));
        // With --prompts, a video the file does not list has no prompt (VBench asserts every
        // video is listed; here only the dimensions that need a prompt fail for that video).
        let prompt = if let Some(p) = &cli.prompt {
            Some(p.clone())
        } else if let Some(m) = &prompt_map {
            prompts::lookup_prompt(m, &path)
                .cloned()
                .or_else(|| record.map(|r| r.prompt_en.clone()))
        } else if let Some(r) = record {
            Some(r.prompt_en.clone())
        } else {
            Some(prompts::prompt_from_filename(&path))
        };
        if prompt.is_none() {
            eprintln!("note: {display} is not in the prompts file; dimensions that need a prompt fail for it");
        }
        let aux_style = record.and_then(|r| {
            r.auxiliary_info
                .as_ref()?
                .get("appearance_style")?
                .get("appearance_style")?
                .as_str()
                .map(str::to_string)
        });
        let style = aux_style
            .or_else(|| cli.style.clone())
            .or_else(|| prompt.as_deref().and_then(prompts::style_from_prompt));
        let job_dims: Vec<String> = match (&full_info, record) {
            (Some(_), Some(r)) => dims
                .iter()
                .filter(|d| r.dimension.contains(d))
                .cloned()
                .collect(),
            (Some(_), None) => {
                eprintln!("note: {display} matches no record of the full-info file (expected `<prompt_en>-<i>.<ext>`); skipped");
                Vec::new()
            }
            (None, _) => dims.clone(),
        };
        let mut job_dims = job_dims;
        if let Some(list) = &static_list {
            if !list.contains(&path) {
                job_dims.retain(|d| d != "temporal_flickering");
            }
        }
        jobs.push(VideoJob {
            path,
            input: VideoInput {
                display_path: display,
                prompt,
                style,
                meta: None,
                auxiliary_info: record
                    .and_then(|r| r.auxiliary_info.clone())
                    .map(serde_json::Value::Object),
                prompt_info: None,
            },
            dimensions: job_dims,
        });
    }
    if cli.prompt_parser == "llm" {
        parse_prompts_with_llm(&cli, &mut jobs)?;
    }
    let name = match (&cli.name, cli.resume) {
        (Some(n), _) => n.clone(),
        // every shard must write under the same run name, whenever it starts
        (None, _) if shard.is_some() => "results".to_string(),
        (None, true) => newest_run(&cli.output)?.with_context(|| {
            format!(
                "--resume: no earlier run (*_per_video.jsonl) in {}; give --name",
                cli.output.display()
            )
        })?,
        (None, false) => format!(
            "results_{}",
            chrono::Local::now().format("%Y-%m-%d-%H:%M:%S")
        ),
    };
    let runtime = Runtime::new(cli.device, cli.batch_size)?
        .with_precision(cli.precision)
        .with_imaging_quality_mode(cli.imaging_quality_mode);
    if let Some(n) = &runtime.notice {
        eprintln!("note: {n}");
    }
    let resolver = cli.weights.resolver()?;
    if cli.download {
        let wanted: Vec<&str> = dims.iter().map(|s| s.as_str()).collect();
        for e in resolver.manifest.for_dimensions(&wanted) {
            for f in &e.files {
                if let Err(err) = resolver.fetch(e, &f.name) {
                    eprintln!("warning: could not fetch {} {}: {err}", e.id, f.name);
                }
            }
        }
    }
    let mut hub = ModelHub::new(resolver, runtime);
    hub.options = dimensions::DimensionOptions {
        scene: dimensions::scene::SceneOptions {
            corrected: cli.scene_corrected,
            beam_rules: match cli.beam_rules.as_str() {
                "4.46" => vbench_models::tag2text::BeamRules::V4_46,
                _ => vbench_models::tag2text::BeamRules::V4_33,
            },
        },
        semantic: vbench_scorer::grit_detect::SemanticOptions {
            corrected: cli.semantic_corrected,
        },
    };
    let cfg = EvalConfig {
        output_dir: cli.output.clone(),
        name,
        dimensions: dims,
        resume: cli.resume,
        shard,
    };
    let bars = Bars::new(!cli.quiet && std::io::stderr().is_terminal(), cli.verbose);
    let summary = vbench_scorer::run(&hub, &jobs, &cfg, &bars)?;
    bars.finish();
    print_report(&summary);
    if cli.json {
        let out = serde_json::json!({
            "name": summary.name,
            "dimensions": summary.dimensions,
            "scores": summary.scores,
            "videos": summary.videos,
            "failures": summary.failures,
            "skipped_dimensions": summary.skipped_dimensions,
            "eval_results": summary.eval_results.to_serde(),
            "environment": summary.environment,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    }
    Ok(if summary.failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The dimensions that read a prompt's parsed info in any-prompt mode.
const PROMPT_INFO_DIMS: [&str; 5] = [
    "object_class",
    "multiple_objects",
    "color",
    "spatial_relationship",
    "scene",
];

/// `--prompt-parser llm`: parses (once per distinct prompt) the prompts of the videos that
/// have a prompt-info dimension without full-info auxiliary info for it.
fn parse_prompts_with_llm(cli: &Cli, jobs: &mut [VideoJob]) -> anyhow::Result<()> {
    let needs = |j: &VideoJob| {
        j.dimensions.iter().any(|d| {
            PROMPT_INFO_DIMS.contains(&d.as_str())
                && j.input
                    .auxiliary_info
                    .as_ref()
                    .and_then(|a| a.get(d))
                    .is_none()
        })
    };
    let prompts: Vec<String> = jobs
        .iter()
        .filter(|j| needs(j))
        .filter_map(|j| j.input.prompt.clone())
        .collect();
    if prompts.is_empty() {
        return Ok(());
    }
    if !(cli.llm_timeout > 0.0 && cli.llm_timeout.is_finite()) {
        bail!("--llm-timeout must be > 0");
    }
    let cfg = vbench_cli::prompt_llm::LlmParserConfig {
        base_url: cli.llm_base_url.clone(),
        model: cli.llm_model.clone(),
        timeout: std::time::Duration::from_secs_f64(cli.llm_timeout),
        retries: cli.llm_retries,
    };
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let parser =
        vbench_cli::prompt_llm::LlmPromptParser::new(&cfg, &cwd).context("--prompt-parser llm")?;
    let parsed = parser.parse_all(&prompts)?;
    let fell_back = parsed.values().filter(|i| i.note.is_some()).count();
    eprintln!(
        "note: {} prompt(s) parsed by {} ({} fell back to the rule parser)",
        parsed.len(),
        parser.endpoint(),
        fell_back
    );
    for j in jobs.iter_mut().filter(|j| needs(j)) {
        if let Some(p) = &j.input.prompt {
            j.input.prompt_info = parsed.get(p).cloned();
        }
    }
    Ok(())
}

fn newest_run(dir: &std::path::Path) -> anyhow::Result<Option<String>> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Ok(None);
    };
    let mut best: Option<(std::time::SystemTime, String)> = None;
    for e in rd.flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        if let Some(stem) = n.strip_suffix("_per_video.jsonl") {
            let t = e
                .metadata()
                .and_then(|m| m.modified())
                .unwrap_or(std::time::UNIX_EPOCH);
            if best.as_ref().map(|b| t > b.0).unwrap_or(true) {
                best = Some((t, stem.to_string()));
            }
        }
    }
    Ok(best.map(|b| b.1))
}

fn print_report(s: &vbench_scorer::RunSummary) {
    let mut e = String::new();
    e.push_str(&format!(
        "\n{:<26} {:>12} {:>7}\n",
        "dimension", "score", "videos"
    ));
    e.push_str(&format!("{}\n", "-".repeat(47)));
    for d in &s.dimensions {
        e.push_str(&format!(
            "{:<26} {:>12.6} {:>7}\n",
            d.dimension, d.aggregate, d.videos
        ));
    }
    let f = |v: Option<f64>| v.map(|x| format!("{x:.6}")).unwrap_or_else(|| "n/a".into());
    e.push_str(&format!("{}\n", "-".repeat(47)));
    e.push_str(&format!(
        "quality {}  semantic {}  total {}   (partial: quality {} semantic {})\n",
        f(s.scores.quality),
        f(s.scores.semantic),
        f(s.scores.total),
        f(s.scores.quality_partial),
        f(s.scores.semantic_partial)
    ));
    for (d, why) in &s.skipped_dimensions {
        e.push_str(&format!("\nskipped {d}: {why}\n"));
    }
    if !s.failures.is_empty() {
        e.push_str(&format!("\n{} failure(s):\n", s.failures.len()));
        for x in &s.failures {
            e.push_str(&format!(
                "  {} [{}]: {}\n",
                x.video_path, x.dimension, x.reason
            ));
        }
    }
    for w in &s.warnings {
        e.push_str(&format!("warning: {w}\n"));
    }
    e.push_str(&format!(
        "\nresults: {}\nper video: {}\n",
        s.eval_results_path.display(),
        s.per_video_path.display()
    ));
    eprint!("{e}");
}

fn filter_static_cmd(
    opts: &vbench_scorer::static_filter::StaticFilterOptions,
    model: Option<&std::path::Path>,
    device: DeviceChoice,
    weights: &WeightsArgs,
) -> anyhow::Result<ExitCode> {
    let runtime = Runtime::new(device, opts.batch_size)?;
    if let Some(n) = &runtime.notice {
        eprintln!("note: {n}");
    }
    let net = match model {
        Some(p) => {
            std::sync::Arc::new(vbench_scorer::static_filter::load_raft(p, &runtime.device)?)
        }
        None => ModelHub::new(weights.resolver()?, runtime.clone()).raft()?,
    };
    let mut failed = false;
    let report =
        vbench_scorer::static_filter::run(&net, &runtime.device, opts, |v| match &v.result {
            Ok(s) => eprintln!("{}: {}", v.path, if *s { "static" } else { "not static" }),
            Err(e) => {
                failed = true;
                eprintln!("{}: error: {e}", v.path)
            }
        })?;
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    eprintln!(
        "static videos listed in {}, copied to {}",
        report.json_path.display(),
        report.filtered_dir.display()
    );
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn weights_cmd(action: &WeightsAction, args: &WeightsArgs) -> anyhow::Result<ExitCode> {
    let r = args.resolver()?;
    match action {
        WeightsAction::List => {
            for e in &r.manifest.entries {
                println!(
                    "{}  ({})\n  dimensions: {}",
                    e.id,
                    e.network,
                    e.dimensions.join(", ")
                );
                for f in &e.files {
                    match r.locate(e, &f.name) {
                        Some(found) => {
                            let size = std::fs::metadata(&found.path).map(|m| m.len()).unwrap_or(0);
                            println!(
                                "  {:<40} {} ({}, {} bytes)",
                                f.name,
                                found.path.display(),
                                found.location,
                                size
                            )
                        }
                        None => println!("  {:<40} MISSING: {}", f.name, r.fetch_command(e, None)),
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        WeightsAction::Download { dimensions: dims } => {
            for d in dims {
                // `pickscore`: generate-images' PickScore checkpoint and processor (on request only)
                if !dimensions::ALL.contains(&d.as_str())
                    && d != vbench_scorer::image_scores::PICKSCORE
                {
                    bail!(
                        "unknown dimension `{d}`; known: {}",
                        dimensions::ALL.join(", ")
                    );
                }
            }
            let wanted: Vec<&str> = if dims.is_empty() {
                dimensions::ALL.to_vec()
            } else {
                dims.iter().map(|s| s.as_str()).collect()
            };
            let mut failed = false;
            for e in r.manifest.for_dimensions(&wanted) {
                for f in &e.files {
                    let res = r.fetch(e, &f.name).or_else(|err| match err {
                        vbench_weights::WeightsError::HashMismatch { .. } => r.fetch(e, &f.name),
                        other => Err(other),
                    });
                    match res {
                        Ok(found) => println!(
                            "{} {}: {} ({})",
                            e.id,
                            f.name,
                            found.path.display(),
                            found.location
                        ),
                        Err(err) => {
                            failed = true;
                            eprintln!("{} {}: {err}", e.id, f.name)
                        }
                    }
                }
            }
            Ok(if failed {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        WeightsAction::Verify => {
            let mut bad = false;
            for e in &r.manifest.entries {
                for f in &e.files {
                    let Some(found) = r.locate(e, &f.name) else {
                        println!("{} {}: missing", e.id, f.name);
                        continue;
                    };
                    match r.check_hash(f, &found.path)? {
                        vbench_weights::resolve::HashCheck::Match { actual } => {
                            println!("{} {}: ok {actual}", e.id, f.name)
                        }
                        vbench_weights::resolve::HashCheck::Unknown { actual } => println!(
                            "{} {}: sha256 {actual} (no hash in the manifest)",
                            e.id, f.name
                        ),
                        vbench_weights::resolve::HashCheck::Mismatch { expected, actual } => {
                            bad = true;
                            println!(
                                "{} {}: MISMATCH {actual}, manifest says {expected}",
                                e.id, f.name
                            )
                        }
                    }
                }
            }
            Ok(if bad {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}
