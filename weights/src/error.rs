use std::path::PathBuf;

/// Everything that can go wrong while finding, fetching or opening a checkpoint.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    #[error("{}", not_found_message(.entry, .file, .tried, .fetch_cmd))]
    NotFound {
        entry: String,
        file: String,
        tried: Vec<String>,
        fetch_cmd: String,
    },
    #[error("{path} is a legacy (pre-1.6, non-zip) PyTorch pickle, which cannot be read directly; convert it once with:\n    {convert_cmd}")]
    LegacyPickle { path: PathBuf, convert_cmd: String },
    #[error("{path}: sha256 {actual} does not match the manifest's {expected}")]
    HashMismatch {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error("{path}: no tensors found (looked at the top level and under the keys {keys:?})")]
    NoTensors { path: PathBuf, keys: Vec<String> },
    #[error("{path}: unsupported checkpoint format (expected .safetensors, or a PyTorch .pth/.bin/.pt zip archive)")]
    UnknownFormat { path: PathBuf },
    #[error("unknown weights entry `{0}` (see `vbench-score weights list`)")]
    UnknownEntry(String),
    #[error("download of {url} failed: {reason}")]
    Download { url: String, reason: String },
    #[error("the network is disabled (HF_HUB_OFFLINE=1 or --offline) and {what} is not available locally")]
    Offline { what: String },
    #[error("invalid weights manifest: {0}")]
    Manifest(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Candle {
        path: PathBuf,
        #[source]
        source: candle_core::Error,
    },
}

fn not_found_message(entry: &str, file: &str, tried: &[String], fetch_cmd: &str) -> String {
    let mut s = format!("missing weights: `{file}` of `{entry}`; looked in:");
    for t in tried {
        s.push_str("\n    ");
        s.push_str(t);
    }
    s.push_str("\n  fetch it with:\n    ");
    s.push_str(fetch_cmd);
    s
}

impl WeightsError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        WeightsError::Io {
            path: path.into(),
            source,
        }
    }
}
