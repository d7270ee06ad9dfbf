//! `appearance_style`: mirrors `vbench/appearance_style.py::appearance_style`.
//!
//! The text is the **style phrase** (`auxiliary_info.appearance_style`, e.g. "Van Gogh style"),
//! not the prompt. Every frame (decord RGB uint8) → PIL image → `clip_transform_Image(224)`
//! (Pillow antialiased bicubic, centre crop) → CLIP ViT-B/32; per frame
//! c_t = exp(logit_scale) · cos(image, text) / 100. Record: `video_results` = mean c_t,
//! `frame_results`, `cur_sim` (last frame). Aggregate: frame-weighted over all frames.

use std::sync::Arc;

use candle_core::Tensor;

use super::{path_record, AggPart, Batch, Dimension, Outcome, VideoInput, VideoScorer};
use crate::error::{ScoreError, VideoErrorKind};
use crate::hub::{ClipWithText, ModelHub};
use crate::pyjson::PyJson;
use crate::runtime::Runtime;
use crate::transforms;
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

struct Scorer<'a> {
    dim: &'a AppearanceStyle,
    video: VideoInput,
    text: Vec<f32>,
    batch: Batch,
    frames: Vec<f64>,
}

impl Scorer<'_> {
    fn flush(&mut self) -> Result<(), VideoErrorKind> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let x = self.batch.take(&self.dim.rt.device)?;
        let img = self.dim.clip.model.image_features(&x)?.to_vec2::<f32>()?;
        for r in img {
            // CLIP.forward: image / image.norm(), no eps
            let n = r.iter().map(|v| v * v).sum::<f32>().sqrt();
            let cos: f32 = r.iter().zip(&self.text).map(|(a, b)| (a / n) * b).sum();
            let logit = self.dim.logit_scale_exp * cos;
            self.frames.push(logit as f64 / 100.0);
        }
        Ok(())
    }
}

impl VideoScorer for Scorer<'_> {
    fn push(&mut self, frame: &Frame) -> Result<(), VideoErrorKind> {
        if self.batch.push(transforms::clip_transform_pil(frame, 224)) {
            self.flush()?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<Outcome, VideoErrorKind> {
        self.flush()?;
        let sum: f64 = self.frames.iter().sum();
        let n = self.frames.len();
        let last = *self.frames.last().unwrap_or(&f64::NAN);
        Ok(Outcome {
            record: path_record(
                &self.video,
                vec![
                    ("video_results", PyJson::Float(sum / n as f64)),
                    (
                        "frame_results",
                        PyJson::List(self.frames.iter().map(|&v| PyJson::Float(v)).collect()),
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
        Ok(Box::new(Scorer {
            dim: self,
            video: video.clone(),
            text: self.text_feature(style)?,
            batch: Batch::new(self.rt.batch_size),
            frames: Vec::new(),
        }))
    }
}
