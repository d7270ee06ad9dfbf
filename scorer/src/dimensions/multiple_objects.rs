//! `multiple_objects`: mirrors `vbench/multiple_objects.py::multiple_objects` (with its
//! `get_dect_from_grit` and `check_generate`; spec 40-semantic §2.2, P16).
//!
//! Same model (ObjectDet), frames and resize as `object_class`. The target `"a and b"` is
//! split on `' and '` (exactly two parts, each stripped; VBench raises otherwise); a frame
//! succeeds when both are among the frame's ObjectDet texts. Record: `video_results` =
//! successes/16, `success_frame_count`, `frame_count`; aggregate Σsuccess/Σframes.
//!
//! Target: `auxiliary_info.multiple_objects.object` of the `--full-info` record, else the
//! prompt's first two objects (any-prompt mode, `prompt_info` in the record; a prompt with
//! fewer than two objects skips the video with the reason).

use std::sync::Arc;

use super::{Dimension, Outcome, VideoInput, VideoScorer};
use crate::error::VideoErrorKind;
use crate::grit_detect::{
    aux_for, aux_str, frame_share_outcome, parsed_info, vlen_of, DetectionSampler, ObjectDetector,
    ResizePath, TargetSource,
};
use crate::video::{Frame, ReaderKind};

pub const NAME: &str = "multiple_objects";

pub struct MultipleObjects {
    detector: Arc<dyn ObjectDetector>,
}

impl MultipleObjects {
    pub fn new(detector: Arc<dyn ObjectDetector>) -> Self {
        Self { detector }
    }
}

/// `key_a, key_b = key_info.split(' and ')`, each `.strip()`ped; `None` when the split does
/// not give exactly two parts (VBench's unpacking raises).
pub fn split_key(key: &str) -> Option<(String, String)> {
    let parts: Vec<&str> = key.split(" and ").collect();
    match parts.as_slice() {
        [a, b] => Some((py_strip(a).to_string(), py_strip(b).to_string())),
        _ => None,
    }
}

/// Python's `str.strip()`: Unicode whitespace plus the separators U+001C..U+001F, which
/// `str.isspace` also counts.
pub(crate) fn py_strip(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c))
}

/// `check_generate(key_info, predictions)`: frames containing both objects.
pub fn check_generate(a: &str, b: &str, frames: &[Vec<String>]) -> usize {
    frames
        .iter()
        .filter(|t| t.iter().any(|x| x == a) && t.iter().any(|x| x == b))
        .count()
}

/// The two objects and where they came from.
pub fn target(video: &VideoInput) -> Result<((String, String), TargetSource), VideoErrorKind> {
    let (key, source) = match aux_for(video, NAME) {
        Some(aux) => (aux_str(aux, NAME, "object")?, TargetSource::FullInfo),
        None => {
            let info = parsed_info(video, NAME)?;
            let key = info.multiple_objects().expect("checked by skip_reason");
            (key, TargetSource::Parsed(info))
        }
    };
    let pair = split_key(&key).ok_or_else(|| {
        VideoErrorKind::MissingInput(format!(
            "{NAME}: the target {key:?} is not two objects joined by \" and \" (VBench cannot unpack it)"
        ))
    })?;
    Ok((pair, source))
}

struct Scorer<'a> {
    dim: &'a MultipleObjects,
    video: VideoInput,
    keys: (String, String),
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
        let success = check_generate(&self.keys.0, &self.keys.1, &texts);
        Ok(frame_share_outcome(
            &self.video,
            success,
            texts.len(),
            &self.source,
        ))
    }
}

impl Dimension for MultipleObjects {
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
        let (keys, source) = target(video)?;
        let vlen = vlen_of(video, NAME)?;
        Ok(Box::new(Scorer {
            dim: self,
            video: video.clone(),
            keys,
            source,
            sampler: DetectionSampler::new(vlen, ResizePath::TorchFloat, false),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_split_like_python() {
        assert_eq!(
            split_key("baseball bat and baseball glove"),
            Some(("baseball bat".into(), "baseball glove".into()))
        );
        assert_eq!(
            split_key(" cat and  dog "),
            Some(("cat".into(), "dog".into()))
        );
        assert_eq!(split_key("cat"), None);
        assert_eq!(py_strip("\u{1f} cat\t\u{a0}"), "cat");
        assert_eq!(split_key("a and b and c"), None);
    }
}
