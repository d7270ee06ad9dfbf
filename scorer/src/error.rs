//! Errors: [`ScoreError`] stops a run (options, weights, model build); [`VideoError`] belongs
//! to one video, is kept in the results and left out of the aggregate, and the run goes on.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ScoreError {
    #[error(transparent)]
    Weights(#[from] vbench_weights::WeightsError),
    #[error("model: {0}")]
    Model(#[from] candle_core::Error),
    #[error("unknown dimension `{0}`; known: {known}", known = crate::dimensions::ALL.join(", "))]
    UnknownDimension(String),
    #[error("{0}")]
    Options(String),
    #[error("tokenizer {path}: {reason}")]
    Tokenizer { path: PathBuf, reason: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("device: {0}")]
    Device(String),
    #[error("image {path}: {reason}")]
    Image { path: PathBuf, reason: String },
}

impl ScoreError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ScoreError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Why one video could not be scored (a one-line reason for the user).
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum VideoErrorKind {
    #[error("file not found")]
    Missing,
    #[error("empty file (0 bytes)")]
    Empty,
    #[error("cannot open as a video: {0}")]
    Unreadable(String),
    #[error("no video stream (audio-only or not a video file)")]
    NoVideoStream,
    #[error("no frame could be decoded (truncated or corrupt file)")]
    NoFrames,
    #[error("decode error: {0}")]
    Decode(String),
    #[error("{0}")]
    Io(String),
    #[error("{0}")]
    TooFewFrames(String),
    #[error("{0}")]
    MissingInput(String),
    #[error("model error: {0}")]
    Model(String),
}

impl From<candle_core::Error> for VideoErrorKind {
    fn from(e: candle_core::Error) -> Self {
        VideoErrorKind::Model(e.to_string())
    }
}
