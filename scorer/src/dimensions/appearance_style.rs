//! `appearance_style`: mirrors `vbench/appearance_style.py::appearance_style`.
//!
//! The text is the **style phrase** (`auxiliary_info.appearance_style`, e.g. "Van Gogh style"),
//! not the prompt. Every frame (decord RGB uint8) → PIL image → `clip_transform_Image(224)`
//! (Pillow antialiased bicubic, centre crop) → CLIP ViT-B/32; per frame
//! c_t = exp(logit_scale) · cos(image, text) / 100. Record: `video_results` = mean c_t,
//! `frame_results`, `cur_sim` (last frame). Aggregate: frame-weighted over all frames.

use std::sync::Arc;

use candle_core::Tensor;

use super::{
    path_record, AggPart, BatchedScorer, Dimension, FrameNet, Outcome, VideoInput, VideoScorer,
};
use crate::error::{ScoreError, VideoErrorKind};
use crate::hub::{ClipWithText, ModelHub};
use crate::pyjson::PyJson;
use crate::runtime::Runtime;
use crate::transforms::{self, Planar};
use crate::video::{Frame, ReaderKind};

pub const NAME: &str = "appearance_style";

pub struct AppearanceStyle {
    clip: Arc<ClipWithText>,
    rt: Runtime,
    logit_scale_exp: f32,
}

impl AppearanceStyle {
    pub fn load(hub: &ModelHub) -> Result<Self, ScoreError> {
        let clip = hub.clip_b32()?;
        let logit_scale_exp = clip.model.logit_scale()?.exp();
        Ok(Self {
            clip,
            rt: hub.runtime.clone(),
            logit_scale_exp,
        })
    }

    /// The unit-norm text feature of a style phrase (`text / text.norm()`).
    fn text_feature(&self, style: &str) -> Result<Vec<f32>, VideoErrorKind> {
        let tok = self
            .clip
            .tokenizer
            .tokenize(style, 77)
            .map_err(|e| VideoErrorKind::MissingInput(e.to_string()))?;
        let ids = Tensor::from_vec(tok.ids, (1, 77), &self.rt.device)?;
        let t = self.clip.model.text_features(&ids)?.to_vec2::<f32>()?;
        let t = t.into_iter().next().unwrap_or_default();
        let n = t.iter().map(|v| v * v).sum::<f32>().sqrt();
        Ok(t.into_iter().map(|v| v / n).collect())
    }
}

/// Per video: the unit-norm text feature and the per-frame values so far.
pub struct StyleState {
    text: Vec<f32>,
    frames: Vec<f64>,
}

impl FrameNet for AppearanceStyle {
    type State = StyleState;

    fn transform(&self, frame: &Frame) -> Planar {
        transforms::clip_transform_pil(frame, 224)
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Vec<Vec<f32>>> {
        self.clip.model.image_features(x)?.to_vec2::<f32>()
    }

    fn fold(&self, st: &mut StyleState, img: Vec<f32>) {
        // CLIP.forward: image / image.norm(), no eps
        let n = img.iter().map(|v| v * v).sum::<f32>().sqrt();
        let cos: f32 = img.iter().zip(&st.text).map(|(a, b)| (a / n) * b).sum();
        let logit = self.logit_scale_exp * cos;
        st.frames.push(logit as f64 / 100.0);
    }

    fn finish(&self, video: &VideoInput, st: StyleState) -> Result<Outcome, VideoErrorKind> {
        let sum: f64 = st.frames.iter().sum();
        let n = st.frames.len();
        let last = *st.frames.last().unwrap_or(&f64::NAN);
        Ok(Outcome {
            record: path_record(
                video,
                vec![
                    ("video_results", PyJson::Float(sum / n as f64)),
                    (
                        "frame_results",
                        PyJson::List(st.frames.iter().map(|&v| PyJson::Float(v)).collect()),
                    ),
                    ("cur_sim", PyJson::Float(last)),
                ],
            ),
            agg: AggPart {
                sum,
                count: n as f64,
            },
        })
    }
}

impl Dimension for AppearanceStyle {
    fn name(&self) -> &'static str {
        NAME
    }
    fn reader(&self) -> ReaderKind {
        ReaderKind::Decord
    }
    fn start(&self, video: &VideoInput) -> Result<Box<dyn VideoScorer + '_>, VideoErrorKind> {
        let style = video.style.as_deref().ok_or_else(|| {
            VideoErrorKind::MissingInput(
                "appearance_style needs a style phrase: give --style TEXT, a --full-info record with auxiliary_info.appearance_style, or a prompt ending in one of VBench's styles (e.g. \"..., oil painting\")".into(),
            )
        })?;
        let state = StyleState {
            text: self.text_feature(style)?,
            frames: Vec::new(),
        };
        Ok(BatchedScorer::boxed(self, video, &self.rt, state))
    }
}
