//! `background_consistency`: mirrors
//! `vbench/background_consistency.py::background_consistency`.
//!
//! Every frame (decord RGB, as float) → `clip_transform(224)` (torch bicubic A=-0.75 on float,
//! unclamped, centre crop) → CLIP ViT-B/32 `encode_image` → L2 normalise; the same pair formula
//! as subject_consistency. Record: `video_results`, `video_sim` (Σ over pairs), `cnt_per_video`
//! (T-1). Aggregate: pair-weighted.

use std::sync::Arc;

use super::{
    path_record, AggPart, Batch, ConsistencyChain, Dimension, Outcome, VideoInput, VideoScorer,
};
use crate::error::{ScoreError, VideoErrorKind};
use crate::hub::{ClipWithText, ModelHub};
use crate::pyjson::PyJson;
use crate::runtime::Runtime;
use crate::transforms;
use crate::video::{Frame, ReaderKind};

pub const NAME: &str = "background_consistency";

pub struct BackgroundConsistency {
    clip: Arc<ClipWithText>,
    rt: Runtime,
}

impl BackgroundConsistency {
    pub fn load(hub: &ModelHub) -> Result<Self, ScoreError> {
        Ok(Self {
            clip: hub.clip_b32()?,
            rt: hub.runtime.clone(),
        })
    }
}

struct Scorer<'a> {
    dim: &'a BackgroundConsistency,
    video: VideoInput,
    batch: Batch,
    chain: ConsistencyChain,
}

impl Scorer<'_> {
    fn flush(&mut self) -> Result<(), VideoErrorKind> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let x = self.batch.take(&self.dim.rt.device)?;
        let feats = self.dim.clip.model.image_features(&x)?.to_vec2::<f32>()?;
        for f in super::normalize_rows(feats) {
            self.chain.push(f);
        }
        Ok(())
    }
}

impl VideoScorer for Scorer<'_> {
    fn push(&mut self, frame: &Frame) -> Result<(), VideoErrorKind> {
        if self
            .batch
            .push(transforms::clip_transform_float(frame, 224))
        {
            self.flush()?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<Outcome, VideoErrorKind> {
        self.flush()?;
        let mean = self.chain.mean(NAME)?;
        Ok(Outcome {
            record: path_record(
                &self.video,
                vec![
                    ("video_results", PyJson::Float(mean)),
                    ("video_sim", PyJson::Float(self.chain.sum)),
                    ("cnt_per_video", PyJson::Int(self.chain.pairs as i64)),
                ],
            ),
            agg: AggPart {
                sum: self.chain.sum,
                count: self.chain.pairs as f64,
            },
        })
    }
}

impl Dimension for BackgroundConsistency {
    fn name(&self) -> &'static str {
        NAME
    }
    fn reader(&self) -> ReaderKind {
        ReaderKind::Decord
    }
    fn start(&self, video: &VideoInput) -> Result<Box<dyn VideoScorer + '_>, VideoErrorKind> {
        Ok(Box::new(Scorer {
            dim: self,
            video: video.clone(),
            batch: Batch::new(self.rt.batch_size),
            chain: ConsistencyChain::default(),
        }))
    }
}
