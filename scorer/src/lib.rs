//! VBench 0.1.5 in Rust: decoding, VBench's preprocessing, one module per dimension, and
//! VBench-shaped results.

pub mod cv_resize;
pub mod dimensions;
pub mod error;
pub mod evaluate;
pub mod ftfy;
pub mod grit_detect;
pub mod grit_net;
pub mod hub;
pub mod image_scores;
pub mod prompt_info;
pub mod prompts;
pub mod pyjson;
pub mod runtime;
pub mod sampling;
pub mod scores;
pub mod shard;
pub mod static_filter;
pub mod tag2text_caption;
pub mod text;
pub mod torch_resize;
pub mod transforms;
pub mod video;

pub use error::{ScoreError, VideoErrorKind};
pub use evaluate::{merge, run, EvalConfig, Progress, RunSummary, VideoJob};
pub use hub::ModelHub;
pub use runtime::{DeviceChoice, Precision, Runtime};
