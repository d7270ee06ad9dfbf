//! The networks VBench uses, rebuilt on candle.
//!
//! Each network module exposes a serde `Config` (deserialised from the checkpoint's
//! `config.json` where one exists), `Model::new(&Config, VarBuilder)` and `forward` /
//! `*_features` methods returning `candle_core::Result`. No paths, hub access, video or VBench
//! arithmetic live here.

pub mod aesthetic;
pub mod amt;
pub mod bert;
pub mod centernet;
pub mod clip;
pub mod dino_vit;
pub mod grit;
pub mod grit_text;
pub mod musiq;
pub mod nn;
pub mod pickscore;
pub mod raft;
pub mod swin;
pub mod tag2text;
pub mod umt;
pub mod viclip;
pub mod vitdet;
