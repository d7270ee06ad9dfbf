//! `dynamic_degree`: mirrors `vbench/dynamic_degree.py::DynamicDegree.infer` /
//! `dynamic_degree` (spec 20-motion.md §1).
//!
//! Frames through OpenCV's conversion (RGB), every `interval`-th frame kept with
//! `interval = max(1, round_half_even(CAP_PROP_FPS / 8))`. For each consecutive kept pair:
//! RAFT (20 iterations) on the replicate-padded frames, and the statistic: the mean of the
//! `int(Hp·Wp·0.05)` largest flow magnitudes of the **padded** `flow_up`. With
//! `thres = 6·min(H, W)/256` (unpadded size) and `count_num = round_half_even(N/4)` (N kept
//! frames), the video moves iff at least `count_num` pair scores are `> thres` (checked after
//! each pair, so N = 2 is always true and N = 1 always false). Record: a bool; aggregate: the
//! fraction of moving videos.
//!
//! Streaming: only the previous kept frame (its padded pixels and RAFT features) is held; pairs
//! are batched through RAFT as far as [`BATCH_CORR_BYTES`] allows. Bad input: frames whose padded
//! side is below 64 make VBench's RAFT crash (here: a per-video error); `64 ≤ min(Hp, Wp) < 128`
//! gives NaN flow in PyTorch (a 1-pixel pyramid level normalised by 0) and NaN scores, which we
//! reproduce (NaN never exceeds the threshold); frames whose correlation pyramid would exceed
//! [`MAX_CORR_BYTES`] (≈ 1440p and up) are refused with a per-video error. Image-folder inputs
//! (VBench's `get_frames_from_img_folder`) are not supported: inputs are video files.

use std::sync::Arc;

use candle_core::{DType, Device, Tensor};
use vbench_models::raft;

use super::{path_record, AggPart, Dimension, Outcome, VideoInput, VideoScorer};
use crate::error::{ScoreError, VideoErrorKind};
use crate::hub::ModelHub;
use crate::pyjson::PyJson;
use crate::video::{Frame, ReaderKind};

pub const NAME: &str = "dynamic_degree";

/// Largest correlation pyramid of one frame pair we build (8 GiB). 1080p needs 5.6 GB
/// (level 0 is `(Hp/8 · Wp/8)²` floats); 2560×1440 would need 13.3 GB.
pub const MAX_CORR_BYTES: u64 = 8 << 30;

/// Pairs are batched through RAFT while their correlation pyramids together stay below this.
pub const BATCH_CORR_BYTES: u64 = 1 << 30;

/// `max(1, round(fps / 8))` with Python's round (ties to even).
pub fn frame_interval(fps: f64) -> usize {
    let r = (fps / 8.0).round_ties_even();
    if r.is_finite() && r >= 1.0 {
        r as usize
    } else {
        1
    }
}

/// numpy's float32 `add.reduce` (`pairwise_sum`, blocks of 128 with 8 accumulators), started
/// from 0.
pub fn numpy_sum_f32(a: &[f32]) -> f32 {
    fn pairwise(a: &[f32]) -> f32 {
        let n = a.len();
        if n < 8 {
            let mut res = 0f32;
            for &v in a {
                res += v;
            }
            res
        } else if n <= 128 {
            let mut r = [0f32; 8];
            r.copy_from_slice(&a[..8]);
            let mut i = 8;
            while i < n - (n % 8) {
                for j in 0..8 {
                    r[j] += a[i + j];
                }
                i += 8;
            }
            let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
            while i < n {
                res += a[i];
                i += 1;
            }
            res
        } else {
            let mut n2 = n / 2;
            n2 -= n2 % 8;
            pairwise(&a[..n2]) + pairwise(&a[n2..])
        }
    }
    0f32 + pairwise(a)
}

/// `get_score` of dynamic_degree (`fraction` 0.05) and the static filter (0.02): on a flow
/// field of `n` pixels (`u`, `v` planes), `rad = sqrt(u² + v²)` in f32 and the numpy float32 mean
/// of the `int(n · fraction)` largest values (NaN values sort last, as in `np.sort`).
pub fn top_fraction_mean(u: &[f32], v: &[f32], fraction: f64) -> f32 {
    let n = u.len();
    let cut = (n as f64 * fraction) as usize;
    if cut == 0 {
        return f32::NAN;
    }
    let mut rad: Vec<f32> = u
        .iter()
        .zip(v)
        .map(|(&a, &b)| (a * a + b * b).sqrt())
        .filter(|r| !r.is_nan())
        .collect();
    if rad.len() < cut {
        return f32::NAN;
    }
    let desc = |a: &f32, b: &f32| b.total_cmp(a);
    if cut < rad.len() {
        rad.select_nth_unstable_by(cut - 1, desc);
    }
    let top = &mut rad[..cut];
    top.sort_unstable_by(desc);
    // np.mean: float32 sum, divided as a double, rounded back to float32
    (numpy_sum_f32(top) as f64 / cut as f64) as f32
}

/// RAFT on a stream of frames: each frame is padded and featurised once, consecutive pairs are
/// batched, and each pair's padded `flow_up` is reduced to `top_fraction_mean(fraction)`.
pub struct PairFlow<'a> {
    net: &'a raft::Model,
    device: Device,
    fraction: f64,
    max_pairs: usize,
    /// (height, width) of the first frame.
    size: Option<(usize, usize)>,
    /// The last frame already featurised: (padded image, features).
    carry: Option<(Tensor, Tensor)>,
    pending: Vec<Tensor>,
    pub scores: Vec<f32>,
}

impl<'a> PairFlow<'a> {
    pub fn new(net: &'a raft::Model, device: Device, fraction: f64, batch_size: usize) -> Self {
        Self {
            net,
            device,
            fraction,
            max_pairs: batch_size.max(1),
            size: None,
            carry: None,
            pending: Vec::new(),
            scores: Vec::new(),
        }
    }

    /// Checks a frame size against RAFT's limits; sets the pair batch size.
    fn check_size(&mut self, h: usize, w: usize) -> Result<(), VideoErrorKind> {
        let [l, r, t, b] = raft::pad_amounts(h, w);
        let (hp, wp) = (h + t + b, w + l + r);
        if hp < 64 || wp < 64 {
            return Err(VideoErrorKind::Model(format!(
                "frames of {w}x{h} are too small for RAFT: the padded size {wp}x{hp} must be at least 64x64 for its 4-level correlation pyramid (VBench's RAFT raises here)"
            )));
        }
        let bytes = self.net.config().corr_pyramid_bytes(hp, wp);
        if bytes > MAX_CORR_BYTES {
            return Err(VideoErrorKind::Model(format!(
                "frames of {w}x{h} need a {:.1} GiB RAFT correlation volume per frame pair; the limit is {} GiB (about 1920x1080)",
                bytes as f64 / (1u64 << 30) as f64,
                MAX_CORR_BYTES >> 30
            )));
        }
        self.max_pairs = self
            .max_pairs
            .min((BATCH_CORR_BYTES / bytes.max(1)).max(1) as usize);
        Ok(())
    }

    /// Adds the next frame of the sequence (RGB).
    pub fn push(&mut self, frame: &Frame) -> Result<(), VideoErrorKind> {
        let (h, w) = (frame.height, frame.width);
        match self.size {
            None => {
                self.check_size(h, w)?;
                self.size = Some((h, w));
            }
            Some(s) if s != (h, w) => {
                return Err(VideoErrorKind::Decode(format!(
                    "frame size changes from {}x{} to {w}x{h} within the video",
                    s.1, s.0
                )))
            }
            Some(_) => {}
        }
        let img = Tensor::from_slice(&frame.data, (h, w, 3), &self.device)?
            .to_dtype(DType::F32)?
            .permute((2, 0, 1))?
            .unsqueeze(0)?;
        self.pending.push(raft::pad_replicate(&img)?);
        if self.pending.len() >= self.max_pairs {
            self.flush()?;
        }
        Ok(())
    }

    /// Runs RAFT on the pairs formed by the carried frame and the pending ones.
    pub fn flush(&mut self) -> Result<(), VideoErrorKind> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending);
        let new_feats = self.net.features(&Tensor::cat(&pending, 0)?)?;
        let (mut imgs, mut feats) = (Vec::new(), Vec::new());
        if let Some((img, f)) = self.carry.take() {
            imgs.push(img);
            feats.push(f);
        }
        for (i, img) in pending.into_iter().enumerate() {
            imgs.push(img);
            feats.push(new_feats.narrow(0, i, 1)?);
        }
        let n = imgs.len();
        if n >= 2 {
            let ctx = self.net.context(&Tensor::cat(&imgs[..n - 1], 0)?)?;
            let f1 = Tensor::cat(&feats[..n - 1], 0)?;
            let f2 = Tensor::cat(&feats[1..], 0)?;
            let (_, up) = self.net.flow_from_features(&f1, &f2, &ctx)?;
            let (b, _, hp, wp) = up.dims4()?;
            let host: Vec<f32> = up.flatten_all()?.to_vec1()?;
            let plane = hp * wp;
            for k in 0..b {
                let u = &host[(2 * k) * plane..(2 * k + 1) * plane];
                let v = &host[(2 * k + 1) * plane..(2 * k + 2) * plane];
                self.scores.push(top_fraction_mean(u, v, self.fraction));
            }
        }
        let last_img = imgs.pop().expect("n ≥ 1");
        let last_feat = feats.pop().expect("n ≥ 1");
        self.carry = Some((last_img, last_feat));
        Ok(())
    }

    /// The (height, width) of the frames, once one was pushed.
    pub fn size(&self) -> Option<(usize, usize)> {
        self.size
    }
}

/// `DynamicDegree.set_params`: (thres, count_num) from the unpadded size and N kept frames.
pub fn params(h: usize, w: usize, kept: usize) -> (f64, usize) {
    let thres = 6.0 * (h.min(w) as f64 / 256.0);
    let count_num = (4.0 * (kept as f64 / 16.0)).round_ties_even() as usize;
    (thres, count_num)
}

/// `DynamicDegree.check_move`.
pub fn check_move(scores: &[f64], thres: f64, count_num: usize) -> bool {
    let mut count = 0;
    for &s in scores {
        if s > thres {
            count += 1;
        }
        if count >= count_num {
            return true;
        }
    }
    false
}

pub struct DynamicDegree {
    net: Arc<raft::Model>,
    rt: crate::runtime::Runtime,
}

impl DynamicDegree {
    pub fn load(hub: &ModelHub) -> Result<Self, ScoreError> {
        Ok(Self {
            net: hub.raft()?,
            rt: hub.runtime.clone(),
        })
    }

    pub fn new(net: Arc<raft::Model>, rt: crate::runtime::Runtime) -> Self {
        Self { net, rt }
    }
}

struct Scorer<'a> {
    video: VideoInput,
    interval: usize,
    seen: usize,
    kept: usize,
    flow: PairFlow<'a>,
}

impl VideoScorer for Scorer<'_> {
    fn push(&mut self, frame: &Frame) -> Result<(), VideoErrorKind> {
        let i = self.seen;
        self.seen += 1;
        if !i.is_multiple_of(self.interval) {
            return Ok(());
        }
        self.kept += 1;
        self.flow.push(frame)
    }

    fn finish(mut self: Box<Self>) -> Result<Outcome, VideoErrorKind> {
        self.flow.flush()?;
        let Some((h, w)) = self.flow.size() else {
            return Err(VideoErrorKind::NoFrames);
        };
        let (thres, count_num) = params(h, w, self.kept);
        let scores: Vec<f64> = self.flow.scores.iter().map(|&s| s as f64).collect();
        let moving = check_move(&scores, thres, count_num);
        Ok(Outcome {
            record: path_record(&self.video, vec![("video_results", PyJson::Bool(moving))]),
            agg: AggPart {
                sum: if moving { 1.0 } else { 0.0 },
                count: 1.0,
            },
        })
    }
}

impl Dimension for DynamicDegree {
    fn name(&self) -> &'static str {
        NAME
    }
    fn reader(&self) -> ReaderKind {
        ReaderKind::OpenCv
    }
    fn start(&self, video: &VideoInput) -> Result<Box<dyn VideoScorer + '_>, VideoErrorKind> {
        let fps = video.meta.as_ref().map_or(0.0, |m| m.guessed_fps);
        Ok(Box::new(Scorer {
            video: video.clone(),
            interval: frame_interval(fps),
            seen: 0,
            kept: 0,
            flow: PairFlow::new(&self.net, self.rt.device.clone(), 0.05, self.rt.batch_size),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_rounds_half_to_even() {
        let cases = [
            (0.0, 1),
            (4.0, 1),
            (8.0, 1),
            (12.0, 2),
            (20.0, 2),
            (24.0, 3),
            (25.0, 3),
            (28.0, 4),
            (30000.0 / 1001.0, 4),
            (36.0, 4),
            (44.0, 6),
            (60.0, 8),
        ];
        for (fps, want) in cases {
            assert_eq!(frame_interval(fps), want, "fps {fps}");
        }
        assert_eq!(frame_interval(f64::NAN), 1);
    }

    #[test]
    fn params_and_count_rule_follow_the_spec() {
        assert_eq!(params(320, 512, 16), (7.5, 4));
        assert_eq!(params(720, 1280, 17), (16.875, 4));
        assert_eq!(params(270, 480, 15).0, 6.328125);
        for (n, c) in [
            (1, 0),
            (2, 0),
            (3, 1),
            (5, 1),
            (6, 2),
            (10, 2),
            (14, 4),
            (18, 4),
            (22, 6),
        ] {
            assert_eq!(params(256, 256, n).1, c, "N = {n}");
        }
        // strict comparison; N = 2 → count_num 0 → true at once; no pairs → false
        assert!(!check_move(&[6.0, 6.0], 6.0, 1));
        assert!(check_move(&[0.0], 6.0, 0));
        assert!(!check_move(&[], 6.0, 0));
        assert!(!check_move(&[f64::NAN, f64::NAN], 1.0, 1));
        assert!(check_move(&[1.0, 7.0, 7.0, 1.0], 6.0, 2));
    }

    #[test]
    fn top_fraction_mean_of_known_values() {
        // 40 pixels, 5 % → the 2 largest magnitudes: 3-4-5 → 5 and 0-10 → 10
        let mut u = vec![0f32; 40];
        let mut v = vec![0.5f32; 40];
        u[3] = 3.0;
        v[3] = 4.0;
        v[7] = -10.0;
        assert_eq!(top_fraction_mean(&u, &v, 0.05), 7.5);
        // NaNs sort last: they are skipped while enough finite values remain
        u[0] = f32::NAN;
        assert_eq!(top_fraction_mean(&u, &v, 0.05), 7.5);
        assert!(top_fraction_mean(&[f32::NAN; 40], &[0.0; 40], 0.05).is_nan());
        assert!(top_fraction_mean(&[1.0; 10], &[0.0; 10], 0.05).is_nan());
    }

    #[test]
    fn numpy_pairwise_sum_blocks() {
        let a: Vec<f32> = (0..1000).map(|i| 1.0 + (i as f32) * 1e-3).collect();
        let s = numpy_sum_f32(&a);
        let exact: f64 = a.iter().map(|&x| x as f64).sum();
        assert!(((s as f64) - exact).abs() < 1e-3, "{s} {exact}");
        assert_eq!(numpy_sum_f32(&[1.0, 2.0, 3.0]), 6.0);
    }
}
