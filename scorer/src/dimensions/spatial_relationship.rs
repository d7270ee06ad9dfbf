//! `spatial_relationship`: mirrors `vbench/spatial_relationship.py::spatial_relationship`
//! (with its `get_dect_from_grit`, `check_generate` and `get_position_score`; spec
//! 40-semantic §2.4, P19, P30).
//!
//! Same model (ObjectDet), frames and resize as `object_class`. Per frame, in instance order,
//! every instance whose text equals object_a or object_b adds its box `[int(x0), int(y0),
//! int(x1), int(y1)]`, and after each instance every pair `(m < n)` of the boxes so far is
//! scored; the frame score is the max over `[0, scores...]` (the first maximum, so its Python
//! type is kept: `0`/`1` are ints, `0.1/iou` a float). [`position_score`]: direction-blind —
//! for "on the left/right of" `|dx| > |dy|`, for "top/bottom" `|dy| > |dx|` (ties → 0), then 1
//! when IoU < 0.1 else `0.1/iou`; pairs of the same class count. Record: `video_results` =
//! `np.mean` of the 16 frame scores (pairwise summation), `frame_results` as VBench's
//! `json.dump` prints them (ints and floats); aggregate: mean of all frame scores.
//!
//! Target: `auxiliary_info.spatial_relationship.spatial_relationship` of the `--full-info`
//! record, else the parsed relation (any-prompt mode, `prompt_info` in the record).
//!
//! `--semantic-corrected` scores only ordered pairs (an object_a box, an object_b box) and
//! requires the direction: object_a's centre left of (dx > 0), right of (dx < 0), above
//! (dy > 0, image y grows downwards) or below (dy < 0) object_b's, with dx, dy = centre(b) −
//! centre(a).

use std::sync::Arc;

use super::motion_smoothness::numpy_mean;
use super::{path_record, AggPart, Dimension, Outcome, VideoInput, VideoScorer};
use crate::error::VideoErrorKind;
use crate::grit_detect::{
    aux_for, parsed_info, vlen_of, DetectionSampler, FrameDetections, ObjectDetector, ResizePath,
    SemanticOptions, TargetSource,
};
use crate::prompt_info::SpatialInfo;
use crate::pyjson::PyJson;
use crate::video::{Frame, ReaderKind};

pub const NAME: &str = "spatial_relationship";
/// `get_position_score(..., iou_threshold=0.1)`.
pub const IOU_THRESHOLD: f64 = 0.1;

/// A score with the Python type VBench's code gives it (`json.dump` prints `1` vs `1.0`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PyNum {
    Int(i64),
    Float(f64),
}

impl PyNum {
    pub fn value(self) -> f64 {
        match self {
            PyNum::Int(i) => i as f64,
            PyNum::Float(f) => f,
        }
    }

    pub fn to_pyjson(self) -> PyJson {
        match self {
            PyNum::Int(i) => PyJson::Int(i),
            PyNum::Float(f) => PyJson::Float(f),
        }
    }
}

pub struct SpatialRelationship {
    detector: Arc<dyn ObjectDetector>,
    opts: SemanticOptions,
}

impl SpatialRelationship {
    pub fn new(detector: Arc<dyn ObjectDetector>, opts: SemanticOptions) -> Self {
        Self { detector, opts }
    }
}

/// Which axis a relation tests: Python's `locality in 'on the right of' or locality in 'on
/// the left of'` (a substring test of the relation inside the literals), then the same for
/// bottom/top.
fn axis(rel: &str) -> Option<bool> {
    if "on the right of".contains(rel) || "on the left of".contains(rel) {
        Some(true)
    } else if "on the bottom of".contains(rel) || "on the top of".contains(rel) {
        Some(false)
    } else {
        None
    }
}

/// Centre offsets `(dx, dy)` = centre(b2) − centre(b1) and the IoU of two int boxes; `None`
/// when the union is 0 (VBench: ZeroDivisionError).
fn geometry(b1: [i64; 4], b2: [i64; 4]) -> Option<(f64, f64, f64)> {
    let c1 = ((b1[0] + b1[2]) as f64 / 2.0, (b1[1] + b1[3]) as f64 / 2.0);
    let c2 = ((b2[0] + b2[2]) as f64 / 2.0, (b2[1] + b2[3]) as f64 / 2.0);
    let dx = c2.0 - c1.0;
    let dy = c2.1 - c1.1;
    let xo = 0.max(b1[2].min(b2[2]) - b1[0].max(b2[0]));
    let yo = 0.max(b1[3].min(b2[3]) - b1[1].max(b2[1]));
    let inter = xo * yo;
    let a1 = (b1[2] - b1[0]) * (b1[3] - b1[1]);
    let a2 = (b2[2] - b2[0]) * (b2[3] - b2[1]);
    let union = a1 + a2 - inter;
    if union == 0 {
        return None;
    }
    Some((dx, dy, inter as f64 / union as f64))
}

fn score_from(along: bool, iou: f64) -> PyNum {
    match (along, iou < IOU_THRESHOLD) {
        (true, true) => PyNum::Int(1),
        (true, false) => PyNum::Float(IOU_THRESHOLD / iou),
        (false, _) => PyNum::Int(0),
    }
}

/// `get_position_score(locality, obj1, obj2)`; `None` where VBench divides by zero (both
/// int boxes empty and disjoint).
pub fn position_score(rel: &str, b1: [i64; 4], b2: [i64; 4]) -> Option<PyNum> {
    let (dx, dy, iou) = geometry(b1, b2)?;
    Some(match axis(rel) {
        Some(true) => score_from(dx.abs() > dy.abs(), iou),
        Some(false) => score_from(dy.abs() > dx.abs(), iou),
        None => PyNum::Int(0),
    })
}

/// The direction-aware variant (`--semantic-corrected`): `a` is object_a's box, `b` object_b's.
pub fn directed_score(rel: &str, a: [i64; 4], b: [i64; 4]) -> Option<PyNum> {
    let (dx, dy, iou) = geometry(a, b)?;
    let along = match rel {
        "on the left of" => dx > 0.0 && dx.abs() > dy.abs(),
        "on the right of" => dx < 0.0 && dx.abs() > dy.abs(),
        "on the top of" => dy > 0.0 && dy.abs() > dx.abs(),
        "on the bottom of" => dy < 0.0 && dy.abs() > dx.abs(),
        _ => return Some(PyNum::Int(0)),
    };
    Some(score_from(along, iou))
}

/// Python's `max(list)`: the first of the largest values.
fn py_max(scores: &[PyNum]) -> PyNum {
    let mut best = scores[0];
    for &s in &scores[1..] {
        if s.value() > best.value() {
            best = s;
        }
    }
    best
}

/// `check_generate(key_info, predictions)` for one frame; `Err` on VBench's division by zero.
pub fn frame_score(
    key: &SpatialInfo,
    det: &FrameDetections,
    corrected: bool,
) -> Result<PyNum, VideoErrorKind> {
    let zero_div = || {
        VideoErrorKind::Model(
            "spatial_relationship: two matching boxes are both empty after int() truncation (VBench raises ZeroDivisionError here)".into(),
        )
    };
    let mut scores = vec![PyNum::Int(0)];
    if corrected {
        for m in 0..det.len() {
            for n in 0..det.len() {
                if m != n
                    && det.object_det_texts[m] == key.object_a
                    && det.object_det_texts[n] == key.object_b
                {
                    scores.push(
                        directed_score(&key.relationship, det.int_box(m), det.int_box(n))
                            .ok_or_else(zero_div)?,
                    );
                }
            }
        }
        return Ok(py_max(&scores));
    }
    let mut boxes: Vec<[i64; 4]> = Vec::new();
    for i in 0..det.len() {
        let t = &det.object_det_texts[i];
        if *t == key.object_a || *t == key.object_b {
            boxes.push(det.int_box(i));
        }
        // VBench rescores every pair after every instance (duplicates do not change the max)
        for m in 0..boxes.len().saturating_sub(1) {
            for n in m + 1..boxes.len() {
                scores.push(
                    position_score(&key.relationship, boxes[m], boxes[n]).ok_or_else(zero_div)?,
                );
            }
        }
    }
    Ok(py_max(&scores))
}

/// The relation and where it came from.
pub fn target(video: &VideoInput) -> Result<(SpatialInfo, TargetSource), VideoErrorKind> {
    if let Some(aux) = aux_for(video, NAME) {
        let inner = aux.get(NAME).cloned().unwrap_or(serde_json::Value::Null);
        let info: SpatialInfo = serde_json::from_value(inner).map_err(|e| {
            VideoErrorKind::MissingInput(format!(
                "{NAME}: the full-info record's auxiliary_info.{NAME}.{NAME} is not {{object_a, object_b, relationship}}: {e}"
            ))
        })?;
        return Ok((info, TargetSource::FullInfo));
    }
    let info = parsed_info(video, NAME)?;
    let key = info.spatial.clone().expect("checked by skip_reason");
    Ok((key, TargetSource::Parsed(info)))
}

struct Scorer<'a> {
    dim: &'a SpatialRelationship,
    video: VideoInput,
    key: SpatialInfo,
    source: TargetSource,
    sampler: DetectionSampler,
}

impl VideoScorer for Scorer<'_> {
    fn push(&mut self, frame: &Frame) -> Result<(), VideoErrorKind> {
        self.sampler.push(self.dim.detector.as_ref(), frame)
    }

    fn finish(self: Box<Self>) -> Result<Outcome, VideoErrorKind> {
        let dets = self.sampler.finish()?;
        let scores = dets
            .iter()
            .map(|d| frame_score(&self.key, d, self.dim.opts.corrected))
            .collect::<Result<Vec<PyNum>, _>>()?;
        let values: Vec<f64> = scores.iter().map(|s| s.value()).collect();
        let mean = numpy_mean(&values);
        let mut rest = vec![
            ("video_results", PyJson::Float(mean)),
            (
                "frame_results",
                PyJson::List(scores.iter().map(|s| s.to_pyjson()).collect()),
            ),
        ];
        rest.extend(self.source.record_fields());
        let n = values.len() as f64;
        Ok(Outcome {
            record: path_record(&self.video, rest),
            // the frame-weighted aggregate: n · mean is numpy's pairwise sum (n = 16, exact)
            agg: AggPart {
                sum: mean * n,
                count: n,
            },
        })
    }
}

impl Dimension for SpatialRelationship {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_rules() {
        let r = "on the left of";
        assert_eq!(
            position_score(r, [0, 0, 10, 10], [20, 20, 30, 30]),
            Some(PyNum::Int(0))
        );
        assert_eq!(
            position_score(r, [0, 0, 10, 10], [20, 0, 30, 10]),
            Some(PyNum::Int(1))
        );
        // direction-blind
        assert_eq!(
            position_score("on the right of", [20, 0, 30, 10], [0, 0, 10, 10]),
            Some(PyNum::Int(1))
        );
        assert_eq!(
            position_score("near", [0, 0, 10, 10], [20, 0, 30, 10]),
            Some(PyNum::Int(0))
        );
        assert_eq!(position_score(r, [0, 0, 0, 10], [5, 0, 5, 10]), None);
        // corrected: b right of a → a on the left of b
        assert_eq!(
            directed_score(r, [0, 0, 10, 10], [20, 0, 30, 10]),
            Some(PyNum::Int(1))
        );
        assert_eq!(
            directed_score("on the right of", [0, 0, 10, 10], [20, 0, 30, 10]),
            Some(PyNum::Int(0))
        );
        assert_eq!(
            directed_score("on the top of", [0, 0, 10, 10], [0, 20, 10, 30]),
            Some(PyNum::Int(1))
        );
        assert_eq!(
            py_max(&[PyNum::Int(0), PyNum::Float(1.0), PyNum::Int(1)]),
            PyNum::Float(1.0)
        );
    }
}
