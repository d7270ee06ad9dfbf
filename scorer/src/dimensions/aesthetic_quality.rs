//! `aesthetic_quality`: mirrors `vbench/aesthetic_quality.py::laion_aesthetic`.
//!
//! Every frame (decord RGB, float) → `clip_transform(224)` → CLIP ViT-L/14 `encode_image` →
//! f32 → L2 normalise → LAION linear head → ÷10 (f32). Per video: the f32 mean over frames.
//! Aggregate: mean over videos. (VBench feeds 32-frame slices; batching does not change the
//! per-frame numbers.)

use std::sync::Arc;

use candle_core::{DType, Tensor};

use super::{
    path_record, AggPart, BatchedScorer, Dimension, FrameNet, Outcome, VideoInput, VideoScorer,
};
use crate::error::{ScoreError, VideoErrorKind};
use crate::hub::{AestheticNets, ModelHub};
use crate::pyjson::PyJson;
use crate::runtime::Runtime;
use crate::transforms::{self, Planar};
use crate::video::{Frame, ReaderKind};

pub const NAME: &str = "aesthetic_quality";

pub struct AestheticQuality {
    nets: Arc<AestheticNets>,
    rt: Runtime,
}

impl AestheticQuality {
    pub fn load(hub: &ModelHub) -> Result<Self, ScoreError> {
        Ok(Self {
            nets: hub.aesthetic()?,
            rt: hub.runtime.clone(),
        })
    }
}

impl FrameNet for AestheticQuality {
    /// per-frame score / 10, f32 as VBench computes it
    type State = Vec<f32>;

    fn transform(&self, frame: &Frame) -> Planar {
        transforms::clip_transform_float(frame, 224)
    }

    /// One row of one value per frame: the head's score ÷ 10.
    fn forward(&self, x: &Tensor) -> candle_core::Result<Vec<Vec<f32>>> {
        let emb = self.nets.clip.image_features(x)?.to_dtype(DType::F32)?;
        // F.normalize(p=2, dim=-1): x / max(‖x‖, 1e-12)
        let norm = emb
            .sqr()?
            .sum_keepdim(1)?
            .sqrt()?
            .clamp(1e-12f32, f32::MAX)?;
        let emb = emb.broadcast_div(&norm)?;
        let scaled = (self.nets.head.forward(&emb)? / 10.0)?.to_vec1::<f32>()?;
        Ok(scaled.into_iter().map(|v| vec![v]).collect())
    }

    fn fold(&self, scores: &mut Vec<f32>, row: Vec<f32>) {
        scores.extend(row);
    }

    fn finish(&self, video: &VideoInput, scores: Vec<f32>) -> Result<Outcome, VideoErrorKind> {
        // torch.mean of an f32 tensor, read with .item()
        let mean =
            (scores.iter().map(|&v| v as f64).sum::<f64>() / scores.len() as f64) as f32 as f64;
        Ok(Outcome {
            record: path_record(video, vec![("video_results", PyJson::Float(mean))]),
            agg: AggPart {
                sum: mean,
                count: 1.0,
            },
        })
    }
}

impl Dimension for AestheticQuality {
    fn name(&self) -> &'static str {
        NAME
    }
    fn reader(&self) -> ReaderKind {
        ReaderKind::Decord
    }
    fn start(&self, video: &VideoInput) -> Result<Box<dyn VideoScorer + '_>, VideoErrorKind> {
        Ok(BatchedScorer::boxed(self, video, &self.rt, Vec::new()))
    }
}
