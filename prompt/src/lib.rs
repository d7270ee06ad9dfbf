//! vbench-prompt: the LLM client and the two-agent prompt enhancement loops behind
//! `enhance-video-prompt` and `enhance-image-prompt` (epic 9, Story 9.1; Story 8.1 pattern).
//!
//! * [`llm`]: the one OpenAI-compatible client (retries, `Retry-After`, JSON mode fallback).
//! * [`agents`]: Director / Prompt Engineer / planner on the HTTP or the [`offline`] backend.
//! * [`rubric`]: score dimensions, weights and the rule-based scorer.
//! * [`enhance`]: the shared loop, the trace layout and the runs.
pub mod agents;
#[cfg(feature = "cli")]
pub mod cli_args;
pub mod config;
pub mod enhance;
pub mod error;
pub mod input;
pub mod journal;
pub mod llm;
pub mod motion;
pub mod offline;
pub mod plan;
pub mod pricing;
pub mod report;
pub mod rubric;
pub mod storyboard;
pub mod storyboard_create;
pub mod trace;
pub mod vqa;

pub use enhance::{run, LoopOptions, Progress, RunFailure, RunOptions, RunOutcome, Tool};
pub use error::{InputError, LlmError, PromptError};
