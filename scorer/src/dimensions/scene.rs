//! `scene`: mirrors `vbench/scene.py::scene` (spec 40-semantic.md §2.5).
//!
//! Frames: decord `load_video(path, num_frames=16, width=384, height=384)` — 16 `middle` indices
//! over decord's `len(vr)`, each frame scaled to 384×384 by FFmpeg's bilinear `scale` in the
//! YUV→RGB pass ([`ReaderKind::Decord384`]) → `tag2text_transform(384)` → Tag2Text
//! `generate(num_beams=3, max_length=30, min_length=10)`.
//!
//! VBench's caption *i* is generated from the tag-encoder output of sampled frame *i // 3*
//! (§2.5.6), so only sampled frames 0..5 are kept and run; the 16 scored captions are
//! `cap0 ×3, cap1 ×3, …, cap4 ×3, cap5`. [`SceneOptions::corrected`] captions all 16 frames
//! from their own features instead (not VBench-compatible; off by default).
//!
//! Matching (`check_generate`): a caption succeeds when every space-separated word of the scene
//! string is a substring of it. Record: `video_results` = successes/16, `success_frame_count`,
//! `frame_count`; aggregate Σsuccess/Σframes.
//!
//! The scene string: in VBench's suite every `scene` record has `prompt_en` equal to its
//! `auxiliary_info.scene.scene` (all 86 checked), so the prompt given with `--full-info` is the
//! key; any other prompt goes through [`crate::prompt_info::parse_prompt`], and the parsed info is
//! added to the record (`prompt_info`) so a reader sees what was checked. A prompt with no scene
//! skips the video with that reason.

use std::sync::Arc;

use vbench_models::tag2text::{BeamConfig, BeamRules, Tag2Text};

use super::{path_record, AggPart, Dimension, Outcome, VideoInput, VideoScorer};
use crate::error::{ScoreError, VideoErrorKind};
use crate::hub::ModelHub;
use crate::prompt_info::{parse_prompt, PromptInfo, VBENCH_SCENES};
use crate::pyjson::PyJson;
use crate::runtime::Runtime;
use crate::sampling::{middle_indices, FramePicker};
use crate::tag2text_caption::{
    check_generate, preprocess, vbench_captions, BertTokenizer, Captioner, EFFECTIVE_FRAMES,
};
use crate::video::{Frame, ReaderKind, DECORD_SCENE_SIZE};

pub const NAME: &str = "scene";
/// `load_video(..., num_frames=16)`.
const NUM_FRAMES: usize = 16;

/// Tag2Text and its tokenizer, loaded once.
pub struct Tag2TextNets {
    pub model: Tag2Text,
    pub tokenizer: BertTokenizer,
}

/// Non-default behaviours.
#[derive(Debug, Clone, Copy, Default)]
pub struct SceneOptions {
    /// Caption every sampled frame from its own features (fixes VBench's frame i → i//3).
    pub corrected: bool,
    /// transformers 4.46.3's beam normalisation instead of 4.33.2's.
    pub beam_rules: BeamRules,
}

pub struct Scene {
    nets: Arc<Tag2TextNets>,
    rt: Runtime,
    opts: SceneOptions,
}

impl Scene {
    pub fn load(hub: &ModelHub) -> Result<Self, ScoreError> {
        Ok(Self::new(
            hub.tag2text()?,
            hub.runtime.clone(),
            hub.options.scene,
        ))
    }

    pub fn new(nets: Arc<Tag2TextNets>, rt: Runtime, opts: SceneOptions) -> Self {
        Self { nets, rt, opts }
    }
}

/// The scene string for a prompt, and the parsed info when it did not come from VBench's suite
/// (`given`: info parsed beforehand, e.g. by an LLM; else the rule parser's).
fn scene_key(prompt: &str, given: Option<&PromptInfo>) -> (Option<String>, Option<PromptInfo>) {
    if VBENCH_SCENES.lines().any(|s| s == prompt) {
        return (Some(prompt.to_string()), None);
    }
    let info = given.cloned().unwrap_or_else(|| parse_prompt(prompt));
    (info.scene.clone(), Some(info))
}

struct SceneScorer<'a> {
    dim: &'a Scene,
    video: VideoInput,
    key: String,
    info: Option<PromptInfo>,
    picker: FramePicker,
}

impl VideoScorer for SceneScorer<'_> {
    fn push(&mut self, frame: &Frame) -> Result<(), VideoErrorKind> {
        if !self.picker.is_complete() {
            self.picker.push(frame);
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<Outcome, VideoErrorKind> {
        let frames = self.picker.into_frames()?;
        let model_err = |e: ScoreError| VideoErrorKind::Model(e.to_string());
        let refs: Vec<&[u8]> = frames.iter().map(|f| f.data.as_slice()).collect();
        let images = preprocess(&refs, DECORD_SCENE_SIZE as usize, &self.dim.rt.device)
            .map_err(model_err)?;
        let cap = Captioner {
            model: &self.dim.nets.model,
            tokenizer: &self.dim.nets.tokenizer,
            beam: BeamConfig {
                rules: self.dim.opts.beam_rules,
                eos_token_id: self.dim.nets.tokenizer.sep,
                ..BeamConfig::default()
            },
        };
        let caps = cap.captions(&images).map_err(model_err)?;
        let texts: Vec<String> = caps.into_iter().map(|c| c.caption).collect();
        let captions = vbench_captions(&texts, NUM_FRAMES, self.dim.opts.corrected);
        let success = check_generate(&self.key, &captions);
        let mut rest = vec![
            (
                "video_results",
                PyJson::Float(success as f64 / captions.len() as f64),
            ),
            ("success_frame_count", PyJson::Int(success as i64)),
            ("frame_count", PyJson::Int(captions.len() as i64)),
        ];
        if let Some(info) = &self.info {
            rest.push(("prompt_info", info.to_pyjson()));
        }
        Ok(Outcome {
            record: path_record(&self.video, rest),
            agg: AggPart {
                sum: success as f64,
                count: captions.len() as f64,
            },
        })
    }
}

impl Dimension for Scene {
    fn name(&self) -> &'static str {
        NAME
    }

    fn reader(&self) -> ReaderKind {
        ReaderKind::Decord384
    }

    fn needs_packet_count(&self) -> bool {
        true
    }

    fn start(&self, video: &VideoInput) -> Result<Box<dyn VideoScorer + '_>, VideoErrorKind> {
        let prompt = video.prompt.as_deref().unwrap_or("");
        let (key, info) = scene_key(prompt, video.prompt_info.as_ref());
        let key = key.ok_or_else(|| {
            VideoErrorKind::MissingInput(format!(
                "scene: the prompt {prompt:?} names no scene (give a --full-info record or a prompt like \"... at a beach\")"
            ))
        })?;
        let vlen = video.meta.as_ref().and_then(|m| m.packets).ok_or_else(|| {
            VideoErrorKind::MissingInput("scene: decord's frame count was not probed".into())
        })? as usize;
        if vlen == 0 {
            return Err(VideoErrorKind::NoFrames);
        }
        let mut idx = middle_indices(NUM_FRAMES, vlen);
        if !self.opts.corrected {
            idx.truncate(EFFECTIVE_FRAMES);
        }
        Ok(Box::new(SceneScorer {
            dim: self,
            video: video.clone(),
            key,
            info,
            picker: FramePicker::new(idx),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suite_prompts_are_their_own_scene() {
        assert_eq!(
            scene_key("amusement park", None),
            (Some("amusement park".into()), None)
        );
        let (k, info) = scene_key("two cats and a bicycle at a beach", None);
        assert_eq!(k.as_deref(), Some("beach"));
        assert!(info.is_some());
        assert_eq!(scene_key("a red car to the left of a dog", None).0, None);
        let llm = PromptInfo {
            scene: Some("harbour".into()),
            source: "llm".into(),
            ..Default::default()
        };
        assert_eq!(
            scene_key("boats at dusk", Some(&llm)).0.as_deref(),
            Some("harbour")
        );
    }
}
