//! vbench-generate: hosted generation behind a small [`provider::Provider`] trait (Replicate in
//! [`replicate`]), with retries, fallbacks along a model chain, per-model prices
//! ([`prices`]) and per-family input mapping ([`models`]), and the `generate-videos` run
//! ([`videos`]) that scores each downloaded video in process with `vbench-scorer`, ranks
//! them and writes metadata, the generation trace and an HTML report ([`report`]).
pub mod attempt;
pub mod error;
pub mod feedback;
pub mod images;
pub mod models;
pub mod prices;
pub mod provider;
pub mod replicate;
pub mod report;
pub mod scoring;
pub mod storyboard;
pub mod videos;

pub use error::ProviderError;
pub use provider::{Prediction, Provider, Status};
