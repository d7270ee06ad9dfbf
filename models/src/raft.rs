//! RAFT optical flow as VBench builds it for `raft-things.pth` (`small=False`,
//! `mixed_precision=False`, `alternate_corr=False`, dropout 0), test mode, 20 iterations.
//!
//! Reference: `vbench/third_party/RAFT/core/` (VBench 0.1.5): `raft.py::RAFT`,
//! `extractor.py::{BasicEncoder, ResidualBlock}`, `corr.py::CorrBlock`,
//! `update.py::{BasicUpdateBlock, BasicMotionEncoder, SepConvGRU, FlowHead}`,
//! `utils_core/utils.py::{InputPadder, bilinear_sampler, coords_grid}`; spec 20-motion.md §2–3.
//!
//! Key layout (the checkpoint's, after `open_checkpoint` strips `module.`): `fnet.*` (convs only:
//! InstanceNorm without affine), `cnet.*` (convs + BatchNorm `weight/bias/running_mean/
//! running_var`; `norm3` and `downsample.1` are the same module, both in the file, we read
//! `downsample.1`), `update_block.{encoder,gru,flow_head,mask}.*`. `num_batches_tracked` is never
//! read. VBench's code hard-codes every width, so there is no smaller configuration: tests use the
//! real architecture on small inputs.
//!
//! The forward pass is split so that a caller streaming a video computes each frame's features
//! once ([`Model::features`]; a frame is image2 of one pair and image1 of the next), the
//! context once per image1 ([`Model::context`]), and runs the iterations for a batch of pairs
//! ([`Model::flow_from_features`]).

use candle_core::{DType, Module, Result, Tensor, D};
use candle_nn::VarBuilder;

use crate::nn::conv;
use crate::nn::grid_sample::{grid_sample_bilinear, GridPadding};

// Every weight is `detach`ed when the model is built: a `Var` weight (e.g. from a `VarMap`, as
// random-weight benches build it) makes candle record every op for backprop and keep all
// intermediate activations alive until the output is dropped, 11 GB for one 720p pair instead of
// about 2 GB. Detached tensors share the storage, so this costs nothing for loaded checkpoints.

// ReLU is written `maximum(0)`: candle's `relu` maps NaN to 0, PyTorch's keeps NaN, and VBench's
// RAFT produces NaN for inputs whose padded side is below 128 (a 1-pixel pyramid level is
// normalised by 0, spec 20-motion.md §1.8), which must reach the scores.

/// RAFT's hyper-parameters (`RAFT.__init__`, `small=False`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Config {
    /// GRU hidden state channels (`hdim`).
    pub hidden_dim: usize,
    /// Context channels (`cdim`).
    pub context_dim: usize,
    pub corr_levels: usize,
    pub corr_radius: usize,
    /// Update iterations; VBench passes `iters=20` (RAFT's own default of 12 is not used).
    pub iters: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self::raft_things()
    }
}

impl Config {
    /// The configuration of `raft-things.pth` as VBench's dynamic_degree / static filter run it.
    pub fn raft_things() -> Self {
        Self {
            hidden_dim: 128,
            context_dim: 128,
            corr_levels: 4,
            corr_radius: 4,
            iters: 20,
        }
    }

    /// Bytes of the correlation pyramid of one frame pair whose padded size is `hp × wp`
    /// (level 0 is `(h·w)²` floats, `h = hp/8`, `w = wp/8`; the pooled levels add about a third).
    pub fn corr_pyramid_bytes(&self, hp: usize, wp: usize) -> u64 {
        let (h, w) = ((hp / 8) as u64, (wp / 8) as u64);
        let mut total = 0u64;
        let (mut lh, mut lw) = (h, w);
        for _ in 0..self.corr_levels {
            total += h * w * lh * lw * 4;
            lh /= 2;
            lw /= 2;
        }
        total
    }
}

/// RAFT's `InputPadder` (mode `sintel`): replicate-pads H and W up to a multiple of 8, the odd
/// remainder on the bottom/right. Returns `[left, right, top, bottom]`.
pub fn pad_amounts(h: usize, w: usize) -> [usize; 4] {
    let pad_ht = ((h / 8 + 1) * 8 - h) % 8;
    let pad_wd = ((w / 8 + 1) * 8 - w) % 8;
    [
        pad_wd / 2,
        pad_wd - pad_wd / 2,
        pad_ht / 2,
        pad_ht - pad_ht / 2,
    ]
}

/// `InputPadder.pad`: (B, C, H, W) → (B, C, Hp, Wp), edge replication (`F.pad(mode='replicate')`).
pub fn pad_replicate(x: &Tensor) -> Result<Tensor> {
    let (_, _, h, w) = x.dims4()?;
    let [l, r, t, b] = pad_amounts(h, w);
    x.pad_with_same(3, l, r)?.pad_with_same(2, t, b)
}

/// A conv with bias, per-axis padding and stride (`nn.Conv2d`): banded im2col + matmul
/// ([`crate::nn::conv`]), whose column buffer stays below 16 MB at any frame size.
#[derive(Debug, Clone)]
struct Conv(conv::Conv2d);

impl Conv {
    fn new(
        cin: usize,
        cout: usize,
        k: (usize, usize),
        stride: usize,
        pad: (usize, usize),
        vb: VarBuilder,
    ) -> Result<Self> {
        let weight = vb.get((cout, cin, k.0, k.1), "weight")?;
        let bias = vb.get(cout, "bias")?;
        Ok(Self(conv::Conv2d::new(&weight, Some(&bias), stride, pad)?))
    }

    fn square(cin: usize, cout: usize, k: usize, stride: usize, vb: VarBuilder) -> Result<Self> {
        Self::new(cin, cout, (k, k), stride, (k / 2, k / 2), vb)
    }
}

impl Module for Conv {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.0.forward(x)
    }
}

/// `nn.InstanceNorm2d` (no affine, eps 1e-5) or `nn.BatchNorm2d` in eval mode.
#[derive(Debug, Clone)]
enum Norm {
    Instance,
    /// `x·alpha + beta`, `alpha = weight / sqrt(running_var + eps)`,
    /// `beta = bias − running_mean·alpha` (ATen's CPU inference form).
    Batch {
        alpha: Tensor,
        beta: Tensor,
    },
}

const NORM_EPS: f64 = 1e-5;

impl Norm {
    fn new(batch: bool, c: usize, vb: VarBuilder) -> Result<Self> {
        if !batch {
            return Ok(Norm::Instance);
        }
        let invstd = (vb.get(c, "running_var")? + NORM_EPS)?.sqrt()?.recip()?;
        let alpha = (invstd * vb.get(c, "weight")?)?;
        let beta = (vb.get(c, "bias")? - (vb.get(c, "running_mean")? * &alpha)?)?;
        Ok(Norm::Batch {
            alpha: alpha.detach().reshape((1, c, 1, 1))?,
            beta: beta.detach().reshape((1, c, 1, 1))?,
        })
    }
}

impl Module for Norm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Norm::Instance => {
                let (b, c, h, w) = x.dims4()?;
                let flat = x.reshape((b, c, h * w))?;
                let centered = flat.broadcast_sub(&flat.mean_keepdim(2)?)?;
                let var = centered.sqr()?.mean_keepdim(2)?;
                let invstd = (var + NORM_EPS)?.sqrt()?.recip()?;
                centered.broadcast_mul(&invstd)?.reshape((b, c, h, w))
            }
            Norm::Batch { alpha, beta } => x.broadcast_mul(alpha)?.broadcast_add(beta),
        }
    }
}

/// `extractor.py::ResidualBlock`.
#[derive(Debug, Clone)]
struct ResidualBlock {
    conv1: Conv,
    norm1: Norm,
    conv2: Conv,
    norm2: Norm,
    downsample: Option<(Conv, Norm)>,
}

impl ResidualBlock {
    fn new(cin: usize, planes: usize, batch: bool, stride: usize, vb: VarBuilder) -> Result<Self> {
        let downsample = if stride != 1 {
            let d = vb.pp("downsample");
            Some((
                Conv::new(cin, planes, (1, 1), stride, (0, 0), d.pp("0"))?,
                Norm::new(batch, planes, d.pp("1"))?,
            ))
        } else {
            None
        };
        Ok(Self {
            conv1: Conv::square(cin, planes, 3, stride, vb.pp("conv1"))?,
            norm1: Norm::new(batch, planes, vb.pp("norm1"))?,
            conv2: Conv::square(planes, planes, 3, 1, vb.pp("conv2"))?,
            norm2: Norm::new(batch, planes, vb.pp("norm2"))?,
            downsample,
        })
    }
}

impl Module for ResidualBlock {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = self.norm1.forward(&self.conv1.forward(x)?)?.maximum(0f32)?;
        let y = self
            .norm2
            .forward(&self.conv2.forward(&y)?)?
            .maximum(0f32)?;
        let x = match &self.downsample {
            Some((conv, norm)) => norm.forward(&conv.forward(x)?)?,
            None => x.clone(),
        };
        (x + y)?.maximum(0f32)
    }
}

/// `extractor.py::BasicEncoder`: stem 7×7/2 (64), layers 64, 96 (/2), 128 (/2), 1×1 head.
#[derive(Debug, Clone)]
struct BasicEncoder {
    conv1: Conv,
    norm1: Norm,
    layers: Vec<ResidualBlock>,
    conv2: Conv,
}

impl BasicEncoder {
    fn new(output_dim: usize, batch_norm: bool, vb: VarBuilder) -> Result<Self> {
        let mut layers = Vec::new();
        let mut cin = 64;
        for (i, (dim, stride)) in [(64, 1), (96, 2), (128, 2)].into_iter().enumerate() {
            let lvb = vb.pp(format!("layer{}", i + 1));
            layers.push(ResidualBlock::new(
                cin,
                dim,
                batch_norm,
                stride,
                lvb.pp("0"),
            )?);
            layers.push(ResidualBlock::new(dim, dim, batch_norm, 1, lvb.pp("1"))?);
            cin = dim;
        }
        Ok(Self {
            conv1: Conv::square(3, 64, 7, 2, vb.pp("conv1"))?,
            norm1: Norm::new(batch_norm, 64, vb.pp("norm1"))?,
            layers,
            conv2: Conv::new(128, output_dim, (1, 1), 1, (0, 0), vb.pp("conv2"))?,
        })
    }
}

impl Module for BasicEncoder {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut x = self.norm1.forward(&self.conv1.forward(x)?)?.maximum(0f32)?;
        for l in &self.layers {
            x = l.forward(&x)?;
        }
        self.conv2.forward(&x)
    }
}

/// `update.py::BasicMotionEncoder`.
#[derive(Debug, Clone)]
struct MotionEncoder {
    convc1: Conv,
    convc2: Conv,
    convf1: Conv,
    convf2: Conv,
    conv: Conv,
}

impl MotionEncoder {
    fn new(cor_planes: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            convc1: Conv::square(cor_planes, 256, 1, 1, vb.pp("convc1"))?,
            convc2: Conv::square(256, 192, 3, 1, vb.pp("convc2"))?,
            convf1: Conv::square(2, 128, 7, 1, vb.pp("convf1"))?,
            convf2: Conv::square(128, 64, 3, 1, vb.pp("convf2"))?,
            conv: Conv::square(64 + 192, 128 - 2, 3, 1, vb.pp("conv"))?,
        })
    }

    fn forward(&self, flow: &Tensor, corr: &Tensor) -> Result<Tensor> {
        let cor = self.convc1.forward(corr)?.maximum(0f32)?;
        let cor = self.convc2.forward(&cor)?.maximum(0f32)?;
        let flo = self.convf1.forward(flow)?.maximum(0f32)?;
        let flo = self.convf2.forward(&flo)?.maximum(0f32)?;
        let out = self
            .conv
            .forward(&Tensor::cat(&[cor, flo], 1)?)?
            .maximum(0f32)?;
        Tensor::cat(&[&out, flow], 1)
    }
}

/// `update.py::SepConvGRU`: a 1×5 half-step, then a 5×1 half-step.
#[derive(Debug, Clone)]
struct SepConvGru {
    z: [Conv; 2],
    r: [Conv; 2],
    q: [Conv; 2],
}

impl SepConvGru {
    fn new(hidden: usize, input: usize, vb: VarBuilder) -> Result<Self> {
        let c = |name: &str, k: (usize, usize), p: (usize, usize)| {
            Conv::new(hidden + input, hidden, k, 1, p, vb.pp(name))
        };
        let (h, v) = (((1, 5), (0, 2)), ((5, 1), (2, 0)));
        Ok(Self {
            z: [c("convz1", h.0, h.1)?, c("convz2", v.0, v.1)?],
            r: [c("convr1", h.0, h.1)?, c("convr2", v.0, v.1)?],
            q: [c("convq1", h.0, h.1)?, c("convq2", v.0, v.1)?],
        })
    }

    fn forward(&self, h: &Tensor, x: &Tensor) -> Result<Tensor> {
        let mut h = h.clone();
        for i in 0..2 {
            let hx = Tensor::cat(&[&h, x], 1)?;
            let z = candle_nn::ops::sigmoid(&self.z[i].forward(&hx)?)?;
            let r = candle_nn::ops::sigmoid(&self.r[i].forward(&hx)?)?;
            let q = self.q[i]
                .forward(&Tensor::cat(&[&(&r * &h)?, x], 1)?)?
                .tanh()?;
            // (1 − z)·h + z·q
            h = ((1.0 - &z)? * &h)?.add(&(&z * &q)?)?;
        }
        Ok(h)
    }
}

/// `update.py::BasicUpdateBlock` (flow head, and the mask head whose output is scaled by 0.25).
#[derive(Debug, Clone)]
struct UpdateBlock {
    encoder: MotionEncoder,
    gru: SepConvGru,
    flow_head: (Conv, Conv),
    mask: (Conv, Conv),
}

impl UpdateBlock {
    fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        let win = 2 * cfg.corr_radius + 1;
        let cor_planes = cfg.corr_levels * win * win;
        let hd = cfg.hidden_dim;
        let fh = vb.pp("flow_head");
        let m = vb.pp("mask");
        Ok(Self {
            encoder: MotionEncoder::new(cor_planes, vb.pp("encoder"))?,
            gru: SepConvGru::new(hd, 128 + hd, vb.pp("gru"))?,
            flow_head: (
                Conv::square(hd, 256, 3, 1, fh.pp("conv1"))?,
                Conv::square(256, 2, 3, 1, fh.pp("conv2"))?,
            ),
            mask: (
                Conv::square(128, 256, 3, 1, m.pp("0"))?,
                Conv::square(256, 64 * 9, 1, 1, m.pp("2"))?,
            ),
        })
    }

    /// One update: (new hidden state, delta flow).
    fn step(
        &self,
        net: &Tensor,
        inp: &Tensor,
        corr: &Tensor,
        flow: &Tensor,
    ) -> Result<(Tensor, Tensor)> {
        let motion = self.encoder.forward(flow, corr)?;
        let x = Tensor::cat(&[inp, &motion], 1)?;
        let net = self.gru.forward(net, &x)?;
        let delta = self
            .flow_head
            .1
            .forward(&self.flow_head.0.forward(&net)?.maximum(0f32)?)?;
        Ok((net, delta))
    }

    /// `0.25 · mask(net)`: (B, 576, h, w).
    fn up_mask(&self, net: &Tensor) -> Result<Tensor> {
        self.mask
            .1
            .forward(&self.mask.0.forward(net)?.maximum(0f32)?)?
            * 0.25
    }
}

/// `corr.py::CorrBlock`: the all-pairs correlation pyramid of a batch of pairs.
#[derive(Debug, Clone)]
pub struct CorrPyramid {
    /// Level i: (B·h·w, 1, h_i, w_i).
    levels: Vec<Tensor>,
    radius: usize,
    batch: usize,
    h: usize,
    w: usize,
}

impl CorrPyramid {
    /// `fmap1`, `fmap2`: (B, C, h, w) → `corr[p1, p2] = Σ_c f1[c,p1]·f2[c,p2] / sqrt(C)`, then
    /// `num_levels − 1` 2×2 average poolings (floor).
    pub fn new(fmap1: &Tensor, fmap2: &Tensor, num_levels: usize, radius: usize) -> Result<Self> {
        let (b, c, h, w) = fmap1.dims4()?;
        let f1 = fmap1.reshape((b, c, h * w))?;
        let f2 = fmap2.reshape((b, c, h * w))?;
        let sqrt_dim = (c as f32).sqrt();
        let f1t = f1.transpose(1, 2)?.contiguous()?;
        let corr = if sqrt_dim.fract() == 0.0 && (sqrt_dim as u32).is_power_of_two() {
            // dividing by a power of two commutes exactly with the products and sums (C = 256:
            // ÷16), so scale the small operand instead of the (h·w)² volume: one volume fewer
            // at peak (4.2 GB at 1080p)
            let inv = Tensor::new(1.0 / sqrt_dim, fmap1.device())?;
            f1t.broadcast_mul(&inv)?.matmul(&f2)?
        } else {
            let d = Tensor::new(sqrt_dim, fmap1.device())?;
            f1t.matmul(&f2)?.broadcast_div(&d)?
        };
        let corr = corr.reshape((b * h * w, 1, h, w))?;
        let mut levels = vec![corr];
        for _ in 1..num_levels {
            let last = levels.last().expect("level 0 exists");
            levels.push(last.avg_pool2d(2)?);
        }
        Ok(Self {
            levels,
            radius,
            batch: b,
            h,
            w,
        })
    }

    /// `CorrBlock.__call__`: `coords` (B, 2, h, w) (x, y in level-0 pixels) → (B, L·(2r+1)², h, w).
    /// Channel `level·(2r+1)² + a·(2r+1) + b` samples `(x/2^level + a − r, y/2^level + b − r)`.
    pub fn lookup(&self, coords: &Tensor) -> Result<Tensor> {
        let (b, h, w, r) = (self.batch, self.h, self.w, self.radius);
        let win = 2 * r + 1;
        let dev = coords.device();
        let centroid = coords
            .permute((0, 2, 3, 1))?
            .reshape((b * h * w, 1, 1, 2))?;
        // delta[a, b] = (a − r, b − r) added to (x, y): the first window axis moves x
        let mut d = Vec::with_capacity(win * win * 2);
        for a in 0..win {
            for bb in 0..win {
                d.push(a as f32 - r as f32);
                d.push(bb as f32 - r as f32);
            }
        }
        let delta = Tensor::from_vec(d, (1, win, win, 2), dev)?;
        let mut out = Vec::with_capacity(self.levels.len());
        for (i, corr) in self.levels.iter().enumerate() {
            let (_, _, hi, wi) = corr.dims4()?;
            let scale = Tensor::new((1u32 << i) as f32, dev)?;
            let pts = centroid.broadcast_div(&scale)?.broadcast_add(&delta)?;
            // utils.bilinear_sampler: normalise with the level's size, then grid_sample
            let x = pts.narrow(D::Minus1, 0, 1)?;
            let y = pts.narrow(D::Minus1, 1, 1)?;
            let x = ((x * 2.0)?.broadcast_div(&Tensor::new((wi as f32) - 1.0, dev)?)? - 1.0)?;
            let y = ((y * 2.0)?.broadcast_div(&Tensor::new((hi as f32) - 1.0, dev)?)? - 1.0)?;
            let grid = Tensor::cat(&[x, y], D::Minus1)?;
            let s = grid_sample_bilinear(corr, &grid, GridPadding::Zeros, true)?;
            out.push(s.reshape((b, h, w, win * win))?);
        }
        Tensor::cat(&out, D::Minus1)?
            .permute((0, 3, 1, 2))?
            .contiguous()
    }
}

/// `utils.coords_grid`: (B, 2, h, w), channel 0 = column x, channel 1 = row y.
fn coords_grid(b: usize, h: usize, w: usize, dev: &candle_core::Device) -> Result<Tensor> {
    let xs = Tensor::arange(0u32, w as u32, dev)?
        .to_dtype(DType::F32)?
        .reshape((1, 1, 1, w))?
        .expand((b, 1, h, w))?;
    let ys = Tensor::arange(0u32, h as u32, dev)?
        .to_dtype(DType::F32)?
        .reshape((1, 1, h, 1))?
        .expand((b, 1, h, w))?;
    Tensor::cat(&[xs, ys], 1)?.contiguous()
}

/// `RAFT.upsample_flow`: convex combination of the 3×3 neighbours of `8·flow`.
/// `flow` (B, 2, h, w), `mask` (B, 576, h, w) → (B, 2, 8h, 8w).
pub fn upsample_flow(flow: &Tensor, mask: &Tensor) -> Result<Tensor> {
    let (b, _, h, w) = flow.dims4()?;
    let mask = mask.reshape((b, 1, 9, 64, h, w))?;
    let mask = candle_nn::ops::softmax(&mask, 2)?;
    // F.unfold(8·flow, [3,3], padding=1): neighbour k = 3·ki + kj is flow[y+ki−1, x+kj−1]
    let f8 = (flow * 8.0)?
        .pad_with_zeros(2, 1, 1)?
        .pad_with_zeros(3, 1, 1)?;
    let mut nb = Vec::with_capacity(9);
    for ki in 0..3 {
        for kj in 0..3 {
            nb.push(f8.narrow(2, ki, h)?.narrow(3, kj, w)?);
        }
    }
    let up = Tensor::stack(&nb, 2)?.reshape((b, 2, 9, 1, h, w))?;
    let up = mask.broadcast_mul(&up)?.sum(2)?; // (b, 2, 64, h, w)
    up.reshape((b, 2, 8, 8, h, w))?
        .permute((0, 1, 4, 2, 5, 3))?
        .reshape((b, 2, 8 * h, 8 * w))
}

/// RAFT (`raft.py::RAFT`, large variant).
#[derive(Debug, Clone)]
pub struct Model {
    fnet: BasicEncoder,
    cnet: BasicEncoder,
    update_block: UpdateBlock,
    cfg: Config,
}

/// The context of image1: (`net` = tanh(first hdim channels), `inp` = relu(the rest)).
#[derive(Debug, Clone)]
pub struct Context {
    pub net: Tensor,
    pub inp: Tensor,
}

impl Model {
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        let hc = cfg.hidden_dim + cfg.context_dim;
        Ok(Self {
            fnet: BasicEncoder::new(256, false, vb.pp("fnet"))?,
            cnet: BasicEncoder::new(hc, true, vb.pp("cnet"))?,
            update_block: UpdateBlock::new(cfg, vb.pp("update_block"))?,
            cfg: cfg.clone(),
        })
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// `2·(img/255) − 1`.
    fn normalize(images: &Tensor) -> Result<Tensor> {
        let d = Tensor::new(255f32, images.device())?;
        (images.broadcast_div(&d)? * 2.0)? - 1.0
    }

    fn check_input(images: &Tensor) -> Result<()> {
        let (_, c, hp, wp) = images.dims4()?;
        if c != 3 || hp % 8 != 0 || wp % 8 != 0 || hp < 64 || wp < 64 {
            candle_core::bail!(
                "RAFT expects (B, 3, Hp, Wp) with Hp, Wp multiples of 8 and at least 64 (the 4-level correlation pyramid), got {:?}",
                images.dims()
            );
        }
        Ok(())
    }

    /// Feature network on padded frames: (B, 3, Hp, Wp) f32 RGB 0..255 → (B, 256, Hp/8, Wp/8).
    /// Instance norm is per sample, so any batching gives the same features.
    pub fn features(&self, images: &Tensor) -> Result<Tensor> {
        Self::check_input(images)?;
        self.fnet.forward(&Self::normalize(images)?)
    }

    /// Context network on padded image1s: (B, 3, Hp, Wp) f32 0..255 → [`Context`].
    pub fn context(&self, images: &Tensor) -> Result<Context> {
        Self::check_input(images)?;
        let c = self.cnet.forward(&Self::normalize(images)?)?;
        let hd = self.cfg.hidden_dim;
        Ok(Context {
            net: c.narrow(1, 0, hd)?.tanh()?,
            inp: c.narrow(1, hd, self.cfg.context_dim)?.maximum(0f32)?,
        })
    }

    /// The update iterations for a batch of pairs: `fmap1`, `fmap2` (B, 256, h, w) and image1's
    /// context → (flow_low (B, 2, h, w), flow_up (B, 2, 8h, 8w)) of the last iteration, in
    /// pixels (x right, y down). Only the last iteration's mask is computed (the earlier
    /// upsampled flows are discarded by `test_mode`).
    pub fn flow_from_features(
        &self,
        fmap1: &Tensor,
        fmap2: &Tensor,
        ctx: &Context,
    ) -> Result<(Tensor, Tensor)> {
        let (b, _, h, w) = fmap1.dims4()?;
        let corr = CorrPyramid::new(fmap1, fmap2, self.cfg.corr_levels, self.cfg.corr_radius)?;
        let coords0 = coords_grid(b, h, w, fmap1.device())?;
        let mut coords1 = coords0.clone();
        let mut net = ctx.net.clone();
        for _ in 0..self.cfg.iters {
            let c = corr.lookup(&coords1)?;
            let flow = (&coords1 - &coords0)?;
            let (n, delta) = self.update_block.step(&net, &ctx.inp, &c, &flow)?;
            net = n;
            coords1 = (coords1 + delta)?;
        }
        let flow = (&coords1 - &coords0)?;
        let mask = self.update_block.up_mask(&net)?;
        let up = upsample_flow(&flow, &mask)?;
        Ok((flow, up))
    }

    /// `RAFT.forward(image1, image2, iters, test_mode=True)` on padded frames (B, 3, Hp, Wp),
    /// f32 RGB 0..255 → (flow_low, flow_up).
    pub fn forward(&self, image1: &Tensor, image2: &Tensor) -> Result<(Tensor, Tensor)> {
        let b = image1.dim(0)?;
        let f = self.features(&Tensor::cat(&[image1, image2], 0)?)?;
        let ctx = self.context(image1)?;
        self.flow_from_features(&f.narrow(0, 0, b)?, &f.narrow(0, b, b)?, &ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;
    use candle_nn::VarMap;

    #[test]
    fn pad_amounts_follow_input_padder() {
        assert_eq!(pad_amounts(320, 512), [0, 0, 0, 0]);
        assert_eq!(pad_amounts(270, 480), [0, 0, 1, 1]);
        assert_eq!(pad_amounts(130, 136), [0, 0, 3, 3]);
        assert_eq!(pad_amounts(131, 133), [1, 2, 2, 3]);
    }

    #[test]
    fn corr_bytes_of_1080p() {
        // h = 135, w = 240: level 0 is 32400² floats (≈ 4.2 GB), the pyramid ≈ 5.6 GB
        let b = Config::raft_things().corr_pyramid_bytes(1088, 1920);
        assert!(b > 5_500_000_000 && b < 5_700_000_000, "{b}");
    }

    #[test]
    fn upsample_of_constant_flow_is_constant_inside() {
        let dev = Device::Cpu;
        let flow = Tensor::ones((1, 2, 3, 4), DType::F32, &dev).unwrap();
        let mask = Tensor::zeros((1, 576, 3, 4), DType::F32, &dev).unwrap();
        let up = upsample_flow(&flow, &mask).unwrap();
        assert_eq!(up.dims(), &[1, 2, 24, 32]);
        let v: Vec<Vec<f32>> = up.get(0).unwrap().get(0).unwrap().to_vec2().unwrap();
        // interior: uniform weights 1/9 over nine neighbours of 8 → 8
        assert!((v[12][16] - 8.0).abs() < 1e-5);
        // a corner sees 4 of 9 neighbours (zero padding)
        assert!((v[0][0] - 8.0 * 4.0 / 9.0).abs() < 1e-5);
    }

    #[test]
    fn lookup_window_axis_order() {
        // one pair, 8×8 grid, corr[p1, p2] = x2 + 100·y2 for every p1 (an impulse-free ramp):
        // channel a·9+b of level 0 must read (x + a − 4, y + b − 4)
        let dev = Device::Cpu;
        let (h, w) = (8usize, 8usize);
        let ramp: Vec<f32> = (0..h * w)
            .map(|p| (p % w) as f32 + 100.0 * (p / w) as f32)
            .collect();
        let level0 = Tensor::from_vec(ramp, (1, 1, h, w), &dev)
            .unwrap()
            .repeat((h * w, 1, 1, 1))
            .unwrap();
        let mut levels = vec![level0];
        for _ in 1..4 {
            let l = levels.last().unwrap().avg_pool2d(2).unwrap();
            levels.push(l);
        }
        let pyr = CorrPyramid {
            levels,
            radius: 4,
            batch: 1,
            h,
            w,
        };
        let coords = coords_grid(1, h, w, &dev).unwrap();
        let out = pyr.lookup(&coords).unwrap();
        assert_eq!(out.dims(), &[1, 324, h, w]);
        let at = |ch: usize, y: usize, x: usize| -> f32 {
            out.get(0)
                .unwrap()
                .get(ch)
                .unwrap()
                .get(y)
                .unwrap()
                .get(x)
                .unwrap()
                .to_scalar()
                .unwrap()
        };
        // source pixel (x=3, y=2); a = 5 (dx = +1), b = 3 (dy = −1) → (4, 1) → 4 + 100
        assert!((at(5 * 9 + 3, 2, 3) - 104.0).abs() < 1e-3);
        // outside → 0: dx = −4 from x = 0
        assert_eq!(at(4, 5, 0), 0.0);
    }

    #[test]
    fn forward_shapes_and_batch_invariance() {
        let dev = Device::Cpu;
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &dev);
        let m = Model::new(&Config::raft_things(), vb).unwrap();
        let mut cfg = Config::raft_things();
        cfg.iters = 2;
        let m = Model { cfg, ..m };
        let a = (Tensor::rand(0f32, 255., (2, 3, 128, 136), &dev).unwrap())
            .round()
            .unwrap();
        let b = (Tensor::rand(0f32, 255., (2, 3, 128, 136), &dev).unwrap())
            .round()
            .unwrap();
        let (low, up) = m.forward(&a, &b).unwrap();
        assert_eq!(low.dims(), &[2, 2, 16, 17]);
        assert_eq!(up.dims(), &[2, 2, 128, 136]);
        let (_, up1) = m
            .forward(&a.narrow(0, 1, 1).unwrap(), &b.narrow(0, 1, 1).unwrap())
            .unwrap();
        let d: f32 = (up.narrow(0, 1, 1).unwrap() - up1)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar()
            .unwrap();
        assert!(d < 1e-4, "{d}");
        assert!(m.features(&a.narrow(2, 0, 60).unwrap()).is_err());
    }
}
