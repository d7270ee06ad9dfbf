//! `motion_smoothness`: mirrors `vbench/motion_smoothness.py::MotionSmoothness.motion_score` and
//! `motion_smoothness` (spec 20-motion.md §4).
//!
//! Every frame through OpenCV's conversion (RGB). The even frames `F0, F2, …` are AMT-S inputs
//! (`img2tensor`: `u8 / 255` in f32, replicate-padded to multiples of 16 by `InputPadder`); for
//! each consecutive pair the network predicts the middle frame (`embt = 0.5`), which is unpadded,
//! turned into `u8` by `tensor2img` (`x·255`, clip to [0, 255], truncate) and compared with the
//! odd frame between them: `err_k = mean |P_k − F_{2k+1}|` over H·W·3. Per video
//! `(255 − mean_k err_k) / 255`; when T is even the last frame is unused. Aggregate: mean over
//! videos.
//!
//! **Scale.** VBench's `initialization` tests `self.device == 'cuda'`, which is False for the
//! `torch.device('cuda')` the launcher passes (spec §4.2), so on GPU as on CPU it uses the
//! "CPU" constants (anchor 8192², memory 1, bias 0, VRAM 1): `scale = 1` and padding divisor 16
//! for every frame below 8192² pixels. We use that rule on every device ([`vbench_scale`]); the
//! VRAM-dependent downscaling is never applied.
//!
//! Streaming: only the previous even frame (padded tensor) and the odd frame after it are held.
//!
//! Per-video errors instead of VBench's crashes or undefined output: T ≤ 2 (VBench asserts),
//! frames of different sizes (VBench would resize the inputs and then crash in `cv2.absdiff`),
//! padded sides below 128 (the coarsest correlation level would be 1 pixel wide: VBench divides
//! by zero there and its output is undefined; below 64 it crashes), and frames whose
//! correlation volumes would exceed [`MAX_CORR_BYTES`].

use std::sync::Arc;

use candle_core::{DType, Device, Tensor};
use vbench_models::amt;

use super::{path_record, AggPart, Dimension, Outcome, VideoInput, VideoScorer};
use crate::error::{ScoreError, VideoErrorKind};
use crate::hub::ModelHub;
use crate::pyjson::PyJson;
use crate::runtime::Runtime;
use crate::video::{Frame, ReaderKind};

pub const NAME: &str = "motion_smoothness";

/// Upper bound on the memory of the two all-pairs correlation pyramids (f32,
/// `2 · (Hp/8 · Wp/8)² · 4 B · (1 + 1/4 + 1/16 + 1/64)`): 1080p needs 11.3 GB, 1440p 35 GB.
/// Measured peak RSS of one interpolation (CPU, `benches/benches/amt.rs`, `AMT_PEAK=WxH`):
/// 720p 2.5 GiB, 1080p 11.5 GiB.
pub const MAX_CORR_BYTES: u64 = 16 << 30;

/// Smallest padded side AMT-S is run on (coarsest correlation level at least 2 pixels).
pub const MIN_PADDED_SIDE: usize = 128;

/// VBench's `motion_score` scale rule with the constants the standard launcher ends up using
/// (anchor_resolution 8192·8192, anchor_memory 1, bias 0, vram_avail 1; spec §4.2): returns
/// `(scale, padding divisor)` for an unpadded `h × w` frame.
pub fn vbench_scale(h: usize, w: usize) -> (f64, usize) {
    let anchor_resolution = 8192.0 * 8192.0;
    let (anchor_memory, anchor_memory_bias, vram_avail) = (1.0f64, 0.0f64, 1.0f64);
    let mut scale = anchor_resolution / (h * w) as f64
        * ((vram_avail - anchor_memory_bias) / anchor_memory).sqrt();
    if scale > 1.0 {
        scale = 1.0;
    }
    let scale = 1.0 / (1.0 / scale.sqrt() * 16.0).floor() * 16.0;
    (scale, (16.0 / scale) as usize)
}

/// `InputPadder(dims, divisor)._pad`: `[left, right, top, bottom]`.
pub fn padding(h: usize, w: usize, divisor: usize) -> [usize; 4] {
    let pad_ht = ((h / divisor + 1) * divisor - h) % divisor;
    let pad_wd = ((w / divisor + 1) * divisor - w) % divisor;
    [
        pad_wd / 2,
        pad_wd - pad_wd / 2,
        pad_ht / 2,
        pad_ht - pad_ht / 2,
    ]
}

/// Estimated bytes of the correlation pyramids for a padded `hp × wp` input.
pub fn corr_bytes(hp: usize, wp: usize) -> u64 {
    let p = ((hp / 8) * (wp / 8)) as u64;
    // 2 volumes · p² · 4 B · 85/64 (the pooled levels)
    2 * p * p * 4 * 85 / 64
}

/// numpy's float64 `np.mean` of a 1-D array: pairwise summation (`pairwise_sum`, blocks of 8
/// partial sums, unrolled up to 128) divided by n.
pub fn numpy_mean(v: &[f64]) -> f64 {
    fn pairwise(a: &[f64]) -> f64 {
        let n = a.len();
        if n < 8 {
            let mut res = 0.0;
            for &x in a {
                res += x;
            }
            res
        } else if n <= 128 {
            let mut r = [0.0f64; 8];
            r.copy_from_slice(&a[..8]);
            let mut i = 8;
            while i < n - (n % 8) {
                for j in 0..8 {
                    r[j] += a[i + j];
                }
                i += 8;
            }
            let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
            for &x in &a[i..] {
                res += x;
            }
            res
        } else {
            let mut n2 = n / 2;
            n2 -= n2 % 8;
            pairwise(&a[..n2]) + pairwise(&a[n2..])
        }
    }
    pairwise(v) / v.len() as f64
}

/// `img2tensor` + `InputPadder.pad`: `(1, 3, Hp, Wp)` f32 of `u8 / 255`, edges replicated.
pub fn input_tensor(frame: &Frame, pad: [usize; 4], dev: &Device) -> candle_core::Result<Tensor> {
    let (h, w) = (frame.height, frame.width);
    let hw = h * w;
    let mut planar = vec![0f32; 3 * hw];
    for (i, px) in frame.data.chunks_exact(3).enumerate() {
        for c in 0..3 {
            planar[c * hw + i] = px[c] as f32 / 255.0f32;
        }
    }
    Tensor::from_vec(planar, (1, 3, h, w), dev)?
        .pad_with_same(3, pad[0], pad[1])?
        .pad_with_same(2, pad[2], pad[3])
}

/// `InputPadder.unpad` + `tensor2img`: `(1, 3, Hp, Wp)` → HWC u8, `trunc(clip(x·255, 0, 255))`.
pub fn output_frame(
    pred: &Tensor,
    pad: [usize; 4],
    h: usize,
    w: usize,
) -> candle_core::Result<Frame> {
    let x = pred
        .narrow(2, pad[2], h)?
        .narrow(3, pad[0], w)?
        .affine(255.0, 0.0)?
        .clamp(0f32, 255f32)?
        .squeeze(0)?
        .permute((1, 2, 0))?
        .to_dtype(DType::F32)?
        .flatten_all()?
        .to_vec1::<f32>()?;
    Ok(Frame {
        width: w,
        height: h,
        data: x.into_iter().map(|v| v as u8).collect(),
    })
}

/// `get_diff`: `np.mean(cv2.absdiff(a, b))` in float64 (exact integer sum / count).
pub fn frame_mae_f64(a: &Frame, b: &Frame) -> f64 {
    let sum: u64 = a
        .data
        .iter()
        .zip(&b.data)
        .map(|(&x, &y)| x.abs_diff(y) as u64)
        .sum();
    sum as f64 / a.data.len() as f64
}

pub struct MotionSmoothness {
    net: Arc<amt::Model>,
    device: Device,
}

impl MotionSmoothness {
    pub fn load(hub: &ModelHub) -> Result<Self, ScoreError> {
        Ok(Self::new(hub.amt()?, &hub.runtime))
    }

    pub fn new(net: Arc<amt::Model>, rt: &Runtime) -> Self {
        Self {
            net,
            device: rt.device.clone(),
        }
    }
}

struct Geometry {
    h: usize,
    w: usize,
    scale: f64,
    pad: [usize; 4],
}

struct Scorer<'a> {
    dim: &'a MotionSmoothness,
    video: VideoInput,
    geo: Option<Geometry>,
    frames: usize,
    prev_input: Option<Tensor>,
    pending_odd: Option<Frame>,
    errs: Vec<f64>,
}

impl Scorer<'_> {
    fn geometry(&self, frame: &Frame) -> Result<Geometry, VideoErrorKind> {
        let (h, w) = (frame.height, frame.width);
        let (scale, divisor) = vbench_scale(h, w);
        let pad = padding(h, w, divisor);
        let (hp, wp) = (h + pad[2] + pad[3], w + pad[0] + pad[1]);
        if hp.min(wp) < MIN_PADDED_SIDE {
            return Err(VideoErrorKind::Model(format!(
                "{NAME}: frames {w}x{h} pad to {wp}x{hp}; AMT-S needs at least {MIN_PADDED_SIDE} per side (VBench crashes below 64 and its output is undefined below 128: the coarsest correlation level is one pixel wide)"
            )));
        }
        let need = corr_bytes(hp, wp);
        if need > MAX_CORR_BYTES {
            return Err(VideoErrorKind::Model(format!(
                "{NAME}: frames {w}x{h} need {:.1} GiB for AMT-S's all-pairs correlation volumes, above the {} GiB limit",
                need as f64 / (1u64 << 30) as f64,
                MAX_CORR_BYTES >> 30
            )));
        }
        Ok(Geometry { h, w, scale, pad })
    }
}

impl VideoScorer for Scorer<'_> {
    fn push(&mut self, frame: &Frame) -> Result<(), VideoErrorKind> {
        let t = self.frames;
        self.frames += 1;
        if self.geo.is_none() {
            self.geo = Some(self.geometry(frame)?);
        }
        let geo = self.geo.as_ref().expect("set above");
        if frame.height != geo.h || frame.width != geo.w {
            return Err(VideoErrorKind::Decode(format!(
                "frame {t} is {}x{}, the first frame {}x{}; {NAME} needs one size (VBench would crash in cv2.absdiff)",
                frame.width, frame.height, geo.w, geo.h
            )));
        }
        if t % 2 == 1 {
            self.pending_odd = Some(frame.clone());
            return Ok(());
        }
        let cur = input_tensor(frame, geo.pad, &self.dim.device)?;
        if let Some(prev) = self.prev_input.take() {
            let pred = self.dim.net.forward(&prev, &cur, 0.5, geo.scale)?.imgt_pred;
            let got = output_frame(&pred, geo.pad, geo.h, geo.w)?;
            let truth = self
                .pending_odd
                .take()
                .expect("an odd frame precedes every even frame after the first");
            self.errs.push(frame_mae_f64(&truth, &got));
        }
        self.prev_input = Some(cur);
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<Outcome, VideoErrorKind> {
        if self.frames <= 2 {
            return Err(VideoErrorKind::TooFewFrames(format!(
                "{NAME} interpolates between even frames and needs at least 3 frames; this video has {} (VBench asserts)",
                self.frames
            )));
        }
        let vfi = numpy_mean(&self.errs);
        let score = (255.0 - vfi) / 255.0;
        Ok(Outcome {
            record: path_record(&self.video, vec![("video_results", PyJson::Float(score))]),
            agg: AggPart {
                sum: score,
                count: 1.0,
            },
        })
    }
}

impl Dimension for MotionSmoothness {
    fn name(&self) -> &'static str {
        NAME
    }
    fn reader(&self) -> ReaderKind {
        ReaderKind::OpenCv
    }
    fn start(&self, video: &VideoInput) -> Result<Box<dyn VideoScorer + '_>, VideoErrorKind> {
        Ok(Box::new(Scorer {
            dim: self,
            video: video.clone(),
            geo: None,
            frames: 0,
            prev_input: None,
            pending_odd: None,
            errs: Vec::new(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_is_one_below_8192_squared() {
        assert_eq!(vbench_scale(1080, 1920), (1.0, 16));
        assert_eq!(vbench_scale(8192, 8192), (1.0, 16));
        // above the anchor VBench would downscale: 16384² → scale0 = 1/4 → 1/floor(32)·16 = 0.5
        assert_eq!(vbench_scale(16384, 16384), (0.5, 32));
    }

    #[test]
    fn padder_matches_input_padder() {
        assert_eq!(padding(1080, 1920, 16), [0, 0, 4, 4]);
        assert_eq!(padding(320, 512, 16), [0, 0, 0, 0]);
        assert_eq!(padding(136, 160, 16), [0, 0, 4, 4]);
        // odd remainders go right / bottom
        assert_eq!(padding(131, 129, 16), [7, 8, 6, 7]);
    }

    #[test]
    fn numpy_mean_pairwise() {
        let v: Vec<f64> = (0..300)
            .map(|i| (i as f64 * 0.37).sin() * 1e3 + 0.1)
            .collect();
        let direct: f64 = v.iter().sum::<f64>() / 300.0;
        assert!((numpy_mean(&v) - direct).abs() < 1e-9);
        assert_eq!(numpy_mean(&[1.0, 2.0, 4.0]), 7.0 / 3.0);
    }

    #[test]
    fn tensor2img_truncates_and_clips() {
        let pred = Tensor::from_vec(
            vec![0.0f32, 0.5, 1.0, 0.999, 0.0039, 0.2],
            (1, 3, 1, 2),
            &Device::Cpu,
        )
        .unwrap();
        let f = output_frame(&pred, [0, 0, 0, 0], 1, 2).unwrap();
        // HWC: pixel 0 = (0, 1.0, 0.0039), pixel 1 = (0.5, 0.999, 0.2)
        assert_eq!(f.data, vec![0, 255, 0, 127, 254, 51]);
    }

    #[test]
    fn limits() {
        assert!(corr_bytes(1088, 1920) < MAX_CORR_BYTES);
        assert!(corr_bytes(1440, 2560) > MAX_CORR_BYTES);
    }
}
