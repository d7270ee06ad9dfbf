//! GRiT behind the four semantic dimensions' [`ObjectDetector`]: the network
//! (`vbench_models::grit::Grit`) plus the transformers-4.33 BERT decode of its token ids
//! (spec 40-semantic §3.8–§3.9).
//!
//! The box path (backbone, proposals, cascade, object features) of a frame is kept for the
//! next call on the same frame, so a DenseCap request after an ObjectDet one (`color` after
//! `object_class` on the same frame) only runs the text decoder again.

use std::collections::VecDeque;
use std::sync::Mutex;

use candle_core::{Device, Tensor};
use vbench_models::grit::{Grit, GritDetections, DENSE_CAP_BEGIN, OBJECT_DET_BEGIN};

use crate::error::ScoreError;
use crate::grit_detect::{FloatFrameRgb, FrameDetections, ObjectDetector};
use crate::tag2text_caption::BertTokenizer;

/// Frames whose box path is kept (the dimensions ask for the same frame one after another).
const KEPT_FRAMES: usize = 2;

/// GRiT-B and the bert-base-uncased tokenizer, loaded once.
pub struct GritNets {
    pub model: Grit,
    pub tokenizer: BertTokenizer,
}

struct Kept {
    frame: FloatFrameRgb,
    dets: GritDetections,
    object_det: Option<Vec<String>>,
    dense_cap: Option<Vec<String>>,
}

/// [`GritNets`] as an [`ObjectDetector`] on one device.
pub struct GritDetector {
    nets: std::sync::Arc<GritNets>,
    device: Device,
    kept: Mutex<VecDeque<Kept>>,
}

impl GritDetector {
    pub fn new(nets: std::sync::Arc<GritNets>, device: Device) -> Self {
        Self {
            nets,
            device,
            kept: Mutex::new(VecDeque::new()),
        }
    }

    fn texts(&self, dets: &GritDetections, begin: u32) -> Result<Vec<String>, ScoreError> {
        Ok(self
            .nets
            .model
            .describe(dets, begin)?
            .iter()
            .map(|ids| self.nets.tokenizer.decode(ids))
            .collect())
    }
}

impl ObjectDetector for GritDetector {
    fn detect(
        &self,
        frame: &FloatFrameRgb,
        dense_cap: bool,
    ) -> Result<FrameDetections, ScoreError> {
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        let pos = kept.iter().position(|k| k.frame == *frame);
        let mut entry = match pos.and_then(|i| kept.remove(i)) {
            Some(k) => k,
            None => {
                let image =
                    Tensor::from_slice(&frame.data, (3, frame.height, frame.width), &self.device)?;
                Kept {
                    frame: frame.clone(),
                    dets: self.nets.model.detections(&image)?,
                    object_det: None,
                    dense_cap: None,
                }
            }
        };
        if entry.object_det.is_none() {
            entry.object_det = Some(self.texts(&entry.dets, OBJECT_DET_BEGIN)?);
        }
        if dense_cap && entry.dense_cap.is_none() {
            entry.dense_cap = Some(self.texts(&entry.dets, DENSE_CAP_BEGIN)?);
        }
        let out = FrameDetections {
            object_det_texts: entry.object_det.clone().unwrap_or_default(),
            boxes: entry.dets.boxes.clone(),
            dense_captions: if dense_cap {
                entry.dense_cap.clone()
            } else {
                None
            },
        };
        if kept.len() >= KEPT_FRAMES {
            kept.pop_front();
        }
        kept.push_back(entry);
        Ok(out)
    }
}
