//! `color`: mirrors `vbench/color.py::color` (with its `get_dect_from_grit` and
//! `check_generate`; spec 40-semantic §2.3, P17, P18).
//!
//! GRiT with test task **DenseCap** (descriptions are dense captions; the ObjectDet texts come
//! from the forced second pass) on the 16 `middle` frames; frames with a short side > 768 are
//! resized by `cv2.resize(INTER_LINEAR)` on uint8 ([`crate::grit_detect`]).
//!
//! Per frame the rows are `[dense_caption_i, det_obj[0]]` for every instance i — VBench labels
//! every instance with **instance 0's** ObjectDet text — or one row `["", ""]` when nothing was
//! detected. A row whose label equals the object (exact) sets the frame's object flag when any
//! of VBench's 12 colour words is a *substring* of its caption (`"red"` ⊂ `"colored"`), and its
//! colour flag when the target colour is. Per video: `n_obj` frames with the object flag,
//! `n_col` frames with the colour flag; value `n_col / n_obj`. A video with `n_obj == 0` is
//! **omitted** from VBench's results and mean: here it is reported as a per-video error with
//! that reason (so it stays out of `video_results` and the aggregate), and with no video left
//! the dimension has no aggregate (VBench divides by zero). Record: `video_results` and
//! `cur_success_frame_rate` (equal); aggregate: mean over the included videos.
//!
//! Target: `auxiliary_info.color.color` of the `--full-info` record and the object derived
//! from the prompt exactly as VBench does (`prompt.replace('a ','').replace('an ','')
//! .replace(color,'').strip()`); in any-prompt mode the parsed colour and the object it stands
//! before ([`crate::prompt_info::PromptInfo::color_object`]), with `prompt_info` in the record.
//!
//! `--semantic-corrected` labels each instance with its own ObjectDet text instead.

use std::sync::Arc;

use super::multiple_objects::py_strip;
use super::{path_record, AggPart, Dimension, Outcome, VideoInput, VideoScorer};
use crate::error::VideoErrorKind;
use crate::grit_detect::{
    aux_for, aux_str, parsed_info, vlen_of, DetectionSampler, FrameDetections, ObjectDetector,
    ResizePath, SemanticOptions, TargetSource,
};
use crate::pyjson::PyJson;
use crate::video::{Frame, ReaderKind};

pub const NAME: &str = "color";

/// The colour words of `check_generate`, in VBench's order.
pub const COLOR_WORDS: [&str; 12] = [
    "white", "red", "pink", "blue", "silver", "purple", "orange", "green", "gray", "yellow",
    "black", "grey",
];

pub struct Color {
    detector: Arc<dyn ObjectDetector>,
    opts: SemanticOptions,
}

impl Color {
    pub fn new(detector: Arc<dyn ObjectDetector>, opts: SemanticOptions) -> Self {
        Self { detector, opts }
    }
}

/// VBench's object for a colour prompt:
/// `prompt.replace('a ','').replace('an ','').replace(color,'').strip()`.
pub fn vbench_object(prompt: &str, color: &str) -> String {
    let s = prompt
        .replace("a ", "")
        .replace("an ", "")
        .replace(color, "");
    py_strip(&s).to_string()
}

/// `get_dect_from_grit` for one frame: `[caption_i, label_i]` rows (`label_i = det_obj[0]`,
/// or instance i's own text when `corrected`), `[["", ""]]` when nothing was detected.
pub fn frame_rows(d: &FrameDetections, corrected: bool) -> Vec<(String, String)> {
    if d.is_empty() {
        return vec![(String::new(), String::new())];
    }
    let caps = d.dense_captions.as_deref().unwrap_or(&[]);
    (0..d.len())
        .map(|i| {
            let label = if corrected {
                &d.object_det_texts[i]
            } else {
                &d.object_det_texts[0]
            };
            (caps.get(i).cloned().unwrap_or_default(), label.clone())
        })
        .collect()
}

/// `check_generate(color_key, object_key, predictions)` → `(n_obj, n_col)`.
pub fn check_generate(
    color: &str,
    object: &str,
    frames: &[Vec<(String, String)>],
) -> (usize, usize) {
    let (mut n_obj, mut n_col) = (0, 0);
    for rows in frames {
        let (mut object_flag, mut color_flag) = (false, false);
        for (cap, label) in rows {
            if object == label {
                if COLOR_WORDS.iter().any(|w| cap.contains(w)) {
                    object_flag = true;
                }
                if cap.contains(color) {
                    color_flag = true;
                }
            }
        }
        n_col += color_flag as usize;
        n_obj += object_flag as usize;
    }
    (n_obj, n_col)
}

/// `(colour, object)` and where they came from.
pub fn target(video: &VideoInput) -> Result<((String, String), TargetSource), VideoErrorKind> {
    if let Some(aux) = aux_for(video, NAME) {
        let color = aux_str(aux, NAME, "color")?;
        let prompt = video.prompt.as_deref().unwrap_or("");
        let object = vbench_object(prompt, &color);
        return Ok(((color, object), TargetSource::FullInfo));
    }
    let info = parsed_info(video, NAME)?;
    let color = info.color.clone().expect("checked by skip_reason");
    let object = info
        .color_object()
        .expect("checked by skip_reason")
        .to_string();
    Ok(((color, object), TargetSource::Parsed(info)))
}

struct Scorer<'a> {
    dim: &'a Color,
    video: VideoInput,
    color: String,
    object: String,
    source: TargetSource,
    sampler: DetectionSampler,
}

impl VideoScorer for Scorer<'_> {
    fn push(&mut self, frame: &Frame) -> Result<(), VideoErrorKind> {
        self.sampler.push(self.dim.detector.as_ref(), frame)
    }

    fn finish(self: Box<Self>) -> Result<Outcome, VideoErrorKind> {
        let dets = self.sampler.finish()?;
        let rows: Vec<Vec<(String, String)>> = dets
            .iter()
            .map(|d| frame_rows(d, self.dim.opts.corrected))
            .collect();
        let (n_obj, n_col) = check_generate(&self.color, &self.object, &rows);
        if n_obj == 0 {
            return Err(VideoErrorKind::TooFewFrames(format!(
                "color: in no sampled frame is {:?} (instance 0's ObjectDet text{}) described with a colour word, so VBench leaves this video out of color's results and mean",
                self.object,
                if self.dim.opts.corrected { ", or any instance's with --semantic-corrected" } else { "" }
            )));
        }
        let ratio = n_col as f64 / n_obj as f64;
        let mut rest = vec![
            ("video_results", PyJson::Float(ratio)),
            ("cur_success_frame_rate", PyJson::Float(ratio)),
        ];
        rest.extend(self.source.record_fields());
        Ok(Outcome {
            record: path_record(&self.video, rest),
            agg: AggPart {
                sum: ratio,
                count: 1.0,
            },
        })
    }
}

impl Dimension for Color {
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
        let ((color, object), source) = target(video)?;
        let vlen = vlen_of(video, NAME)?;
        Ok(Box::new(Scorer {
            dim: self,
            video: video.clone(),
            color,
            object,
            source,
            sampler: DetectionSampler::new(vlen, ResizePath::Cv2Uint8, true),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substring_rules() {
        let f = |rows: &[(&str, &str)]| {
            vec![rows
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect::<Vec<_>>()]
        };
        // "red" ⊂ "colored": qualifies and hits
        assert_eq!(
            check_generate("red", "car", &f(&[("colored", "car")])),
            (1, 1)
        );
        // silver is a colour word but not the target
        assert_eq!(
            check_generate("red", "car", &f(&[("silver", "car")])),
            (1, 0)
        );
        // wrong label
        assert_eq!(check_generate("red", "car", &f(&[("red", "dog")])), (0, 0));
        // a colour hit without a colour word of the list cannot happen for list colours, but
        // can for others ("beige"): counted as hit and not as qualifying, as in VBench
        assert_eq!(
            check_generate("beige", "car", &f(&[("beige", "car")])),
            (0, 1)
        );
        assert_eq!(vbench_object("an orange cat", "orange"), "cat");
    }
}
