//! `background_consistency`: mirrors
//! `vbench/background_consistency.py::background_consistency`.
//!
//! Every frame (decord RGB, as float) → `clip_transform(224)` (torch bicubic A=-0.75 on float,
//! unclamped, centre crop) → CLIP ViT-B/32 `encode_image` → L2 normalise; the same pair formula
//! as subject_consistency. Record: `video_results`, `video_sim` (Σ over pairs), `cnt_per_video`
//! (T-1). Aggregate: pair-weighted.

use std::sync::Arc;

use candle_core::Tensor;

use super::{
    normalize_rows, path_record, AggPart, BatchedScorer, ConsistencyChain, Dimension, FrameNet,
    Outcome, VideoInput, VideoScorer,
};
use crate::error::{ScoreError, VideoErrorKind};
use crate::hub::{ClipWithText, ModelHub};
use crate::pyjson::PyJson;
use crate::runtime::Runtime;
use crate::transforms::{self, Planar};
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

impl FrameNet for BackgroundConsistency {
    type State = ConsistencyChain;

    fn transform(&self, frame: &Frame) -> Planar {
        transforms::clip_transform_float(frame, 224)
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Vec<Vec<f32>>> {
        Ok(normalize_rows(
            self.clip.model.image_features(x)?.to_vec2::<f32>()?,
        ))
    }

    fn fold(&self, chain: &mut ConsistencyChain, row: Vec<f32>) {
        chain.push(row);
    }

    fn finish(
        &self,
        video: &VideoInput,
        chain: ConsistencyChain,
    ) -> Result<Outcome, VideoErrorKind> {
        let mean = chain.mean(NAME)?;
        Ok(Outcome {
            record: path_record(
                video,
                vec![
                    ("video_results", PyJson::Float(mean)),
                    ("video_sim", PyJson::Float(chain.sum)),
                    ("cnt_per_video", PyJson::Int(chain.pairs as i64)),
                ],
            ),
            agg: AggPart {
                sum: chain.sum,
                count: chain.pairs as f64,
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
        Ok(BatchedScorer::boxed(
            self,
            video,
            &self.rt,
            ConsistencyChain::default(),
        ))
    }
}
