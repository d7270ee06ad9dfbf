//! What the four GRiT dimensions (`object_class`, `multiple_objects`, `color`,
//! `spatial_relationship`) share: the detector they are written against ([`ObjectDetector`]),
//! the per-frame detection record ([`FrameDetections`]), VBench's frame selection and its two
//! resize paths ([`ResizePath`]), and the per-video sampler that runs the detector on the 16
//! chosen frames as they are decoded ([`DetectionSampler`]), so no frame is kept.
//!
//! Frames (spec 40-semantic §1.2, §2.1 step 3, §2.3 step 4, P3, P29): decord RGB
//! (`load_video(path, num_frames=16)`), 16 `middle` indices over decord's `len(vr)` (padded
//! with the last index for short videos; gif/png go through the same selection). When
//! `min(H, W) > 768` the frame is resized to `(int(720/min·H), int(720/min·W))` (f64, `int()`
//! truncation):
//! * object_class / multiple_objects / spatial_relationship: torchvision `Resize` on the float
//!   tensor (antialiased bilinear, [`crate::torch_resize`]);
//! * color: `cv2.resize(INTER_LINEAR)` on uint8 ([`crate::cv_resize`]).
//!
//! GRiT then sees the frame at that size, RGB, values 0..255 as f32 (VBench's
//! `SingleDefaultPredictor` discards detectron2's resize, spec §0 item 1).

use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use crate::error::{ScoreError, VideoErrorKind};
use crate::sampling::middle_indices;
use crate::video::Frame;

/// `load_video(path, num_frames=16)`.
pub const NUM_FRAMES: usize = 16;
/// Frames whose short side exceeds this are resized ...
pub const RESIZE_ABOVE: usize = 768;
/// ... so that the short side becomes (about) this.
pub const RESIZE_TO: f64 = 720.0;

/// An RGB frame as GRiT's predictor gets it: planar `(3, H, W)` f32, values 0..255.
#[derive(Debug, Clone, PartialEq)]
pub struct FloatFrameRgb {
    pub height: usize,
    pub width: usize,
    /// `3·H·W` values, channel-major (R plane, G plane, B plane).
    pub data: Vec<f32>,
}

impl FloatFrameRgb {
    /// The uint8 RGB frame as floats (`torch.Tensor(uint8 array)` / `astype("float32")`).
    pub fn from_frame(frame: &Frame) -> Self {
        let n = frame.width * frame.height;
        let mut data = vec![0f32; 3 * n];
        for (i, px) in frame.data.chunks_exact(3).enumerate() {
            data[i] = px[0] as f32;
            data[n + i] = px[1] as f32;
            data[2 * n + i] = px[2] as f32;
        }
        Self {
            height: frame.height,
            width: frame.width,
            data,
        }
    }

    /// Value of channel `c` at `(y, x)`.
    pub fn at(&self, c: usize, y: usize, x: usize) -> f32 {
        self.data[(c * self.height + y) * self.width + x]
    }
}

/// The surviving instances of one frame, in VBench's order (after `detector_postprocess`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FrameDetections {
    /// The ObjectDet pass's description of every instance (`det_obj`; also the descriptions
    /// in the ObjectDet test task).
    pub object_det_texts: Vec<String>,
    /// `[x0, y0, x1, y1]` in input pixels, clipped, as f32 (VBench truncates with `int()`).
    pub boxes: Vec<[f32; 4]>,
    /// The DenseCap pass's descriptions, when asked for (`color`).
    pub dense_captions: Option<Vec<String>>,
}

impl FrameDetections {
    pub fn len(&self) -> usize {
        self.object_det_texts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.object_det_texts.is_empty()
    }

    /// `[int(x0), int(y0), int(x1), int(y1)]` of instance `i` (Python `int()` of a float32:
    /// truncation toward zero), as `dense_pred_to_caption_tuple` builds it.
    pub fn int_box(&self, i: usize) -> [i64; 4] {
        self.boxes[i].map(|v| v.trunc() as i64)
    }
}

/// GRiT as the four dimensions use it. After the merge, `models::grit::Grit::detect` + the
/// BERT decode implement it.
pub trait ObjectDetector: Send + Sync {
    /// `frame`: what VBench hands the predictor. `dense_cap`: also run the DenseCap pass
    /// (test task DenseCap, `color`); the ObjectDet texts and boxes are the same either way.
    fn detect(&self, frame: &FloatFrameRgb, dense_cap: bool)
        -> Result<FrameDetections, ScoreError>;
}

/// Which resize a dimension applies to frames whose short side is > 768.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResizePath {
    /// torchvision `Resize` on the float tensor (object_class, multiple_objects, spatial).
    TorchFloat,
    /// `cv2.resize(INTER_LINEAR)` on uint8 (color).
    Cv2Uint8,
}

/// VBench's target `(height, width)` when `min(h, w) > 768`, else `None`:
/// `scale = 720./min(h, w)`, `(int(scale*h), int(scale*w))`, in f64 as Python does.
pub fn target_size(h: usize, w: usize) -> Option<(usize, usize)> {
    let m = h.min(w);
    if m <= RESIZE_ABOVE {
        return None;
    }
    let scale = RESIZE_TO / m as f64;
    Some(((scale * h as f64) as usize, (scale * w as f64) as usize))
}

/// The frame GRiT sees for a dimension using `path`.
pub fn prepare_frame(frame: &Frame, path: ResizePath) -> FloatFrameRgb {
    match (target_size(frame.height, frame.width), path) {
        (None, _) => FloatFrameRgb::from_frame(frame),
        (Some((h, w)), ResizePath::Cv2Uint8) => {
            FloatFrameRgb::from_frame(&crate::cv_resize::resize_linear(frame, w, h))
        }
        (Some((h, w)), ResizePath::TorchFloat) => {
            let f = FloatFrameRgb::from_frame(frame);
            let data = crate::torch_resize::resize_bilinear_aa(
                &f.data,
                3,
                frame.height,
                frame.width,
                h,
                w,
            );
            FloatFrameRgb {
                height: h,
                width: w,
                data,
            }
        }
    }
}

/// Runs the detector on the 16 sampled frames of one video as they are pushed, keeping only
/// the detections (a repeated index is detected once).
pub struct DetectionSampler {
    indices: Vec<usize>,
    got: Vec<Option<Arc<FrameDetections>>>,
    next: usize,
    path: ResizePath,
    dense_cap: bool,
}

impl DetectionSampler {
    /// `vlen`: decord's `len(vr)` (the packet count).
    pub fn new(vlen: usize, path: ResizePath, dense_cap: bool) -> Self {
        let indices = middle_indices(NUM_FRAMES, vlen);
        let got = vec![None; indices.len()];
        Self {
            indices,
            got,
            next: 0,
            path,
            dense_cap,
        }
    }

    /// The stream indices sampled (16, padded).
    pub fn indices(&self) -> &[usize] {
        &self.indices
    }

    pub fn is_complete(&self) -> bool {
        self.got.iter().all(Option::is_some)
    }

    /// Offers the next decoded frame; detects only if an index wants it.
    pub fn push(
        &mut self,
        detector: &dyn ObjectDetector,
        frame: &Frame,
    ) -> Result<(), VideoErrorKind> {
        let i = self.next;
        self.next += 1;
        if !self.indices.contains(&i) {
            return Ok(());
        }
        let input = prepare_frame(frame, self.path);
        let det = Arc::new(
            detector
                .detect(&input, self.dense_cap)
                .map_err(|e| VideoErrorKind::Model(e.to_string()))?,
        );
        if self.dense_cap && det.dense_captions.is_none() {
            return Err(VideoErrorKind::Model(
                "the detector returned no dense captions".into(),
            ));
        }
        for (slot, &want) in self.got.iter_mut().zip(&self.indices) {
            if want == i {
                *slot = Some(det.clone());
            }
        }
        Ok(())
    }

    /// The 16 frames' detections in sampling order, or why some are missing.
    pub fn finish(self) -> Result<Vec<Arc<FrameDetections>>, VideoErrorKind> {
        if let Some(k) = self.got.iter().position(Option::is_none) {
            return Err(VideoErrorKind::TooFewFrames(format!(
                "the sampler wants frame {} but only {} frames could be decoded (the container declares more packets than decodable frames)",
                self.indices[k], self.next
            )));
        }
        Ok(self.got.into_iter().flatten().collect())
    }
}

/// decord's `len(vr)` for a GRiT dimension (from [`crate::video::VideoMeta::packets`]).
pub fn vlen_of(video: &crate::dimensions::VideoInput, dim: &str) -> Result<usize, VideoErrorKind> {
    let n = video.meta.as_ref().and_then(|m| m.packets).ok_or_else(|| {
        VideoErrorKind::MissingInput(format!("{dim}: decord's frame count was not probed"))
    })? as usize;
    if n == 0 {
        return Err(VideoErrorKind::NoFrames);
    }
    Ok(n)
}

/// (content hash, height, width, detections).
type CacheEntry = (u64, usize, usize, Arc<FrameDetections>);

/// A detector in front of another that remembers the last few frames' detections, so the
/// four dimensions run GRiT once per distinct input frame: frames ≤ 768 px are identical for
/// all four, and with `always_dense` (when `color` runs too) the first call already includes
/// the DenseCap pass. Keyed by the frame's content (size + hash of the values).
pub struct CachedDetector {
    inner: Arc<dyn ObjectDetector>,
    always_dense: bool,
    capacity: usize,
    cache: Mutex<VecDeque<CacheEntry>>,
}

impl CachedDetector {
    pub fn new(inner: Arc<dyn ObjectDetector>, always_dense: bool) -> Self {
        Self {
            inner,
            always_dense,
            capacity: 64,
            cache: Mutex::new(VecDeque::new()),
        }
    }

    fn key(frame: &FloatFrameRgb) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        frame.height.hash(&mut h);
        frame.width.hash(&mut h);
        for v in &frame.data {
            v.to_bits().hash(&mut h);
        }
        h.finish()
    }
}

impl ObjectDetector for CachedDetector {
    fn detect(
        &self,
        frame: &FloatFrameRgb,
        dense_cap: bool,
    ) -> Result<FrameDetections, ScoreError> {
        let key = Self::key(frame);
        {
            let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((.., d)) = cache.iter().find(|(k, h, w, d)| {
                *k == key
                    && *h == frame.height
                    && *w == frame.width
                    && (!dense_cap || d.dense_captions.is_some())
            }) {
                return Ok(d.as_ref().clone());
            }
        }
        let det = self.inner.detect(frame, dense_cap || self.always_dense)?;
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= self.capacity {
            cache.pop_front();
        }
        cache.push_back((key, frame.height, frame.width, Arc::new(det.clone())));
        Ok(det)
    }
}

/// The four GRiT dimensions' names.
pub const GRIT_DIMENSIONS: [&str; 4] = [
    crate::dimensions::object_class::NAME,
    crate::dimensions::multiple_objects::NAME,
    crate::dimensions::color::NAME,
    crate::dimensions::spatial_relationship::NAME,
];

/// Builds one of the four GRiT dimensions on `detector`, `None` for any other name. The hub
/// gives all four the same [`crate::grit_net::GritDetector`], which keeps a frame's box path so
/// GRiT runs once per distinct frame; [`CachedDetector`] gives any other detector that sharing.
pub fn build_dimension(
    name: &str,
    detector: Arc<dyn ObjectDetector>,
    opts: SemanticOptions,
) -> Option<Box<dyn crate::dimensions::Dimension>> {
    use crate::dimensions::{color, multiple_objects, object_class, spatial_relationship};
    Some(match name {
        object_class::NAME => Box::new(object_class::ObjectClass::new(detector)),
        multiple_objects::NAME => Box::new(multiple_objects::MultipleObjects::new(detector)),
        color::NAME => Box::new(color::Color::new(detector, opts)),
        spatial_relationship::NAME => Box::new(spatial_relationship::SpatialRelationship::new(
            detector, opts,
        )),
        _ => return None,
    })
}

/// Non-default behaviour of the four GRiT dimensions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SemanticOptions {
    /// `--semantic-corrected`: `color` labels each instance with its own ObjectDet text (not
    /// instance 0's) and `spatial_relationship` checks the direction of the relation. Not
    /// VBench-compatible; off by default.
    pub corrected: bool,
}

/// The record of a dimension scored as "frames that succeed / frames" (object_class,
/// multiple_objects): `video_results` = success/n, `success_frame_count`, `frame_count`, plus
/// the target's source fields; the aggregate counts frames (Σsuccess / Σframes).
pub fn frame_share_outcome(
    video: &crate::dimensions::VideoInput,
    success: usize,
    n: usize,
    source: &TargetSource,
) -> crate::dimensions::Outcome {
    use crate::pyjson::PyJson;
    let mut rest = vec![
        ("video_results", PyJson::Float(success as f64 / n as f64)),
        ("success_frame_count", PyJson::Int(success as i64)),
        ("frame_count", PyJson::Int(n as i64)),
    ];
    rest.extend(source.record_fields());
    crate::dimensions::Outcome {
        record: crate::dimensions::path_record(video, rest),
        agg: crate::dimensions::AggPart {
            sum: success as f64,
            count: n as f64,
        },
    }
}

/// Where a dimension's target came from.
#[derive(Debug, Clone)]
pub enum TargetSource {
    /// The `--full-info` record's `auxiliary_info` (VBench's own input): the record gets no
    /// extra field.
    FullInfo,
    /// Any-prompt mode: the parsed info, written into the record as `prompt_info`.
    Parsed(crate::prompt_info::PromptInfo),
}

impl TargetSource {
    /// The record's extra fields.
    pub fn record_fields(&self) -> Vec<(&'static str, crate::pyjson::PyJson)> {
        match self {
            TargetSource::FullInfo => Vec::new(),
            TargetSource::Parsed(info) => vec![("prompt_info", info.to_pyjson())],
        }
    }
}

/// `info['auxiliary_info']` of `load_dimension_info` for `dim`: the record's
/// `auxiliary_info[dim]`, if the video matched a full-info record that has it.
pub fn aux_for<'a>(
    video: &'a crate::dimensions::VideoInput,
    dim: &str,
) -> Option<&'a serde_json::Value> {
    video.auxiliary_info.as_ref()?.get(dim)
}

/// A string field of the aux info, or why it is unusable.
pub fn aux_str(aux: &serde_json::Value, dim: &str, key: &str) -> Result<String, VideoErrorKind> {
    aux.get(key)
        .and_then(|v| v.as_str())
        .map(str::to_string)
        .ok_or_else(|| {
            VideoErrorKind::MissingInput(format!(
                "{dim}: the full-info record's auxiliary_info.{dim} has no string `{key}`"
            ))
        })
}

/// Any-prompt mode: the video's parsed info (given, or the rule parser's), or the reason the
/// dimension cannot use it (the video is then skipped, like `scene`).
pub fn parsed_info(
    video: &crate::dimensions::VideoInput,
    dim: &str,
) -> Result<crate::prompt_info::PromptInfo, VideoErrorKind> {
    let prompt = video.prompt.as_deref().unwrap_or("");
    let info = video
        .prompt_info
        .clone()
        .unwrap_or_else(|| crate::prompt_info::parse_prompt(prompt));
    match info.skip_reason(dim) {
        None => Ok(info),
        Some(why) => Err(VideoErrorKind::MissingInput(format!(
            "{dim}: {why} (prompt {prompt:?}; give a --full-info record, or a prompt such as {})",
            match dim {
                "object_class" => "\"a dog\"",
                "multiple_objects" => "\"a cat and a dog\"",
                "color" => "\"a red car\"",
                _ => "\"a cup on the left of a laptop\"",
            }
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_sizes_follow_python() {
        assert_eq!(target_size(768, 1366), None);
        assert_eq!(target_size(720, 1280), None);
        assert_eq!(target_size(1080, 1920), Some((720, 1280)));
        assert_eq!(target_size(784, 1040), Some((720, 955)));
        // 720/769 * 1000 = 936.28… → 936
        assert_eq!(target_size(1000, 769), Some((936, 720)));
        assert_eq!(target_size(769, 769), Some((720, 720)));
    }

    #[test]
    fn float_frame_is_planar() {
        let f = Frame {
            width: 2,
            height: 1,
            data: vec![1, 2, 3, 4, 5, 6],
        };
        let p = FloatFrameRgb::from_frame(&f);
        assert_eq!(p.data, vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
        assert_eq!(p.at(2, 0, 1), 6.0);
    }

    struct Counting(Mutex<Vec<bool>>);
    impl ObjectDetector for Counting {
        fn detect(&self, f: &FloatFrameRgb, dense: bool) -> Result<FrameDetections, ScoreError> {
            self.0.lock().unwrap().push(dense);
            Ok(FrameDetections {
                object_det_texts: vec![format!("{}", f.data[0])],
                boxes: vec![[0.0; 4]],
                dense_captions: dense.then(|| vec!["x".into()]),
            })
        }
    }

    #[test]
    fn cache_runs_each_frame_once_and_upgrades_to_dense() {
        let inner = Arc::new(Counting(Mutex::new(Vec::new())));
        let c = CachedDetector::new(inner.clone(), false);
        let a = FloatFrameRgb {
            height: 1,
            width: 1,
            data: vec![1.0, 2.0, 3.0],
        };
        let b = FloatFrameRgb {
            data: vec![9.0, 2.0, 3.0],
            ..a.clone()
        };
        c.detect(&a, false).unwrap();
        c.detect(&a, false).unwrap();
        assert_eq!(c.detect(&b, false).unwrap().object_det_texts, ["9"]);
        assert!(c.detect(&a, true).unwrap().dense_captions.is_some());
        assert!(c.detect(&a, false).is_ok());
        assert_eq!(*inner.0.lock().unwrap(), vec![false, false, true]);
        let inner = Arc::new(Counting(Mutex::new(Vec::new())));
        let c = CachedDetector::new(inner.clone(), true);
        c.detect(&a, false).unwrap();
        c.detect(&a, true).unwrap();
        assert_eq!(*inner.0.lock().unwrap(), vec![true]);
    }

    #[test]
    fn sampler_detects_repeated_indices_once() {
        let inner = Counting(Mutex::new(Vec::new()));
        let mut s = DetectionSampler::new(3, ResizePath::TorchFloat, false);
        assert_eq!(s.indices().len(), 16);
        for v in 0..3u8 {
            let f = Frame {
                width: 1,
                height: 1,
                data: vec![v, 0, 0],
            };
            s.push(&inner, &f).unwrap();
        }
        assert_eq!(inner.0.lock().unwrap().len(), 3);
        let d = s.finish().unwrap();
        assert_eq!(d.len(), 16);
        assert_eq!(d[15].object_det_texts, ["2"]);
        let s = DetectionSampler::new(30, ResizePath::Cv2Uint8, true);
        assert!(s.finish().is_err());
    }
}
