//! Which checkpoint each VBench network needs, where it is found, and how it is opened.
//!
//! * [`manifest`]: the data file listing every checkpoint (`data/manifest.json`).
//! * [`resolve`]: the lookup order `--weights-dir` → Hugging Face cache → download.
//! * [`load`]: opening a checkpoint (safetensors, PyTorch zip pickles) as a `VarBuilder`.
//! * [`hash`]: sha256 of files, cached by size and modification time.

pub mod error;
pub mod hash;
pub mod load;
pub mod manifest;
pub mod resolve;
pub mod safetensors_file;
pub mod torch_zip;

pub use error::WeightsError;
pub use load::{open_checkpoint, CheckpointFormat};
pub use manifest::{Entry, FileSpec, Manifest, Source};
pub use resolve::{Found, Location, Resolver, ResolverOptions};
