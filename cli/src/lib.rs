//! Shared pieces of the command-line tools: argument groups and terminal progress.

pub mod args;
pub mod console;
pub mod progress;
pub mod prompt_llm;
pub mod replicate_args;
pub mod scoring_args;
