//! `enhance-image-prompt <input|->`: the two-agent still-image prompt loop (Story 8.1 pattern).
//! Exit codes: 0 done, 2 bad input or fatal error, 130 Ctrl-C.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use vbench_prompt::cli_args::{run_and_report, LlmArgs, LoopArgs, StderrProgress};
use vbench_prompt::input::{read_prompt, PromptSource};
use vbench_prompt::{Progress, RunOptions, Tool};

/// Iteratively enhance an image prompt with a Creative Director and a Prompt Engineer agent
/// (framing, subject, lighting, lens, composition, style).
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Prompt file, or "-" for stdin.
    input: String,
    #[command(flatten)]
    loop_args: LoopArgs,
    /// Where trace folders are created (default: output/image_prompt_traces/).
    #[arg(long, default_value = "output/image_prompt_traces", value_name = "DIR")]
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
    let prompt = read_prompt(&PromptSource::from_arg(&args.input)).context("reading the prompt")?;
    let loop_opts = args.loop_args.options()?;
    let (agents, notice) = args.llm.agents()?;
    if let Some(n) = &notice {
        progress.notice(n);
    }
    let opts = RunOptions {
        tool: Tool::Image,
        prompt: Some(prompt),
        image_to_video: false,
        storyboard: None,
        loop_opts,
        output_dir: args.output_dir,
        notices: notice.into_iter().collect(),
    };
    Ok(run_and_report(&agents, &opts, &progress)?)
}
