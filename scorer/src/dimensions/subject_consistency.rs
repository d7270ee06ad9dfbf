//! `subject_consistency`: mirrors `vbench/subject_consistency.py::subject_consistency`.
//!
//! Every frame (decord RGB) → `dino_transform(224)` (bilinear shorter side 224, no crop) →
//! DINO ViT-B/16 CLS feature → L2 normalise; per video the mean over consecutive pairs of
//! (max(0, cos(prev, cur)) + max(0, cos(first, cur))) / 2. Aggregate: pair-weighted
//! (Σ over all pairs of all videos / number of pairs).

use std::sync::Arc;

use candle_core::{DType, Tensor};
use vbench_models::dino_vit;

use super::{
    normalize_rows, path_record, AggPart, BatchedScorer, ConsistencyChain, Dimension, FrameNet,
    Outcome, VideoInput, VideoScorer,
};
use crate::error::{ScoreError, VideoErrorKind};
use crate::hub::ModelHub;
use crate::pyjson::PyJson;
use crate::runtime::Runtime;
use crate::transforms::{self, Planar};
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

impl FrameNet for SubjectConsistency {
    type State = ConsistencyChain;

    fn transform(&self, frame: &Frame) -> Planar {
        transforms::dino_transform(frame, 224)
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Vec<Vec<f32>>> {
        let feats = self
            .net
            .forward(x)?
            .to_dtype(DType::F32)?
            .to_vec2::<f32>()?;
        Ok(normalize_rows(feats))
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
            record: path_record(video, vec![("video_results", PyJson::Float(mean))]),
            agg: AggPart {
                sum: chain.sum,
                count: chain.pairs as f64,
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
        Ok(BatchedScorer::boxed(
            self,
            video,
            &self.rt,
            ConsistencyChain::default(),
        ))
    }
}
