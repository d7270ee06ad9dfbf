//! `temporal_style`: mirrors `vbench/temporal_style.py`: the ViCLIP cosine between 8
//! `middle`-sampled frames and the raw prompt, per video; aggregate = mean over videos. The
//! computation is shared with the other ViCLIP dimension ([`super::viclip_similarity`]); only
//! the prompts differ: in VBench's standard mode :temporal_style:the 100 prompts of VBench's suite that describe camera motion or playback style (e.g. "..., in super slow motion").

use super::viclip_similarity::ViClipSimilarity;
use super::{Dimension, VideoInput, VideoScorer};
use crate::error::{ScoreError, VideoErrorKind};
use crate::hub::ModelHub;
use crate::video::ReaderKind;

pub const NAME: &str = "temporal_style";

pub struct TemporalStyle(ViClipSimilarity);

impl TemporalStyle {
    pub fn load(hub: &ModelHub) -> Result<Self, ScoreError> {
        Ok(Self(ViClipSimilarity::load(NAME, hub)?))
    }
}

impl Dimension for TemporalStyle {
    fn name(&self) -> &'static str {
        NAME
    }
    fn reader(&self) -> ReaderKind {
        ReaderKind::Decord
    }
    fn start(&self, video: &VideoInput) -> Result<Box<dyn VideoScorer + '_>, VideoErrorKind> {
        self.0.start(video)
    }
    /// `read_frames_decord_by_fps` samples by decord's `len(vr)`.
    fn needs_packet_count(&self) -> bool {
        true
    }
}
