//! `enhance-video-prompt <input|->`: the two-agent video prompt loop (epic 9, Story 9.1).
//! Exit codes: 0 done, 1 some storyboard clips failed, 2 bad input or fatal error, 130 Ctrl-C.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use vbench_prompt::cli_args::{run_and_report, LlmArgs, LoopArgs, StderrProgress};
use vbench_prompt::input::{read_prompt, PromptSource};
use vbench_prompt::{storyboard, Progress, RunOptions, Tool};

/// Iteratively enhance a video prompt with a Video Director and a Prompt Engineer agent.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Prompt file, or "-" for stdin. Not used with --storyboard.
    input: Option<String>,
    /// Video-specific enhancement (always on; accepted for compatibility with the spec's CLI).
    #[arg(long)]
    video_mode: bool,
    /// Image-to-video mode: enhance a motion prompt (camera movement, motion intensity,
    /// frame-rate notes, negative prompt).
    #[arg(long)]
    image_to_video: bool,
    /// Storyboard mode: storyboard_metadata.json; each clip's motion prompt is enhanced with the
    /// unified narrative as context.
    #[arg(long, value_name = "PATH")]
    storyboard: Option<PathBuf>,
    #[command(flatten)]
    loop_args: LoopArgs,
    /// Where trace folders are created (default: output/video_prompt_traces/).
    #[arg(long, default_value = "output/video_prompt_traces", value_name = "DIR")]
    output_dir: PathBuf,
    #[command(flatten)]
    llm: LlmArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(args: Args) -> anyhow::Result<ExitCode> {
    let progress = StderrProgress {
        verbose: args.llm.verbose,
    };
    let (prompt, storyboard) = match (&args.input, &args.storyboard) {
        (Some(_), Some(_)) => anyhow::bail!("give either a prompt or --storyboard, not both"),
        (None, None) => {
            anyhow::bail!("no input: give a prompt file, \"-\" for stdin, or --storyboard PATH")
        }
        (Some(i), None) => (
            Some(read_prompt(&PromptSource::from_arg(i)).context("reading the prompt")?),
            None,
        ),
        (None, Some(s)) => (
            None,
            Some(storyboard::load(s).context("reading the storyboard")?),
        ),
    };
    let loop_opts = args.loop_args.options()?;
    let (agents, notice) = args.llm.agents()?;
    if let Some(n) = &notice {
        progress.notice(n);
    }
    let opts = RunOptions {
        tool: Tool::Video,
        prompt,
        image_to_video: args.image_to_video || storyboard.is_some(),
        storyboard,
        loop_opts,
        output_dir: args.output_dir,
        notices: notice.into_iter().collect(),
    };
    Ok(run_and_report(&agents, &opts, &progress)?)
}
