//! `subject_consistency`: mirrors `vbench/subject_consistency.py::subject_consistency`.
//!
//! Every frame (decord RGB) → `dino_transform(224)` (bilinear shorter side 224, no crop) →
//! DINO ViT-B/16 CLS feature → L2 normalise; per video the mean over consecutive pairs of
//! (max(0, cos(prev, cur)) + max(0, cos(first, cur))) / 2. Aggregate: pair-weighted
//! (Σ over all pairs of all videos / number of pairs).

use std::sync::Arc;

use vbench_models::dino_vit;

use super::{path_record, Batch, ConsistencyChain, Dimension, Outcome, VideoInput, VideoScorer};
use crate::error::{ScoreError, VideoErrorKind};
use crate::hub::ModelHub;
use crate::pyjson::PyJson;
use crate::runtime::Runtime;
use crate::transforms;
use crate::video::{Frame, ReaderKind};

pub const NAME: &str = "subject_consistency";

pub struct SubjectConsistency {
    net: Arc<dino_vit::Model>,
    rt: Runtime,
}

impl SubjectConsistency {
    pub fn load(hub: &ModelHub) -> Result<Self, ScoreError> {
        Ok(Self {
            net: hub.dino()?,
            rt: hub.runtime.clone(),
        })
    }

    pub fn new(net: Arc<dino_vit::Model>, rt: Runtime) -> Self {
        Self { net, rt }
    }
}

struct Scorer<'a> {
    dim: &'a SubjectConsistency,
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
        let feats = self
            .dim
            .net
            .forward(&x)?
            .to_dtype(candle_core::DType::F32)?
            .to_vec2::<f32>()?;
        for f in super::normalize_rows(feats) {
            self.chain.push(f);
        }
        Ok(())
    }
}

impl VideoScorer for Scorer<'_> {
    fn push(&mut self, frame: &Frame) -> Result<(), VideoErrorKind> {
        if self.batch.push(transforms::dino_transform(frame, 224)) {
            self.flush()?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<Outcome, VideoErrorKind> {
        self.flush()?;
        let mean = self.chain.mean(NAME)?;
        Ok(Outcome {
            record: path_record(&self.video, vec![("video_results", PyJson::Float(mean))]),
            agg: super::AggPart {
                sum: self.chain.sum,
                count: self.chain.pairs as f64,
            },
        })
    }
}

impl Dimension for SubjectConsistency {
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
