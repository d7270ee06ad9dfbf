//! `aesthetic_quality`: mirrors `vbench/aesthetic_quality.py::laion_aesthetic`.
//!
//! Every frame (decord RGB, float) → `clip_transform(224)` → CLIP ViT-L/14 `encode_image` →
//! f32 → L2 normalise → LAION linear head → ÷10 (f32). Per video: the f32 mean over frames.
//! Aggregate: mean over videos.

use std::sync::Arc;

use candle_core::DType;

use super::{path_record, AggPart, Batch, Dimension, Outcome, VideoInput, VideoScorer};
use crate::error::{ScoreError, VideoErrorKind};
use crate::hub::{AestheticNets, ModelHub};
use crate::pyjson::PyJson;
use crate::runtime::Runtime;
use crate::transforms;
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

struct Scorer<'a> {
    dim: &'a AestheticQuality,
    video: VideoInput,
    batch: Batch,
    /// per-frame score / 10, f32 as VBench computes it
    scores: Vec<f32>,
}

impl Scorer<'_> {
    fn flush(&mut self) -> Result<(), VideoErrorKind> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let x = self.batch.take(&self.dim.rt.device)?;
        let emb = self
            .dim
            .nets
            .clip
            .image_features(&x)?
            .to_dtype(DType::F32)?;
        // F.normalize(p=2, dim=-1): x / max(‖x‖, 1e-12)
        let norm = emb
            .sqr()?
            .sum_keepdim(1)?
            .sqrt()?
            .clamp(1e-12f32, f32::MAX)?;
        let emb = emb.broadcast_div(&norm)?;
        let raw = self.dim.nets.head.forward(&emb)?;
        let scaled = (raw / 10.0)?.to_vec1::<f32>()?;
        self.scores.extend(scaled);
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
        // torch.mean of an f32 tensor, read with .item()
        let mean = (self.scores.iter().map(|&v| v as f64).sum::<f64>() / self.scores.len() as f64)
            as f32 as f64;
        Ok(Outcome {
            record: path_record(&self.video, vec![("video_results", PyJson::Float(mean))]),
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
        Ok(Box::new(Scorer {
            dim: self,
            video: video.clone(),
            // VBench feeds 32-frame slices; batching does not change the per-frame numbers
            batch: Batch::new(self.rt.batch_size),
            scores: Vec::new(),
        }))
    }
}
