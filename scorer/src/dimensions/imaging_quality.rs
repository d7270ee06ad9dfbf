//! `imaging_quality`: mirrors `vbench/imaging_quality.py::technical_quality` (spec
//! 10-frame-dims §6).
//!
//! Every frame (decord RGB, float 0..255) → `transform(images, mode)`: in the default mode
//! `'longer'`, when max(h, w) > 512, torch bilinear (no antialias, unrounded) to
//! `(int(s·h), int(s·w))` with `s = 512/max(h, w)` in f64; then ÷255 (f32) → MUSIQ-SPAQ
//! (pyiqa, [`vbench_models::musiq`]) → one MOS per frame. Per video: the frames' scores summed
//! as Python floats from 0.0 in frame order, ÷T (0–100 scale, not divided by 100). Aggregate:
//! mean over videos ÷100 (in [`super::aggregate`]).
//!
//! VBench scores one frame per forward pass; frames of a video share one size (one token
//! layout), so they are batched here, which changes only float summation order.
//!
//! Failures that VBench turns into exceptions are per-video errors here: a frame so thin that
//! a resize would have 0 pixels on a side (VBench's `Resize`, or MUSIQ's 224-pixel scale), and
//! a video with no frame (VBench divides by zero).

use std::sync::Arc;

use candle_core::Tensor;
use vbench_models::musiq;
use vbench_models::nn::resample;

use super::{path_record, AggPart, Dimension, Outcome, VideoInput, VideoScorer};
use crate::error::{ScoreError, VideoErrorKind};
use crate::hub::ModelHub;
use crate::pyjson::PyJson;
use crate::runtime::Runtime;
use crate::transforms::{self, Planar};
use crate::video::{Frame, ReaderKind};

pub const NAME: &str = "imaging_quality";

/// The resize limit of `transform` (pixels).
const LIMIT: usize = 512;

/// `--imaging_quality_preprocessing_mode` (VBench's CLI default and `technical_quality`'s
/// fallback are `'longer'`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PreprocessMode {
    /// Any string starting with `"shorter"` other than `"shorter_centercrop"`: shorter side
    /// to 512 when it exceeds 512.
    Shorter,
    /// `"shorter_centercrop"`: as `Shorter`, then `CenterCrop(512)`, only when it resized.
    ShorterCenterCrop,
    /// `"longer"`: longer side to 512 when it exceeds 512.
    #[default]
    Longer,
    /// The string `"None"`: no resize.
    None,
}

impl std::str::FromStr for PreprocessMode {
    type Err = String;
    /// VBench's `transform` dispatch: `startswith('shorter')` first, then `== 'longer'`,
    /// `== 'None'`; anything else raises.
    fn from_str(s: &str) -> Result<Self, String> {
        if s.starts_with("shorter") {
            Ok(if s == "shorter_centercrop" {
                Self::ShorterCenterCrop
            } else {
                Self::Shorter
            })
        } else if s == "longer" {
            Ok(Self::Longer)
        } else if s == "None" {
            Ok(Self::None)
        } else {
            Err(format!(
                "unknown imaging_quality preprocessing mode `{s}` (longer, shorter, shorter_centercrop, None)"
            ))
        }
    }
}

/// The size `transform` resizes an `h`×`w` frame to, or `None` when it does not resize:
/// `s = 512/side` and `(int(s·h), int(s·w))`, in f64 in that order (spec pitfall 3).
pub fn resize_target(mode: PreprocessMode, h: usize, w: usize) -> Option<(usize, usize)> {
    let side = match mode {
        PreprocessMode::Longer => h.max(w),
        PreprocessMode::Shorter | PreprocessMode::ShorterCenterCrop => h.min(w),
        PreprocessMode::None => return None,
    };
    if side <= LIMIT {
        return None;
    }
    let s = LIMIT as f64 / side as f64;
    Some(((s * h as f64) as usize, (s * w as f64) as usize))
}

/// torchvision `CenterCrop(c)` on planar (3, h, w) data, zero-padding an axis shorter than `c`
/// first (`functional.center_crop`).
fn center_crop(x: Vec<f32>, h: usize, w: usize, c: usize) -> Vec<f32> {
    let (x, h, w) = if c > h || c > w {
        let ph = c.saturating_sub(h);
        let pw = c.saturating_sub(w);
        let (top, left) = (ph / 2, pw / 2);
        let (nh, nw) = (h + ph, w + pw);
        let mut out = vec![0f32; 3 * nh * nw];
        for k in 0..3 {
            for y in 0..h {
                let src = &x[(k * h + y) * w..(k * h + y + 1) * w];
                let o = (k * nh + top + y) * nw + left;
                out[o..o + w].copy_from_slice(src);
            }
        }
        if (nh, nw) == (c, c) {
            return out;
        }
        (out, nh, nw)
    } else {
        (x, h, w)
    };
    let (top, left) = transforms::center_crop_offsets(h, w, c);
    transforms::crop_planar(&x, 3, h, w, top, left, c, c)
}

/// `imaging_quality.transform` on one decoded frame: planar (3, h', w') f32 in [0, 1].
pub fn transform(frame: &Frame, mode: PreprocessMode) -> Result<Planar, VideoErrorKind> {
    let (h, w) = (frame.height, frame.width);
    let mut x = transforms::to_planar_f32(frame);
    let (mut oh, mut ow) = (h, w);
    if let Some((rh, rw)) = resize_target(mode, h, w) {
        if rh == 0 || rw == 0 {
            return Err(VideoErrorKind::Model(format!(
                "imaging_quality: a {w}x{h} frame would be resized to {rw}x{rh} (VBench's Resize raises on an empty size)"
            )));
        }
        x = resample::resize_bilinear(&x, 3, h, w, rh, rw);
        (oh, ow) = (rh, rw);
        if mode == PreprocessMode::ShorterCenterCrop {
            x = center_crop(x, oh, ow, LIMIT);
            (oh, ow) = (LIMIT, LIMIT);
        }
    }
    for v in x.iter_mut() {
        *v /= 255.0;
    }
    Ok(Planar {
        height: oh,
        width: ow,
        data: x,
    })
}

pub struct ImagingQuality {
    net: Arc<musiq::Model>,
    rt: Runtime,
    mode: PreprocessMode,
}

impl ImagingQuality {
    /// In the runtime's mode ([`Runtime::imaging_quality_mode`], VBench's `'longer'` unless set).
    pub fn load(hub: &ModelHub) -> Result<Self, ScoreError> {
        Ok(
            Self::new(hub.musiq()?, hub.runtime.clone())
                .with_mode(hub.runtime.imaging_quality_mode),
        )
    }

    /// VBench's default mode, `'longer'`.
    pub fn new(net: Arc<musiq::Model>, rt: Runtime) -> Self {
        Self {
            net,
            rt,
            mode: PreprocessMode::default(),
        }
    }

    pub fn with_mode(mut self, mode: PreprocessMode) -> Self {
        self.mode = mode;
        self
    }
}

struct Scorer<'a> {
    dim: &'a ImagingQuality,
    video: VideoInput,
    cap: usize,
    h: usize,
    w: usize,
    data: Vec<f32>,
    n: usize,
    scores: Vec<f32>,
}

impl Scorer<'_> {
    fn flush(&mut self) -> Result<(), VideoErrorKind> {
        if self.n == 0 {
            return Ok(());
        }
        let data = std::mem::take(&mut self.data);
        let n = std::mem::replace(&mut self.n, 0);
        let x = Tensor::from_vec(data, (n, 3, self.h, self.w), &self.dim.rt.device)?
            .to_dtype(self.dim.rt.dtype)?;
        let q = self
            .dim
            .net
            .forward(&x)?
            .to_dtype(candle_core::DType::F32)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        self.scores.extend(q);
        Ok(())
    }
}

impl VideoScorer for Scorer<'_> {
    fn push(&mut self, frame: &Frame) -> Result<(), VideoErrorKind> {
        let p = transform(frame, self.dim.mode)?;
        if self.n > 0 && (p.height, p.width) != (self.h, self.w) {
            self.flush()?;
        }
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
        if self.scores.is_empty() {
            return Err(VideoErrorKind::NoFrames);
        }
        // acc_score_video = 0.; acc_score_video += float(score); ... / len(images)
        let mut acc = 0f64;
        for &s in &self.scores {
            acc += s as f64;
        }
        let mean = acc / self.scores.len() as f64;
        Ok(Outcome {
            record: path_record(&self.video, vec![("video_results", PyJson::Float(mean))]),
            agg: AggPart {
                sum: mean,
                count: 1.0,
            },
        })
    }
}

impl Dimension for ImagingQuality {
    fn name(&self) -> &'static str {
        NAME
    }
    fn reader(&self) -> ReaderKind {
        ReaderKind::Decord
    }
    fn start(&self, video: &VideoInput) -> Result<Box<dyn VideoScorer + '_>, VideoErrorKind> {
        Ok(Box::new(Scorer {
            dim: self,
            video: video.clone(),
            cap: self.rt.batch_size.max(1),
            h: 0,
            w: 0,
            data: Vec::new(),
            n: 0,
            scores: Vec::new(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_strings_follow_vbench_dispatch() {
        let p = |s: &str| s.parse::<PreprocessMode>();
        assert_eq!(p("longer"), Ok(PreprocessMode::Longer));
        assert_eq!(p("shorter"), Ok(PreprocessMode::Shorter));
        assert_eq!(
            p("shorter_centercrop"),
            Ok(PreprocessMode::ShorterCenterCrop)
        );
        // startswith('shorter')
        assert_eq!(p("shorterX"), Ok(PreprocessMode::Shorter));
        assert_eq!(p("None"), Ok(PreprocessMode::None));
        assert!(p("none").is_err());
        assert!(p("Longer").is_err());
    }

    #[test]
    fn resize_targets_match_spec() {
        use PreprocessMode::{Longer, Shorter};
        // spec §6.3 / §11.3
        assert_eq!(resize_target(Longer, 480, 848), Some((289, 512)));
        assert_eq!(resize_target(Longer, 720, 1280), Some((288, 512)));
        assert_eq!(resize_target(Longer, 1080, 1920), Some((288, 512)));
        assert_eq!(resize_target(Longer, 480, 720), Some((341, 512)));
        assert_eq!(resize_target(Longer, 4320, 7680), Some((288, 512)));
        assert_eq!(resize_target(Longer, 96, 640), Some((76, 512)));
        assert_eq!(resize_target(Longer, 512, 512), None);
        assert_eq!(resize_target(Longer, 320, 512), None);
        // 512/561·561 = 511.99999999999994 in f64: the longer side becomes 511
        assert_eq!(resize_target(Longer, 300, 561), Some((273, 511)));
        assert_eq!(resize_target(Shorter, 720, 1280), Some((512, 910)));
        assert_eq!(resize_target(Shorter, 480, 848), None);
        assert_eq!(resize_target(PreprocessMode::None, 4320, 7680), None);
        // a 1-pixel-high strip: int(512/1024 · 1) = 0
        assert_eq!(resize_target(Longer, 1, 1024), Some((0, 512)));
    }

    #[test]
    fn transform_divides_by_255_and_rejects_empty_resizes() {
        let f = Frame {
            width: 2,
            height: 1,
            data: vec![255, 0, 51, 0, 0, 0],
        };
        let p = transform(&f, PreprocessMode::Longer).unwrap();
        assert_eq!((p.height, p.width), (1, 2));
        assert_eq!(p.data, vec![1.0, 0.0, 0.0, 0.0, 0.2, 0.0]);
        let strip = Frame {
            width: 1024,
            height: 1,
            data: vec![0; 1024 * 3],
        };
        assert!(transform(&strip, PreprocessMode::Longer).is_err());
    }

    #[test]
    fn center_crop_pads_a_511_side() {
        // (511, 600) → pad 1 row at the bottom (top = 0), then crop columns at round(44) = 44
        let (h, w) = (511, 600);
        let x: Vec<f32> = (0..3 * h * w).map(|i| (i % w) as f32 + 1.0).collect();
        let out = center_crop(x, h, w, 512);
        assert_eq!(out.len(), 3 * 512 * 512);
        assert_eq!(out[0], 45.0);
        assert_eq!(out[511 * 512], 0.0, "padded last row");
    }
}
