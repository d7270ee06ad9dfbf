//! The ViCLIP video–text cosine shared by `overall_consistency` and `temporal_style`, whose
//! VBench modules differ only in their names and prompt lists (spec 30-video-text §1.8).
//!
//! Per video (`overall_consistency.py::overall_consistency`, same in `temporal_style.py`):
//! 1. `read_frames_decord_by_fps(path, num_frames=8, sample='middle')`: decord's `len(vr)` (the
//!    demuxed packet count) → `get_frame_indices(8, vlen, 'middle')`, padded with the last index
//!    when the video is shorter; frames are decord RGB uint8. (`vlen / fps` is computed and
//!    unused, so an fps of 0 raises ZeroDivisionError there: reported here as a per-video error.)
//! 2. `clip_transform(224)` on the uint8 frames ([`transforms::clip_transform_u8`]).
//! 3. `get_vid_features`: `encode_vision((1, 8, 3, 224, 224), test=True).float()`, divided by
//!    its L2 norm (no eps); `get_text_features`: `encode_text(prompt)` (ViCLIP's tokenizer,
//!    context 32: SOT + first 30 tokens + EOT when longer, a notice is added), same norm. The raw
//!    prompt is used, no template.
//! 4. `video_results = float(video @ text.T)`: the f32 cosine, no scaling or clamping.
//!
//! Aggregate: `np.mean` over all videos.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use candle_core::Tensor;

use super::{path_record, AggPart, Outcome, VideoInput, VideoScorer};
use crate::error::{ScoreError, VideoErrorKind};
use crate::hub::{ModelHub, ViClipNets, WarningSink};
use crate::pyjson::PyJson;
use crate::runtime::Runtime;
use crate::sampling::{middle_indices, FramePicker};
use crate::transforms;
use crate::video::Frame;

/// Frames `read_frames_decord_by_fps` samples for these dimensions.
pub const NUM_FRAMES: usize = 8;
/// `clip_transform(224)`.
pub const IMAGE_SIZE: usize = 224;

/// ViCLIP scoring for one of the two dimensions.
pub struct ViClipSimilarity {
    dim: &'static str,
    nets: Arc<ViClipNets>,
    rt: Runtime,
    /// Unit-norm text features per prompt (`get_text_features`' cache).
    text_cache: Mutex<HashMap<String, Arc<Vec<f32>>>>,
    warnings: WarningSink,
}

/// The ids ViCLIP's `CLIP_TEXT.tokenize(text, context_length=32)` gives, and whether the
/// prompt was cut.
pub fn viclip_token_ids(
    nets: &ViClipNets,
    prompt: &str,
) -> Result<crate::text::Tokenized, ScoreError> {
    nets.tokenizer.tokenize(prompt, nets.model.context_length())
}

/// `x / x.norm()` in f32 (no eps, as `clip_feat /= clip_feat.norm(...)`).
fn unit(v: Vec<f32>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.into_iter().map(|x| x / n).collect()
}

impl ViClipSimilarity {
    pub fn load(dim: &'static str, hub: &ModelHub) -> Result<Self, ScoreError> {
        Ok(Self {
            dim,
            nets: hub.viclip()?,
            rt: hub.runtime.clone(),
            text_cache: Mutex::default(),
            warnings: hub.warning_sink(),
        })
    }

    /// The unit-norm ViCLIP text feature of a prompt (cached per prompt string).
    pub fn text_feature(&self, prompt: &str) -> Result<Arc<Vec<f32>>, VideoErrorKind> {
        if let Some(t) = self.text_cache.lock().expect("not poisoned").get(prompt) {
            return Ok(t.clone());
        }
        let tok = viclip_token_ids(&self.nets, prompt)
            .map_err(|e| VideoErrorKind::MissingInput(e.to_string()))?;
        if tok.truncated {
            self.warnings.push(format!(
                "{}: the prompt {prompt:?} is longer than ViCLIP's context of {} tokens; like VBench, only its first {} tokens are used (SOT + tokens + EOT)",
                self.dim,
                self.nets.model.context_length(),
                self.nets.model.context_length() - 2,
            ));
        }
        let len = tok.ids.len();
        let ids = Tensor::from_vec(tok.ids, (1, len), &self.rt.device)?;
        let t = self.nets.model.text_features(&ids)?.to_vec2::<f32>()?;
        let t = Arc::new(unit(t.into_iter().next().unwrap_or_default()));
        self.text_cache
            .lock()
            .expect("not poisoned")
            .insert(prompt.to_string(), t.clone());
        Ok(t)
    }

    /// The unit-norm video feature of 8 sampled frames (decord RGB, any size).
    pub fn video_feature(&self, frames: &[Frame]) -> Result<Vec<f32>, VideoErrorKind> {
        let mut data = Vec::with_capacity(frames.len() * 3 * IMAGE_SIZE * IMAGE_SIZE);
        for f in frames {
            data.extend(transforms::clip_transform_u8(f, IMAGE_SIZE).data);
        }
        let x = Tensor::from_vec(
            data,
            (1, frames.len(), 3, IMAGE_SIZE, IMAGE_SIZE),
            &self.rt.device,
        )?;
        let v = self.nets.model.video_features(&x)?.to_vec2::<f32>()?;
        Ok(unit(v.into_iter().next().unwrap_or_default()))
    }

    pub fn start(&self, video: &VideoInput) -> Result<Box<dyn VideoScorer + '_>, VideoErrorKind> {
        let prompt = video.prompt.as_deref().ok_or_else(|| {
            VideoErrorKind::MissingInput(format!(
                "{} compares the video with its prompt: give --prompt TEXT, --prompts FILE, --full-info FILE, or name the file after the prompt",
                self.dim
            ))
        })?;
        let meta = video.meta.as_ref().ok_or_else(|| {
            VideoErrorKind::Decode("the video was not probed before decoding".into())
        })?;
        let vlen = meta.packets.ok_or_else(|| {
            VideoErrorKind::Decode("decord's frame count (packets) was not counted".into())
        })? as usize;
        if vlen == 0 {
            return Err(VideoErrorKind::NoFrames);
        }
        if meta.avg_fps == 0.0 || !meta.avg_fps.is_finite() {
            return Err(VideoErrorKind::Unreadable(format!(
                "the stream has no average frame rate; VBench's read_frames_decord_by_fps divides by it ({} raises ZeroDivisionError)",
                self.dim
            )));
        }
        let text = self.text_feature(prompt)?;
        Ok(Box::new(ViClipVideo {
            sim: self,
            video: video.clone(),
            picker: FramePicker::new(middle_indices(NUM_FRAMES, vlen)),
            text,
        }))
    }
}

struct ViClipVideo<'a> {
    sim: &'a ViClipSimilarity,
    video: VideoInput,
    picker: FramePicker,
    text: Arc<Vec<f32>>,
}

impl VideoScorer for ViClipVideo<'_> {
    fn push(&mut self, frame: &Frame) -> Result<(), VideoErrorKind> {
        if !self.picker.is_complete() {
            self.picker.push(frame);
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<Outcome, VideoErrorKind> {
        let frames = self.picker.into_frames()?;
        let v = self.sim.video_feature(&frames)?;
        let score = super::dot(&v, &self.text) as f64;
        Ok(Outcome {
            record: path_record(&self.video, vec![("video_results", PyJson::Float(score))]),
            agg: AggPart {
                sum: score,
                count: 1.0,
            },
        })
    }
}
