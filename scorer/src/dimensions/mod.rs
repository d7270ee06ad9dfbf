//! One file per VBench dimension. Each turns a stream of decoded frames into VBench's per-video
//! record, plus the partial sums its aggregate rule needs ([`AggPart`]), so a run can be
//! resumed, sharded and merged without re-reading videos.

use std::sync::Arc;

use candle_core::Tensor;

use crate::error::VideoErrorKind;
use crate::hub::ModelHub;
use crate::pyjson::PyJson;
use crate::transforms::Planar;
use crate::video::{Frame, ReaderKind};

pub mod aesthetic_quality;
pub mod appearance_style;
pub mod background_consistency;
pub mod color;
pub mod dynamic_degree;
pub mod human_action;
pub mod imaging_quality;
pub mod motion_smoothness;
pub mod multiple_objects;
pub mod object_class;
pub mod overall_consistency;
pub mod scene;
pub mod spatial_relationship;
pub mod subject_consistency;
pub mod temporal_flickering;
pub mod temporal_style;
pub mod viclip_similarity;

/// VBench's 16 dimensions, in `build_full_dimension_list` order.
pub const ALL: [&str; 16] = [
    "subject_consistency",
    "background_consistency",
    "aesthetic_quality",
    "imaging_quality",
    "object_class",
    "multiple_objects",
    "color",
    "spatial_relationship",
    "scene",
    "temporal_style",
    "overall_consistency",
    "human_action",
    "temporal_flickering",
    "motion_smoothness",
    "dynamic_degree",
    "appearance_style",
];

/// The dimensions this build computes, in [`ALL`] order.
pub const IMPLEMENTED: &[&str] = &[
    subject_consistency::NAME,
    background_consistency::NAME,
    aesthetic_quality::NAME,
    imaging_quality::NAME,
    object_class::NAME,
    multiple_objects::NAME,
    color::NAME,
    spatial_relationship::NAME,
    scene::NAME,
    temporal_style::NAME,
    overall_consistency::NAME,
    human_action::NAME,
    temporal_flickering::NAME,
    motion_smoothness::NAME,
    dynamic_degree::NAME,
    appearance_style::NAME,
];

/// Non-default behaviours of dimensions, set once per run (`vbench-score` flags) and read by
/// the dimensions' `load` through [`ModelHub::options`].
#[derive(Debug, Clone, Copy, Default)]
pub struct DimensionOptions {
    /// `--scene-corrected`, `--beam-rules`.
    pub scene: scene::SceneOptions,
    /// `--semantic-corrected` (the four GRiT dimensions).
    pub semantic: crate::grit_detect::SemanticOptions,
}

/// What a dimension gets to know about a video besides its frames.
#[derive(Debug, Clone, Default)]
pub struct VideoInput {
    /// The path as written in the results (as given, not absolutised, like VBench).
    pub display_path: String,
    pub prompt: Option<String>,
    /// appearance_style's style phrase.
    pub style: Option<String>,
    /// The stream as probed just before decoding (fps for the readers, decord's packet count
    /// when a dimension asked for it through [`Dimension::needs_packet_count`]). Set by
    /// [`crate::evaluate::score_video`].
    pub meta: Option<crate::video::VideoMeta>,
    /// The `auxiliary_info` of the `--full-info` record the video matched (keyed by
    /// dimension, as in `VBench_full_info.json`); `None` in any-prompt mode.
    pub auxiliary_info: Option<serde_json::Value>,
    /// The prompt's parsed info when it was parsed beforehand (the LLM path); the semantic
    /// dimensions use [`crate::prompt_info::parse_prompt`] when this is `None`.
    pub prompt_info: Option<crate::prompt_info::PromptInfo>,
}

/// The partial sums a dimension's aggregate is computed from: aggregate = scale · Σsum / Σcount.
/// Pair-weighted dims count pairs, frame-weighted dims frames, per-video means count 1.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AggPart {
    pub sum: f64,
    pub count: f64,
}

/// One scored video for one dimension.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// VBench's per-video record (`video_path` first).
    pub record: PyJson,
    pub agg: AggPart,
}

/// Scores the frames of one video, pushed in order.
pub trait VideoScorer {
    fn push(&mut self, frame: &Frame) -> Result<(), VideoErrorKind>;
    fn finish(self: Box<Self>) -> Result<Outcome, VideoErrorKind>;
}

pub trait Dimension: Send + Sync {
    fn name(&self) -> &'static str;
    /// Whose colour conversion the frames need.
    fn reader(&self) -> ReaderKind;
    fn start(&self, video: &VideoInput) -> Result<Box<dyn VideoScorer + '_>, VideoErrorKind>;
    /// Whether the dimension samples frames by decord's `len(vr)` (the demuxed packet count),
    /// which costs one demux pass before decoding.
    fn needs_packet_count(&self) -> bool {
        false
    }
}

/// Builds a dimension, loading (once, through `hub`) the networks it needs.
pub fn load(name: &str, hub: &ModelHub) -> Result<Box<dyn Dimension>, crate::ScoreError> {
    Ok(match name {
        subject_consistency::NAME => Box::new(subject_consistency::SubjectConsistency::load(hub)?),
        background_consistency::NAME => {
            Box::new(background_consistency::BackgroundConsistency::load(hub)?)
        }
        aesthetic_quality::NAME => Box::new(aesthetic_quality::AestheticQuality::load(hub)?),
        imaging_quality::NAME => Box::new(imaging_quality::ImagingQuality::load(hub)?),
        appearance_style::NAME => Box::new(appearance_style::AppearanceStyle::load(hub)?),
        temporal_flickering::NAME => Box::new(temporal_flickering::TemporalFlickering),
        motion_smoothness::NAME => Box::new(motion_smoothness::MotionSmoothness::load(hub)?),
        dynamic_degree::NAME => Box::new(dynamic_degree::DynamicDegree::load(hub)?),
        human_action::NAME => Box::new(human_action::HumanAction::load(hub)?),
        scene::NAME => Box::new(scene::Scene::load(hub)?),
        overall_consistency::NAME => Box::new(overall_consistency::OverallConsistency::load(hub)?),
        temporal_style::NAME => Box::new(temporal_style::TemporalStyle::load(hub)?),
        object_class::NAME | multiple_objects::NAME | color::NAME | spatial_relationship::NAME => {
            let detector: Arc<dyn crate::grit_detect::ObjectDetector> = hub.grit_detector()?;
            crate::grit_detect::build_dimension(name, detector, hub.options.semantic)
                .expect("one of the four GRiT dimensions")
        }
        other if ALL.contains(&other) => {
            return Err(crate::ScoreError::Options(format!(
                "dimension `{other}` is not implemented in this version (implemented: {})",
                IMPLEMENTED.join(", ")
            )))
        }
        other => return Err(crate::ScoreError::UnknownDimension(other.to_string())),
    })
}

/// The aggregate of a dimension from its per-video parts (VBench's rule, spec 00-common §5.1).
pub fn aggregate(name: &str, parts: &[AggPart]) -> f64 {
    let sum: f64 = parts.iter().map(|p| p.sum).sum();
    let count: f64 = parts.iter().map(|p| p.count).sum();
    let scale = if name == "imaging_quality" { 0.01 } else { 1.0 };
    if count == 0.0 {
        return f64::NAN;
    }
    scale * sum / count
}

/// An image network run on preprocessed frames in batches: each frame's output row is folded
/// into per-video state. Subject, background, aesthetic and appearance are this shape; they
/// differ only in transform, network and fold.
pub(crate) trait FrameNet: Sync {
    type State;
    fn transform(&self, frame: &Frame) -> Planar;
    /// (n, 3, h, w) → one output row per frame, in order.
    fn forward(&self, x: &Tensor) -> candle_core::Result<Vec<Vec<f32>>>;
    fn fold(&self, state: &mut Self::State, row: Vec<f32>);
    fn finish(&self, video: &VideoInput, state: Self::State) -> Result<Outcome, VideoErrorKind>;
}

/// Scores one video through a [`FrameNet`], `batch_size` frames per forward pass. The frames
/// of one video share a size, so a batch is one tensor.
pub(crate) struct BatchedScorer<'a, N: FrameNet> {
    net: &'a N,
    video: VideoInput,
    device: candle_core::Device,
    cap: usize,
    h: usize,
    w: usize,
    data: Vec<f32>,
    n: usize,
    state: N::State,
}

impl<'a, N: FrameNet> BatchedScorer<'a, N> {
    pub(crate) fn boxed(
        net: &'a N,
        video: &VideoInput,
        rt: &crate::runtime::Runtime,
        state: N::State,
    ) -> Box<dyn VideoScorer + 'a> {
        Box::new(Self {
            net,
            video: video.clone(),
            device: rt.device.clone(),
            cap: rt.batch_size.max(1),
            h: 0,
            w: 0,
            data: Vec::new(),
            n: 0,
            state,
        })
    }

    fn flush(&mut self) -> Result<(), VideoErrorKind> {
        if self.n == 0 {
            return Ok(());
        }
        let data = std::mem::take(&mut self.data);
        let n = std::mem::replace(&mut self.n, 0);
        let x = Tensor::from_vec(data, (n, 3, self.h, self.w), &self.device)?;
        for row in self.net.forward(&x)? {
            self.net.fold(&mut self.state, row);
        }
        Ok(())
    }
}

impl<N: FrameNet> VideoScorer for BatchedScorer<'_, N> {
    fn push(&mut self, frame: &Frame) -> Result<(), VideoErrorKind> {
        let p = self.net.transform(frame);
        self.h = p.height;
        self.w = p.width;
        self.data.extend_from_slice(&p.data);
        self.n += 1;
        if self.n >= self.cap {
            self.flush()?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<Outcome, VideoErrorKind> {
        self.flush()?;
        self.net.finish(&self.video, self.state)
    }
}

/// L2-normalise rows (`F.normalize(p=2, dim=-1)`, eps 1e-12) of an (n, d) host matrix.
pub(crate) fn normalize_rows(rows: Vec<Vec<f32>>) -> Vec<Vec<f32>> {
    rows.into_iter()
        .map(|r| {
            let n = r.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
            r.into_iter().map(|v| v / n).collect()
        })
        .collect()
}

pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The frame-to-first and frame-to-previous similarity chain shared by subject and background
/// consistency: s_i = (max(0, cos(f_{i-1}, f_i)) + max(0, cos(f_0, f_i))) / 2.
#[derive(Default)]
pub(crate) struct ConsistencyChain {
    first: Option<Vec<f32>>,
    prev: Option<Vec<f32>>,
    /// Σ s_i in f64, in order of i.
    pub sum: f64,
    pub pairs: usize,
}

impl ConsistencyChain {
    pub(crate) fn push(&mut self, f: Vec<f32>) {
        match (&self.first, &self.prev) {
            (Some(first), Some(prev)) => {
                let sim_pre = dot(prev, &f).max(0.0) as f64;
                let sim_fir = dot(first, &f).max(0.0) as f64;
                self.sum += (sim_pre + sim_fir) / 2.0;
                self.pairs += 1;
                self.prev = Some(f);
            }
            _ => {
                self.first = Some(f.clone());
                self.prev = Some(f);
            }
        }
    }

    /// The per-video mean, or the reason there is none (VBench divides by zero on one frame).
    pub(crate) fn mean(&self, dim: &str) -> Result<f64, VideoErrorKind> {
        if self.pairs == 0 {
            return Err(VideoErrorKind::TooFewFrames(format!(
                "{dim} compares consecutive frames and needs at least 2; this video has 1 (VBench would divide by zero)"
            )));
        }
        Ok(self.sum / self.pairs as f64)
    }
}

pub(crate) fn path_record(video: &VideoInput, rest: Vec<(&str, PyJson)>) -> PyJson {
    let mut items = vec![(
        "video_path".to_string(),
        PyJson::Str(video.display_path.clone()),
    )];
    items.extend(rest.into_iter().map(|(k, v)| (k.to_string(), v)));
    PyJson::Dict(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregate_pair_weighted_and_video_mean() {
        // two videos: 7 pairs summing to 6.5 and 2 pairs summing to 1.0 → 7.5 / 9
        let parts = [
            AggPart {
                sum: 6.5,
                count: 7.0,
            },
            AggPart {
                sum: 1.0,
                count: 2.0,
            },
        ];
        assert!((aggregate("subject_consistency", &parts) - 7.5 / 9.0).abs() < 1e-15);
        let parts = [
            AggPart {
                sum: 50.0,
                count: 1.0,
            },
            AggPart {
                sum: 70.0,
                count: 1.0,
            },
        ];
        assert!((aggregate("imaging_quality", &parts) - 0.6).abs() < 1e-15);
        assert!(aggregate("subject_consistency", &[]).is_nan());
    }

    #[test]
    fn implemented_dimensions_follow_vbench_order() {
        let pos: Vec<usize> = IMPLEMENTED
            .iter()
            .map(|d| ALL.iter().position(|a| a == d).expect("a VBench dimension"))
            .collect();
        assert!(pos.windows(2).all(|w| w[0] < w[1]), "{IMPLEMENTED:?}");
    }

    #[test]
    fn chain_clamps_each_cosine_before_averaging() {
        let mut c = ConsistencyChain::default();
        c.push(vec![1.0, 0.0]);
        c.push(vec![-1.0, 0.0]); // both cosines -1 → clamped to 0
        c.push(vec![0.0, 1.0]); // prev cos 0, first cos 0
        c.push(vec![0.0, 1.0]); // prev 1, first 0 → 0.5
        assert_eq!(c.pairs, 3);
        assert!((c.sum - 0.5).abs() < 1e-12);
        let mut one = ConsistencyChain::default();
        one.push(vec![1.0]);
        assert!(one.mean("subject_consistency").is_err());
    }
}
