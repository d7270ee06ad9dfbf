//! `object_class`: mirrors `vbench/object_class.py::object_class` (with its
//! `get_dect_from_grit` and `check_generate`; spec 40-semantic §2.1, P16, P20).
//!
//! GRiT with test task ObjectDet on the 16 `middle` frames (decord RGB; frames with a short
//! side > 768 resized by torchvision's antialiased bilinear on floats, see
//! [`crate::grit_detect`]). A frame succeeds when the target object equals (exact string) one
//! of the frame's ObjectDet texts (`set(ret[0][0][2])`, the whole `det_obj` list); a frame with
//! no detection is an empty set (VBench's bare `except`). Record: `video_results` =
//! successes/16, `success_frame_count`, `frame_count`; aggregate Σsuccess/Σframes.
//!
//! Target: `auxiliary_info.object_class.object` of the `--full-info` record, else the prompt's
//! single object ([`crate::prompt_info::PromptInfo::object_class`], any-prompt mode; the parsed
//! info goes into the record as `prompt_info`; a prompt without exactly one object skips the
//! video with the reason).
//!
//! VBench swallows every exception of the detector as "no detection" (P20); a detector error
//! here fails the video instead, so a number is only written when every frame was detected.

use std::sync::Arc;

use super::{Dimension, Outcome, VideoInput, VideoScorer};
use crate::error::VideoErrorKind;
use crate::grit_detect::{
    aux_for, aux_str, frame_share_outcome, parsed_info, vlen_of, DetectionSampler, ObjectDetector,
    ResizePath, TargetSource,
};
use crate::video::{Frame, ReaderKind};

pub const NAME: &str = "object_class";

pub struct ObjectClass {
    detector: Arc<dyn ObjectDetector>,
}

impl ObjectClass {
    pub fn new(detector: Arc<dyn ObjectDetector>) -> Self {
        Self { detector }
    }
}

/// `check_generate(key_info, predictions)`: frames whose ObjectDet texts contain `key`.
pub fn check_generate(key: &str, frames: &[Vec<String>]) -> usize {
    frames
        .iter()
        .filter(|texts| texts.iter().any(|t| t == key))
        .count()
}

/// The target object and where it came from.
pub fn target(video: &VideoInput) -> Result<(String, TargetSource), VideoErrorKind> {
    if let Some(aux) = aux_for(video, NAME) {
        return Ok((aux_str(aux, NAME, "object")?, TargetSource::FullInfo));
    }
    let info = parsed_info(video, NAME)?;
    let key = info
        .object_class()
        .expect("checked by skip_reason")
        .to_string();
    Ok((key, TargetSource::Parsed(info)))
}

struct Scorer<'a> {
    dim: &'a ObjectClass,
    video: VideoInput,
    key: String,
    source: TargetSource,
    sampler: DetectionSampler,
}

impl VideoScorer for Scorer<'_> {
    fn push(&mut self, frame: &Frame) -> Result<(), VideoErrorKind> {
        self.sampler.push(self.dim.detector.as_ref(), frame)
    }

    fn finish(self: Box<Self>) -> Result<Outcome, VideoErrorKind> {
        let dets = self.sampler.finish()?;
        let texts: Vec<Vec<String>> = dets.iter().map(|d| d.object_det_texts.clone()).collect();
        let success = check_generate(&self.key, &texts);
        Ok(frame_share_outcome(
            &self.video,
            success,
            texts.len(),
            &self.source,
        ))
    }
}

impl Dimension for ObjectClass {
    fn name(&self) -> &'static str {
        NAME
    }

    fn reader(&self) -> ReaderKind {
        ReaderKind::Decord
    }

    fn needs_packet_count(&self) -> bool {
        true
    }

    fn start(&self, video: &VideoInput) -> Result<Box<dyn VideoScorer + '_>, VideoErrorKind> {
        let (key, source) = target(video)?;
        let vlen = vlen_of(video, NAME)?;
        Ok(Box::new(Scorer {
            dim: self,
            video: video.clone(),
            key,
            source,
            sampler: DetectionSampler::new(vlen, ResizePath::TorchFloat, false),
        }))
    }
}
