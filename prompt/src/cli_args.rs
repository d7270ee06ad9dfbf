//! Argument groups shared by `enhance-video-prompt` and `enhance-image-prompt` (feature `cli`).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::agents::{Agents, Backend};
use crate::config::{resolve_http, LlmChoice};
use crate::enhance::{LoopOptions, Progress};
use crate::error::{InputError, PromptError};
use crate::llm::HttpLlm;
use crate::pricing::PriceTable;

#[derive(Debug, Clone, Args)]
pub struct LlmArgs {
    /// LLM backend: `auto` (an endpoint when OPENAI_API_KEY or a base URL is set, else offline
    /// with a notice), `openai` (any OpenAI-compatible endpoint) or `offline` (rule-based agents).
    #[arg(long, default_value = "auto", value_parser = ["auto", "openai", "offline"])]
    pub llm: String,
    /// Base URL of an OpenAI-compatible API, e.g. http://127.0.0.1:11434/v1 (Ollama).
    /// Default: OPENAI_BASE_URL (environment or .env), else https://api.openai.com/v1.
    #[arg(long, value_name = "URL")]
    pub llm_base_url: Option<String>,
    /// Model for the Director agent (default: gpt-4-turbo).
    #[arg(long, default_value = "gpt-4-turbo", value_name = "M")]
    pub creative_model: String,
    /// Model for the Prompt Engineer agent (default: gpt-4-turbo).
    #[arg(long, default_value = "gpt-4-turbo", value_name = "M")]
    pub critique_model: String,
    /// JSON price table whose entries replace/extend the built-in one (prompt/data/prices.json).
    #[arg(long, env = "VBENCH_LLM_PRICES", value_name = "FILE")]
    pub prices: Option<PathBuf>,
    /// Per-request timeout in seconds (default: 120).
    #[arg(long, default_value_t = 120.0, value_name = "SECS")]
    pub llm_timeout: f64,
    /// Retries after a failed request (429, 5xx, timeout, connection error; default: 4).
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub llm_retries: u32,
    /// Base of the exponential backoff in milliseconds (default: 1000; Retry-After wins when longer).
    #[arg(long, default_value_t = 1000, value_name = "MS")]
    pub llm_backoff_ms: u64,
    /// Show each step as it runs.
    #[arg(long)]
    pub verbose: bool,
}

#[derive(Debug, Clone, Args)]
pub struct LoopArgs {
    /// Maximum iteration rounds (default: 3).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=20), value_name = "N")]
    pub max_iterations: u32,
    /// Overall score (0-100) at which to stop (default: 85.0).
    #[arg(long, default_value_t = 85.0, value_name = "F")]
    pub threshold: f64,
}

impl LoopArgs {
    pub fn options(&self) -> Result<LoopOptions, InputError> {
        if !(0.0..=100.0).contains(&self.threshold) {
            return Err(InputError::Option(format!(
                "--threshold {} is outside 0-100",
                self.threshold
            )));
        }
        Ok(LoopOptions {
            max_iterations: self.max_iterations,
            threshold: self.threshold,
            ..LoopOptions::default()
        })
    }
}

impl LlmArgs {
    /// Builds the agents; the second value is a notice to show (offline fallback).
    pub fn agents(&self) -> Result<(Agents, Option<String>), PromptError> {
        let prices = match &self.prices {
            Some(p) => PriceTable::with_overrides(p)?,
            None => PriceTable::builtin(),
        };
        if !(self.llm_timeout > 0.0 && self.llm_timeout.is_finite()) {
            return Err(InputError::Option("--llm-timeout must be > 0".into()).into());
        }
        let choice: LlmChoice = self.llm.parse().map_err(InputError::Option)?;
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        let (http, notice) = resolve_http(choice, self.llm_base_url.as_deref(), &cwd)?;
        let backend = match http {
            Some(mut cfg) => {
                cfg.timeout = Duration::from_secs_f64(self.llm_timeout);
                cfg.max_retries = self.llm_retries;
                cfg.backoff_base = Duration::from_millis(self.llm_backoff_ms);
                Backend::Http(HttpLlm::new(cfg)?)
            }
            None => Backend::Offline,
        };
        let offline = matches!(backend, Backend::Offline);
        let model = |m: &String| {
            if offline {
                "offline".to_string()
            } else {
                m.clone()
            }
        };
        let agents = Agents {
            backend,
            prices,
            creative_model: model(&self.creative_model),
            critique_model: model(&self.critique_model),
        };
        Ok((agents, notice))
    }
}

/// Prints notices always and steps with `--verbose`, both to stderr.
pub struct StderrProgress {
    pub verbose: bool,
}

impl Progress for StderrProgress {
    fn notice(&self, msg: &str) {
        eprintln!("note: {msg}");
    }
    fn step(&self, msg: &str) {
        if self.verbose {
            eprintln!("[{}] {msg}", chrono::Local::now().format("%H:%M:%S"));
        }
    }
}

/// Runs one tool invocation on a current-thread runtime, prints the report, and maps the
/// outcome to the binaries' exit codes: 0 done, 1 some storyboard clips failed, otherwise the
/// error's own code (2 fatal / bad input, 130 interrupted), after saying where the finished
/// steps are.
pub fn run_and_report(
    agents: &Agents,
    opts: &crate::RunOptions,
    progress: &dyn Progress,
) -> std::io::Result<std::process::ExitCode> {
    use std::process::ExitCode;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    Ok(match rt.block_on(crate::run(agents, opts, progress)) {
        Ok(out) => {
            print!("{}", crate::report::render(&out.summary));
            if out.partial_failure {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(f) => {
            eprintln!("error: {}", f.error);
            if let Some(dir) = f.trace_dir {
                eprintln!(
                    "note: the steps finished so far and a summary of the failure are in {}",
                    dir.display()
                );
            }
            ExitCode::from(f.error.exit_code())
        }
    })
}
