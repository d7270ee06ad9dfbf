//! Error types of the prompt crate.

use std::path::PathBuf;

/// Problems with what the user gave us (prompt, storyboard, flags). Binaries exit with code 2.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("the prompt is empty")]
    EmptyPrompt,
    #[error("prompt file {0} is a directory, not a file")]
    PromptIsDirectory(PathBuf),
    #[error("prompt file {path} is not valid UTF-8 (first bad byte at offset {offset})")]
    NotUtf8 { path: PathBuf, offset: usize },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("storyboard {path}: {reason}")]
    Storyboard { path: PathBuf, reason: String },
    #[error("storyboard {storyboard}: field `{field}` of clip {clip} points to {value:?}, which {reason}")]
    StoryboardPath {
        storyboard: PathBuf,
        clip: String,
        field: String,
        value: String,
        reason: String,
    },
    #[error("price table {path}: {reason}")]
    Prices { path: PathBuf, reason: String },
    #[error("invalid option: {0}")]
    Option(String),
}

/// Failures of an LLM call after all retries.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("{endpoint}: gave up after {attempts} attempt(s): {last}")]
    Exhausted {
        endpoint: String,
        attempts: u32,
        last: String,
    },
    #[error("{endpoint}: HTTP {status} (not retried): {body}")]
    Rejected {
        endpoint: String,
        status: u16,
        body: String,
    },
    #[error("{endpoint}: unreadable response: {reason}")]
    BadResponse { endpoint: String, reason: String },
    #[error("{role}: the model's reply is not valid {what} even after one retry: {reason}")]
    Malformed {
        role: String,
        what: String,
        reason: String,
    },
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    #[error("{0}")]
    Journal(String),
}

/// Everything that can stop an enhancement run.
#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    Llm(#[from] LlmError),
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("output directory {path}: {reason}")]
    OutputDir { path: PathBuf, reason: String },
    #[error("interrupted (Ctrl-C); the steps finished so far are kept")]
    Interrupted,
    #[error("all {count} storyboard clips failed (see {summary})")]
    AllClipsFailed { count: usize, summary: PathBuf },
}

impl PromptError {
    /// Exit code for the binaries: 130 when interrupted, else 2 (bad input and fatal errors).
    pub fn exit_code(&self) -> u8 {
        match self {
            PromptError::Interrupted => 130,
            _ => 2,
        }
    }

    /// True when the user's input is at fault (nothing was written).
    pub fn is_input(&self) -> bool {
        matches!(self, PromptError::Input(_))
    }
}
