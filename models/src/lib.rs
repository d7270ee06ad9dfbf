//! The networks VBench uses, rebuilt on candle.
//!
//! Each network module exposes a serde `Config` (deserialised from the checkpoint's
//! `config.json` where one exists), `Model::new(&Config, VarBuilder)` and `forward` /
//! `*_features` methods returning `candle_core::Result`. No paths, hub access, video or VBench
//! arithmetic live here.

pub mod aesthetic;
pub mod clip;
pub mod dino_vit;
pub mod nn;
pub mod viclip;
