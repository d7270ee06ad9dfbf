//! AMT-S (All-pairs Multi-field Transforms, small), the frame interpolator of VBench's
//! `motion_smoothness`.
//!
//! Ports `vbench/third_party/amt/networks/AMT-S.py::Model` as `MotionSmoothness.load_model`
//! builds it from `cfgs/AMT-S.yaml` (`corr_radius=3, corr_lvls=4, num_flows=3`, defaults
//! `channels=[20,32,44,56]`, `skip_channels=20`), with its blocks from
//! `networks/blocks/{feat_enc,ifrnet,raft,multi_flow}.py` and `utils/flow_utils.py::warp`.
//! Spec: vbench-spec 20-motion.md §5 (network), §6 (checkpoint), §8 (ops).
//!
//! Checkpoint: `amt-s.pth`, `{"state_dict": {...}}`; the VarBuilder must be opened on the nested
//! `state_dict` (no `module.` prefix). Key layout: `feat_encoder.*`, `encoder.pyramid{1..4}.*`,
//! `decoder{4,3,2,1}.convblock.{0,1,2}.*`, `update{4,3,2}.*`, `comb_block.{0,1,2}.*`
//! (213 tensors, 2 990 543 parameters; no buffers).
//!
//! Inputs are the padded frames (sides multiples of 16, at least 128 so that the coarsest
//! correlation level is wider than one pixel) as `(1, 3, Hp, Wp)` f32 in `[0, 1]`.

use candle_core::{DType, Module, Tensor};
use candle_nn::VarBuilder;

use crate::nn::conv::Conv2d;

use crate::nn::grid_sample::{grid_sample_bilinear, GridPadding};

/// AMT-S hyper-parameters. The first five are `Model.__init__` arguments; the rest are
/// constants written into `AMT-S.py` (`SmallEncoder(output_dim=84)`, `_get_updateblock`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Config {
    pub corr_radius: usize,
    pub corr_lvls: usize,
    pub num_flows: usize,
    pub channels: [usize; 4],
    pub skip_channels: usize,
    /// `SmallEncoder(output_dim=84)`: correlation feature width.
    pub feat_dim: usize,
    /// SmallUpdateBlock `hidden_dim`, `flow_dim`, `corr_dim`, `fc_dim`.
    pub hidden_dim: usize,
    pub flow_dim: usize,
    pub corr_dim: usize,
    pub fc_dim: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self::amt_s()
    }
}

impl Config {
    /// `cfgs/AMT-S.yaml` (the values VBench uses).
    pub fn amt_s() -> Self {
        Self {
            corr_radius: 3,
            corr_lvls: 4,
            num_flows: 3,
            channels: [20, 32, 44, 56],
            skip_channels: 20,
            feat_dim: 84,
            hidden_dim: 76,
            flow_dim: 20,
            corr_dim: 64,
            fc_dim: 68,
        }
    }
}

fn conv(
    cin: usize,
    cout: usize,
    k: usize,
    stride: usize,
    padding: usize,
    vb: VarBuilder,
) -> candle_core::Result<Conv2d> {
    // banded im2col + matmul (crate::nn::conv): faster than candle's CPU conv2d, bounded memory;
    // the weights are detached (`Var`s would make candle keep every activation for backprop)
    let weight = vb.get((cout, cin, k, k), "weight")?;
    let bias = vb.get(cout, "bias")?;
    Conv2d::new(&weight, Some(&bias), stride, (padding, padding))
}

/// `nn.PReLU(C)`: `x` where `x > 0`, else `w_c · x`.
#[derive(Debug, Clone)]
struct PRelu {
    weight: Tensor,
}

impl PRelu {
    fn new(c: usize, vb: VarBuilder) -> candle_core::Result<Self> {
        let weight = vb.get(c, "weight")?.detach().reshape((1, c, 1, 1))?;
        Ok(Self { weight })
    }
}

impl Module for PRelu {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        x.relu()? + x.minimum(0f32)?.broadcast_mul(&self.weight)?
    }
}

/// `nn.LeakyReLU(0.1)`.
fn lrelu(x: &Tensor) -> candle_core::Result<Tensor> {
    x.relu()? + x.minimum(0f32)?.affine(0.1, 0.0)?
}

/// `nn.InstanceNorm2d(C)` (no affine, eps 1e-5), as ATen computes it through `batch_norm`:
/// per-(sample, channel) mean and biased variance accumulated in f64, then
/// `x · invstd + (−mean · invstd)` in f32.
pub fn instance_norm(x: &Tensor) -> candle_core::Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
    let x64 = x.to_dtype(DType::F64)?.reshape((n, c, h * w))?;
    let mean = x64.mean_keepdim(2)?;
    let var = x64.broadcast_sub(&mean)?.sqr()?.mean_keepdim(2)?;
    let invstd = (var + 1e-5)?.sqrt()?.recip()?;
    let alpha = invstd.to_dtype(x.dtype())?;
    let beta = mean.to_dtype(x.dtype())?.mul(&alpha)?.neg()?;
    x.reshape((n, c, h * w))?
        .broadcast_mul(&alpha)?
        .broadcast_add(&beta)?
        .reshape((n, c, h, w))
}

/// `F.interpolate(x, scale_factor=s, mode='bilinear', align_corners=False)`.
pub fn resize(x: &Tensor, s: f64) -> candle_core::Result<Tensor> {
    x.upsample_bilinear2d_with_scale(s, s, false)
}

/// `torch.linspace(-1, 1, n)` in f32 (ATen's two-sided formula).
fn linspace_m1_1(n: usize) -> Vec<f32> {
    if n == 1 {
        return vec![-1.0];
    }
    let step = 2.0f32 / (n - 1) as f32;
    let half = n / 2;
    (0..n)
        .map(|i| {
            if i < half {
                -1.0 + step * i as f32
            } else {
                1.0 - step * (n - 1 - i) as f32
            }
        })
        .collect()
}

/// `utils/flow_utils.py::warp`: backward-warp `img (N,C,H,W)` by `flow (N,2,H,W)` (pixels,
/// x then y) with bilinear `grid_sample`, border padding, align_corners=True.
pub fn warp(img: &Tensor, flow: &Tensor) -> candle_core::Result<Tensor> {
    let (b, _, h, w) = flow.dims4()?;
    let dev = flow.device();
    let dt = img.dtype();
    let xx = Tensor::from_vec(linspace_m1_1(w), (1, 1, 1, w), dev)?.to_dtype(dt)?;
    let yy = Tensor::from_vec(linspace_m1_1(h), (1, 1, h, 1), dev)?.to_dtype(dt)?;
    let dx = Tensor::new(&[((w as f64 - 1.0) / 2.0) as f32], dev)?
        .to_dtype(dt)?
        .reshape((1, 1, 1, 1))?;
    let dy = Tensor::new(&[((h as f64 - 1.0) / 2.0) as f32], dev)?
        .to_dtype(dt)?
        .reshape((1, 1, 1, 1))?;
    let fx = flow.narrow(1, 0, 1)?.broadcast_div(&dx)?;
    let fy = flow.narrow(1, 1, 1)?.broadcast_div(&dy)?;
    let gx = fx.broadcast_add(&xx)?;
    let gy = fy.broadcast_add(&yy)?;
    let grid = Tensor::cat(&[gx, gy], 1)?.permute((0, 2, 3, 1))?;
    debug_assert_eq!(grid.dim(0)?, b);
    grid_sample_bilinear(img, &grid, GridPadding::Border, true)
}

/// `coords_grid(1, h, w)`: `(1, 2, h, w)`, channel 0 = x (column), channel 1 = y (row).
fn coords_grid(h: usize, w: usize, dev: &candle_core::Device) -> candle_core::Result<Tensor> {
    let xs = Tensor::arange(0u32, w as u32, dev)?
        .to_dtype(DType::F32)?
        .reshape((1, 1, 1, w))?
        .broadcast_as((1, 1, h, w))?;
    let ys = Tensor::arange(0u32, h as u32, dev)?
        .to_dtype(DType::F32)?
        .reshape((1, 1, h, 1))?
        .broadcast_as((1, 1, h, w))?;
    Tensor::cat(&[xs, ys], 1)
}

// ---------------------------------------------------------------------------------------------
// feat_encoder: SmallEncoder(output_dim=84, norm_fn='instance')

#[derive(Debug, Clone)]
struct Bottleneck {
    conv1: Conv2d,
    conv2: Conv2d,
    conv3: Conv2d,
    downsample: Option<Conv2d>,
}

impl Bottleneck {
    fn new(cin: usize, planes: usize, stride: usize, vb: VarBuilder) -> candle_core::Result<Self> {
        let m = planes / 4;
        Ok(Self {
            conv1: conv(cin, m, 1, 1, 0, vb.pp("conv1"))?,
            conv2: conv(m, m, 3, stride, 1, vb.pp("conv2"))?,
            conv3: conv(m, planes, 1, 1, 0, vb.pp("conv3"))?,
            downsample: if stride != 1 {
                Some(conv(cin, planes, 1, stride, 0, vb.pp("downsample.0"))?)
            } else {
                None
            },
        })
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let y = instance_norm(&self.conv1.forward(x)?)?.relu()?;
        let y = instance_norm(&self.conv2.forward(&y)?)?.relu()?;
        let y = instance_norm(&self.conv3.forward(&y)?)?.relu()?;
        let x = match &self.downsample {
            Some(d) => instance_norm(&d.forward(x)?)?,
            None => x.clone(),
        };
        (x + y)?.relu()
    }
}

#[derive(Debug, Clone)]
struct SmallEncoder {
    conv1: Conv2d,
    layers: Vec<Bottleneck>,
    conv2: Conv2d,
}

impl SmallEncoder {
    fn new(out: usize, vb: VarBuilder) -> candle_core::Result<Self> {
        let mut layers = Vec::new();
        let mut cin = 32;
        for (i, (dim, stride)) in [(32, 1), (64, 2), (96, 2)].into_iter().enumerate() {
            let l = vb.pp(format!("layer{}", i + 1));
            layers.push(Bottleneck::new(cin, dim, stride, l.pp("0"))?);
            layers.push(Bottleneck::new(dim, dim, 1, l.pp("1"))?);
            cin = dim;
        }
        Ok(Self {
            conv1: conv(3, 32, 7, 2, 3, vb.pp("conv1"))?,
            layers,
            conv2: conv(96, out, 1, 1, 0, vb.pp("conv2"))?,
        })
    }

    /// `(N, 3, Hp, Wp)` → `(N, 84, Hp/8, Wp/8)`; instance norm is per sample.
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let mut x = instance_norm(&self.conv1.forward(x)?)?.relu()?;
        for l in &self.layers {
            x = l.forward(&x)?;
        }
        self.conv2.forward(&x)
    }
}

// ---------------------------------------------------------------------------------------------
// ifrnet blocks

/// `convrelu`: Conv2d (`.0`) then PReLU (`.1`).
#[derive(Debug, Clone)]
struct ConvRelu {
    conv: Conv2d,
    act: PRelu,
}

impl ConvRelu {
    fn new(cin: usize, cout: usize, stride: usize, vb: VarBuilder) -> candle_core::Result<Self> {
        Ok(Self {
            conv: conv(cin, cout, 3, stride, 1, vb.pp("0"))?,
            act: PRelu::new(cout, vb.pp("1"))?,
        })
    }
}

impl Module for ConvRelu {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.act.forward(&self.conv.forward(x)?)
    }
}

/// `ifrnet.py::ResBlock(C, side)`: the side branch works on the **last** `side` channels.
#[derive(Debug, Clone)]
struct ResBlock {
    side: usize,
    conv1: ConvRelu,
    conv2: ConvRelu,
    conv3: ConvRelu,
    conv4: ConvRelu,
    conv5: Conv2d,
    prelu: PRelu,
}

impl ResBlock {
    fn new(c: usize, side: usize, vb: VarBuilder) -> candle_core::Result<Self> {
        Ok(Self {
            side,
            conv1: ConvRelu::new(c, c, 1, vb.pp("conv1"))?,
            conv2: ConvRelu::new(side, side, 1, vb.pp("conv2"))?,
            conv3: ConvRelu::new(c, c, 1, vb.pp("conv3"))?,
            conv4: ConvRelu::new(side, side, 1, vb.pp("conv4"))?,
            conv5: conv(c, c, 3, 1, 1, vb.pp("conv5"))?,
            prelu: PRelu::new(c, vb.pp("prelu"))?,
        })
    }

    fn side_step(&self, out: &Tensor, side_conv: &ConvRelu) -> candle_core::Result<Tensor> {
        let c = out.dim(1)?;
        let res = out.narrow(1, 0, c - self.side)?;
        let side = side_conv.forward(&out.narrow(1, c - self.side, self.side)?)?;
        Tensor::cat(&[res, side], 1)
    }
}

impl Module for ResBlock {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let out = self.conv1.forward(x)?;
        let out = self.conv3.forward(&self.side_step(&out, &self.conv2)?)?;
        let out = self.conv5.forward(&self.side_step(&out, &self.conv4)?)?;
        self.prelu.forward(&(x + out)?)
    }
}

/// `nn.ConvTranspose2d(cin, cout, 4, stride 2, padding 1)` computed with candle's conv2d
/// (candle 0.11's CPU `conv_transpose2d` is a direct loop, ~10× slower here) by sub-pixel
/// decomposition: output pixel `(2y + a, 2x + b)` only meets kernel rows `[3, 1]` (a = 0, input
/// rows y−1, y) or `[2, 0]` (a = 1, rows y, y+1), likewise for columns. One 2×2 convolution
/// over the 1-padded input with the four phase kernels stacked as output channels, then the
/// phases are interleaved. Same products and sums as PyTorch (summation order aside).
#[derive(Debug, Clone)]
struct UpConv {
    cout: usize,
    /// `[4·cout, cin, 2, 2]`, phase-major (a, b) = (0,0), (0,1), (1,0), (1,1).
    kernel: Conv2d,
    bias: Tensor,
}

impl UpConv {
    fn new(cin: usize, cout: usize, vb: VarBuilder) -> candle_core::Result<Self> {
        let w = vb.get((cin, cout, 4, 4), "weight")?.detach();
        let bias = vb.get(cout, "bias")?.detach().reshape((1, cout, 1, 1))?;
        let wt = w.transpose(0, 1)?.contiguous()?; // [cout, cin, 4, 4]
        let taps = |a: usize| Tensor::new(if a == 0 { &[3u32, 1] } else { &[2u32, 0] }, w.device());
        let mut phases = Vec::with_capacity(4);
        for a in 0..2 {
            for b in 0..2 {
                phases.push(
                    wt.index_select(&taps(a)?, 2)?
                        .index_select(&taps(b)?, 3)?
                        .contiguous()?,
                );
            }
        }
        Ok(Self {
            cout,
            kernel: Conv2d::new(&Tensor::cat(&phases, 0)?, None, 1, (0, 0))?,
            bias,
        })
    }
}

impl Module for UpConv {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (n, _, h, w) = x.dims4()?;
        let c = self.cout;
        let xp = x.pad_with_zeros(3, 1, 1)?.pad_with_zeros(2, 1, 1)?;
        let y = self.kernel.forward(&xp)?; // (n, 4c, h+1, w+1)
        let phase = |a: usize, b: usize| -> candle_core::Result<Tensor> {
            y.narrow(1, (2 * a + b) * c, c)?
                .narrow(2, a, h)?
                .narrow(3, b, w)
        };
        let row = |a: usize| -> candle_core::Result<Tensor> {
            Tensor::stack(&[phase(a, 0)?, phase(a, 1)?], 4)?.reshape((n, c, h, 2 * w))
        };
        Tensor::stack(&[row(0)?, row(1)?], 3)?
            .reshape((n, c, 2 * h, 2 * w))?
            .broadcast_add(&self.bias)
    }
}

/// `convblock = Sequential(convrelu(cin, c), ResBlock(c, skip), ConvTranspose2d(c, cout, 4, 2, 1))`,
/// shared by InitDecoder, IntermediateDecoder and MultiFlowDecoder.
#[derive(Debug, Clone)]
struct ConvBlock {
    head: ConvRelu,
    res: ResBlock,
    up: UpConv,
}

impl ConvBlock {
    fn new(
        cin: usize,
        c: usize,
        cout: usize,
        skip: usize,
        vb: VarBuilder,
    ) -> candle_core::Result<Self> {
        let vb = vb.pp("convblock");
        Ok(Self {
            head: ConvRelu::new(cin, c, 1, vb.pp("0"))?,
            res: ResBlock::new(c, skip, vb.pp("1"))?,
            up: UpConv::new(c, cout, vb.pp("2"))?,
        })
    }
}

impl Module for ConvBlock {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.up.forward(&self.res.forward(&self.head.forward(x)?)?)
    }
}

/// `ifrnet.py::Encoder(channels)`: four stride-2 stages, each `convrelu(s2)` + `convrelu`.
#[derive(Debug, Clone)]
struct Encoder {
    pyramid: Vec<(ConvRelu, ConvRelu)>,
}

impl Encoder {
    fn new(channels: &[usize; 4], vb: VarBuilder) -> candle_core::Result<Self> {
        let mut prev = 3;
        let mut pyramid = Vec::new();
        for (i, &c) in channels.iter().enumerate() {
            let p = vb.pp(format!("pyramid{}", i + 1));
            pyramid.push((
                ConvRelu::new(prev, c, 2, p.pp("0"))?,
                ConvRelu::new(c, c, 1, p.pp("1"))?,
            ));
            prev = c;
        }
        Ok(Self { pyramid })
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Vec<Tensor>> {
        let mut out = Vec::with_capacity(4);
        let mut x = x.clone();
        for (a, b) in &self.pyramid {
            x = b.forward(&a.forward(&x)?)?;
            out.push(x.clone());
        }
        Ok(out)
    }
}

// ---------------------------------------------------------------------------------------------
// raft blocks

/// `raft.py::SmallUpdateBlock`.
#[derive(Debug, Clone)]
struct SmallUpdateBlock {
    scale_factor: Option<f64>,
    convc1: Conv2d,
    convf1: Conv2d,
    convf2: Conv2d,
    conv: Conv2d,
    gru0: Conv2d,
    gru2: Conv2d,
    feat0: Conv2d,
    feat2: Conv2d,
    flow0: Conv2d,
    flow2: Conv2d,
}

impl SmallUpdateBlock {
    fn new(
        cfg: &Config,
        cdim: usize,
        scale_factor: Option<f64>,
        vb: VarBuilder,
    ) -> candle_core::Result<Self> {
        let r = 2 * cfg.corr_radius + 1;
        let cor_planes = cfg.corr_lvls * r * r;
        let (hd, fd) = (cfg.hidden_dim, cfg.flow_dim);
        Ok(Self {
            scale_factor,
            convc1: conv(2 * cor_planes, cfg.corr_dim, 1, 1, 0, vb.pp("convc1"))?,
            convf1: conv(4, fd * 2, 7, 1, 3, vb.pp("convf1"))?,
            convf2: conv(fd * 2, fd, 3, 1, 1, vb.pp("convf2"))?,
            conv: conv(cfg.corr_dim + fd, cfg.fc_dim, 3, 1, 1, vb.pp("conv"))?,
            gru0: conv(cfg.fc_dim + 4 + cdim, hd, 3, 1, 1, vb.pp("gru.0"))?,
            gru2: conv(hd, hd, 3, 1, 1, vb.pp("gru.2"))?,
            feat0: conv(hd, hd, 3, 1, 1, vb.pp("feat_head.0"))?,
            feat2: conv(hd, cdim, 3, 1, 1, vb.pp("feat_head.2"))?,
            flow0: conv(hd, hd, 3, 1, 1, vb.pp("flow_head.0"))?,
            flow2: conv(hd, 4, 3, 1, 1, vb.pp("flow_head.2"))?,
        })
    }

    /// → (delta_net, delta_flow)
    fn forward(
        &self,
        net: &Tensor,
        flow: &Tensor,
        corr: &Tensor,
    ) -> candle_core::Result<(Tensor, Tensor)> {
        let net = match self.scale_factor {
            Some(s) => resize(net, 1.0 / s)?,
            None => net.clone(),
        };
        let cor = lrelu(&self.convc1.forward(corr)?)?;
        let flo = lrelu(&self.convf1.forward(flow)?)?;
        let flo = lrelu(&self.convf2.forward(&flo)?)?;
        let inp = lrelu(&self.conv.forward(&Tensor::cat(&[cor, flo], 1)?)?)?;
        let inp = Tensor::cat(&[&inp, flow, &net], 1)?;
        let out = self.gru2.forward(&lrelu(&self.gru0.forward(&inp)?)?)?;
        let delta_net = self.feat2.forward(&lrelu(&self.feat0.forward(&out)?)?)?;
        let delta_flow = self.flow2.forward(&lrelu(&self.flow0.forward(&out)?)?)?;
        match self.scale_factor {
            Some(s) => Ok((
                resize(&delta_net, s)?,
                resize(&delta_flow, s)?.affine(s, 0.0)?,
            )),
            None => Ok((delta_net, delta_flow)),
        }
    }
}

/// `raft.py::BidirCorrBlock`: all-pairs correlation of two feature maps, its transpose, and
/// their average-pooled pyramids; looked up with a (2r+1)² window per level.
pub struct BidirCorr {
    radius: usize,
    pyramid: Vec<Tensor>,
    pyramid_t: Vec<Tensor>,
}

impl BidirCorr {
    /// `fmap0, fmap1`: `(1, D, h, w)`.
    pub fn new(
        fmap0: &Tensor,
        fmap1: &Tensor,
        levels: usize,
        radius: usize,
    ) -> candle_core::Result<Self> {
        let (b, d, h, w) = fmap0.dims4()?;
        if b != 1 {
            candle_core::bail!("BidirCorr: batch {b} (only 1 is supported)");
        }
        let f0 = fmap0.reshape((d, h * w))?.t()?;
        let f1 = fmap1.reshape((d, h * w))?;
        let denom = Tensor::new(&[(d as f32).sqrt()], fmap0.device())?
            .to_dtype(fmap0.dtype())?
            .reshape((1, 1))?;
        let corr = f0.matmul(&f1)?.broadcast_div(&denom)?; // (p0, p1)
        let corr_t = corr.t()?.contiguous()?;
        let mut pyramid = vec![corr.reshape((h * w, 1, h, w))?];
        let mut pyramid_t = vec![corr_t.reshape((h * w, 1, h, w))?];
        for i in 1..levels {
            let (a, bt) = (&pyramid[i - 1], &pyramid_t[i - 1]);
            let (na, nb) = (a.avg_pool2d(2)?, bt.avg_pool2d(2)?);
            pyramid.push(na);
            pyramid_t.push(nb);
        }
        Ok(Self {
            radius,
            pyramid,
            pyramid_t,
        })
    }

    fn lookup_one(
        level: &Tensor,
        coords: &Tensor,
        i: usize,
        r: usize,
    ) -> candle_core::Result<Tensor> {
        // coords (P, 1, 1, 2) pixel units of level 0
        let (p, _, hl, wl) = level.dims4()?;
        let dev = coords.device();
        let k = 2 * r + 1;
        // delta[a, b] = (a − r, b − r): the first grid axis moves x, the second y (spec §9.1)
        let mut delta = Vec::with_capacity(k * k * 2);
        for a in 0..k {
            for b in 0..k {
                delta.push(a as f32 - r as f32);
                delta.push(b as f32 - r as f32);
            }
        }
        let delta = Tensor::from_vec(delta, (1, k, k, 2), dev)?.to_dtype(coords.dtype())?;
        let centroid = coords.affine(1.0 / (1u64 << i) as f64, 0.0)?;
        let pts = centroid.broadcast_add(&delta)?; // (P, k, k, 2)
                                                   // bilinear_sampler: 2·x/(W−1) − 1
        let x = pts.narrow(3, 0, 1)?.affine(2.0, 0.0)?;
        let y = pts.narrow(3, 1, 1)?.affine(2.0, 0.0)?;
        let wd = Tensor::new(&[(wl as f32 - 1.0)], dev)?
            .to_dtype(coords.dtype())?
            .reshape((1, 1, 1, 1))?;
        let hd = Tensor::new(&[(hl as f32 - 1.0)], dev)?
            .to_dtype(coords.dtype())?
            .reshape((1, 1, 1, 1))?;
        let gx = x.broadcast_div(&wd)?.affine(1.0, -1.0)?;
        let gy = y.broadcast_div(&hd)?.affine(1.0, -1.0)?;
        let grid = Tensor::cat(&[gx, gy], 3)?;
        let out = grid_sample_bilinear(level, &grid, GridPadding::Zeros, true)?; // (P,1,k,k)
        out.reshape((p, k * k))
    }

    /// `__call__(coords0, coords1)`: `(1, 2, h, w)` each → two `(1, L·(2r+1)², h, w)`.
    pub fn lookup(
        &self,
        coords0: &Tensor,
        coords1: &Tensor,
    ) -> candle_core::Result<(Tensor, Tensor)> {
        let (_, _, h, w) = coords0.dims4()?;
        let c0 = coords0.permute((0, 2, 3, 1))?.reshape((h * w, 1, 1, 2))?;
        let c1 = coords1.permute((0, 2, 3, 1))?.reshape((h * w, 1, 1, 2))?;
        let mut out = Vec::new();
        let mut out_t = Vec::new();
        for i in 0..self.pyramid.len() {
            out.push(Self::lookup_one(&self.pyramid[i], &c0, i, self.radius)?);
            out_t.push(Self::lookup_one(&self.pyramid_t[i], &c1, i, self.radius)?);
        }
        let fin = |v: Vec<Tensor>| -> candle_core::Result<Tensor> {
            let t = Tensor::cat(&v, 1)?; // (P, L·k²)
            let c = t.dim(1)?;
            t.t()?.reshape((1, c, h, w))?.contiguous()
        };
        Ok((fin(out)?, fin(out_t)?))
    }
}

// ---------------------------------------------------------------------------------------------

/// What one interpolation returns: the frame and the flows VBench's training mode would return.
#[derive(Debug, Clone)]
pub struct Interpolation {
    /// `(1, 3, Hp, Wp)` in `[0, 1]` (clamped).
    pub imgt_pred: Tensor,
    /// `[up_flow0_1 (1, 2·num_flows, Hp, Wp), up_flow0_2 (Hp/2), up_flow0_3 (Hp/4), up_flow0_4 (Hp/8)]`:
    /// flows from the middle frame to frame 0, pixels of their own resolution, (x, y) pairs.
    pub flow0: Vec<Tensor>,
    /// The same towards frame 1.
    pub flow1: Vec<Tensor>,
}

pub struct Model {
    cfg: Config,
    feat_encoder: SmallEncoder,
    encoder: Encoder,
    decoder4: ConvBlock,
    decoder3: ConvBlock,
    decoder2: ConvBlock,
    decoder1: ConvBlock,
    update4: SmallUpdateBlock,
    update3: SmallUpdateBlock,
    update2: SmallUpdateBlock,
    comb0: Conv2d,
    comb1: PRelu,
    comb2: Conv2d,
}

impl Model {
    pub fn new(cfg: &Config, vb: VarBuilder) -> candle_core::Result<Self> {
        let [c1, c2, c3, c4] = cfg.channels;
        let skip = cfg.skip_channels;
        let nf = cfg.num_flows;
        Ok(Self {
            cfg: cfg.clone(),
            feat_encoder: SmallEncoder::new(cfg.feat_dim, vb.pp("feat_encoder"))?,
            encoder: Encoder::new(&cfg.channels, vb.pp("encoder"))?,
            // InitDecoder(in=c4, out=c3): convrelu(2·c4+1 → 2·c4), ConvT → c3 + 4
            decoder4: ConvBlock::new(2 * c4 + 1, 2 * c4, c3 + 4, skip, vb.pp("decoder4"))?,
            // IntermediateDecoder(in, out): convrelu(3·in+4 → 3·in), ConvT → out + 4
            decoder3: ConvBlock::new(3 * c3 + 4, 3 * c3, c2 + 4, skip, vb.pp("decoder3"))?,
            decoder2: ConvBlock::new(3 * c2 + 4, 3 * c2, c1 + 4, skip, vb.pp("decoder2"))?,
            // MultiFlowDecoder(c1): ConvT → 8·num_flows
            decoder1: ConvBlock::new(3 * c1 + 4, 3 * c1, 8 * nf, skip, vb.pp("decoder1"))?,
            update4: SmallUpdateBlock::new(cfg, c3, None, vb.pp("update4"))?,
            update3: SmallUpdateBlock::new(cfg, c2, Some(2.0), vb.pp("update3"))?,
            update2: SmallUpdateBlock::new(cfg, c1, Some(4.0), vb.pp("update2"))?,
            comb0: conv(3 * nf, 6 * nf, 3, 1, 1, vb.pp("comb_block.0"))?,
            comb1: PRelu::new(6 * nf, vb.pp("comb_block.1"))?,
            comb2: conv(6 * nf, 3, 3, 1, 1, vb.pp("comb_block.2"))?,
        })
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// `_corr_scale_lookup`: flows at 1/8 resolution, both correlation lookups.
    fn corr_scale_lookup(
        &self,
        corr: &BidirCorr,
        coord: &Tensor,
        flow0: &Tensor,
        flow1: &Tensor,
        embt: f64,
        downsample: usize,
    ) -> candle_core::Result<(Tensor, Tensor)> {
        let t1_scale = (1.0 / embt as f32) as f64;
        let t0_scale = (1.0 / (1.0 - embt as f32)) as f64;
        let (flow0, flow1) = if downsample != 1 {
            let inv = 1.0 / downsample as f64;
            (
                resize(flow0, inv)?.affine(inv, 0.0)?,
                resize(flow1, inv)?.affine(inv, 0.0)?,
            )
        } else {
            (flow0.clone(), flow1.clone())
        };
        let (c0, c1) = corr.lookup(
            &coord.broadcast_add(&flow1.affine(t1_scale, 0.0)?)?,
            &coord.broadcast_add(&flow0.affine(t0_scale, 0.0)?)?,
        )?;
        Ok((Tensor::cat(&[c0, c1], 1)?, Tensor::cat(&[flow0, flow1], 1)?))
    }

    /// IntermediateDecoder / MultiFlowDecoder input: `cat[ft, warp(f0, fl0), warp(f1, fl1), fl0, fl1]`.
    fn decoder_input(
        ft: &Tensor,
        f0: &Tensor,
        f1: &Tensor,
        fl0: &Tensor,
        fl1: &Tensor,
    ) -> candle_core::Result<Tensor> {
        Tensor::cat(&[ft, &warp(f0, fl0)?, &warp(f1, fl1)?, fl0, fl1], 1)
    }

    /// The frame at time `embt` between `img0` and `img1` (`(1, 3, Hp, Wp)` f32 in `[0, 1]`,
    /// padded to multiples of 16 and at least 128 per side; VBench: `embt = 0.5`,
    /// `scale_factor = 1.0`).
    pub fn forward(
        &self,
        img0: &Tensor,
        img1: &Tensor,
        embt: f64,
        scale_factor: f64,
    ) -> candle_core::Result<Interpolation> {
        let nf = self.cfg.num_flows;
        // mean over C, then H (of the two frames stacked), then W
        let mean = Tensor::cat(&[img0, img1], 2)?
            .mean_keepdim(1)?
            .mean_keepdim(2)?
            .mean_keepdim(3)?;
        let img0 = img0.broadcast_sub(&mean)?;
        let img1 = img1.broadcast_sub(&mean)?;
        let (img0_, img1_) = if scale_factor != 1.0 {
            (resize(&img0, scale_factor)?, resize(&img1, scale_factor)?)
        } else {
            (img0.clone(), img1.clone())
        };
        let (_, _, h, w) = img0_.dims4()?;
        let coord = coords_grid(h / 8, w / 8, img0.device())?;

        let fmaps = self
            .feat_encoder
            .forward(&Tensor::cat(&[&img0_, &img1_], 0)?)?;
        let corr = BidirCorr::new(
            &fmaps.narrow(0, 0, 1)?,
            &fmaps.narrow(0, 1, 1)?,
            self.cfg.corr_lvls,
            self.cfg.corr_radius,
        )?;
        drop(fmaps);
        let f0 = self.encoder.forward(&img0_)?;
        let f1 = self.encoder.forward(&img1_)?;

        // decoder4 (InitDecoder)
        let (_, _, h16, w16) = f0[3].dims4()?;
        let emb =
            Tensor::full(embt as f32, (1, 1, h16, w16), img0.device())?.to_dtype(img0.dtype())?;
        let out = self
            .decoder4
            .forward(&Tensor::cat(&[&f0[3], &f1[3], &emb], 1)?)?;
        let mut up_flow0_4 = out.narrow(1, 0, 2)?;
        let mut up_flow1_4 = out.narrow(1, 2, 2)?;
        let c = out.dim(1)?;
        let mut ft3 = out.narrow(1, 4, c - 4)?;
        let (corr4, flow4) =
            self.corr_scale_lookup(&corr, &coord, &up_flow0_4, &up_flow1_4, embt, 1)?;
        let (dft, dfl) = self.update4.forward(&ft3, &flow4, &corr4)?;
        up_flow0_4 = (up_flow0_4 + dfl.narrow(1, 0, 2)?)?;
        up_flow1_4 = (up_flow1_4 + dfl.narrow(1, 2, 2)?)?;
        ft3 = (ft3 + dft)?;

        // decoder3
        let (mut up_flow0_3, mut up_flow1_3, mut ft2) = self.intermediate(
            &self.decoder3,
            &ft3,
            &f0[2],
            &f1[2],
            &up_flow0_4,
            &up_flow1_4,
        )?;
        let (corr3, flow3) =
            self.corr_scale_lookup(&corr, &coord, &up_flow0_3, &up_flow1_3, embt, 2)?;
        let (dft, dfl) = self.update3.forward(&ft2, &flow3, &corr3)?;
        up_flow0_3 = (up_flow0_3 + dfl.narrow(1, 0, 2)?)?;
        up_flow1_3 = (up_flow1_3 + dfl.narrow(1, 2, 2)?)?;
        ft2 = (ft2 + dft)?;

        // decoder2
        let (mut up_flow0_2, mut up_flow1_2, mut ft1) = self.intermediate(
            &self.decoder2,
            &ft2,
            &f0[1],
            &f1[1],
            &up_flow0_3,
            &up_flow1_3,
        )?;
        let (corr2, flow2) =
            self.corr_scale_lookup(&corr, &coord, &up_flow0_2, &up_flow1_2, embt, 4)?;
        let (dft, dfl) = self.update2.forward(&ft1, &flow2, &corr2)?;
        up_flow0_2 = (up_flow0_2 + dfl.narrow(1, 0, 2)?)?;
        up_flow1_2 = (up_flow1_2 + dfl.narrow(1, 2, 2)?)?;
        ft1 = (ft1 + dft)?;
        drop(corr);

        // decoder1 (MultiFlowDecoder): split [2n, 2n, n, 3n]
        let out = self.decoder1.forward(&Self::decoder_input(
            &ft1,
            &f0[0],
            &f1[0],
            &up_flow0_2,
            &up_flow1_2,
        )?)?;
        let d0 = out.narrow(1, 0, 2 * nf)?;
        let d1 = out.narrow(1, 2 * nf, 2 * nf)?;
        let mut mask = candle_nn::ops::sigmoid(&out.narrow(1, 4 * nf, nf)?)?;
        let mut img_res = out.narrow(1, 5 * nf, 3 * nf)?;
        let rep = |f: &Tensor| -> candle_core::Result<Tensor> {
            resize(f, 2.0)?.affine(2.0, 0.0)?.repeat((1, nf, 1, 1))
        };
        let mut up_flow0_1 = (d0 + rep(&up_flow0_2)?)?;
        let mut up_flow1_1 = (d1 + rep(&up_flow1_2)?)?;

        if scale_factor != 1.0 {
            let s = 1.0 / scale_factor;
            up_flow0_1 = resize(&up_flow0_1, s)?.affine(s, 0.0)?;
            up_flow1_1 = resize(&up_flow1_1, s)?.affine(s, 0.0)?;
            mask = resize(&mask, s)?;
            img_res = resize(&img_res, s)?;
        }

        let imgt = self.multi_flow_combine(
            &img0,
            &img1,
            &up_flow0_1,
            &up_flow1_1,
            &mask,
            &img_res,
            &mean,
        )?;
        Ok(Interpolation {
            imgt_pred: imgt.clamp(0f32, 1f32)?,
            flow0: vec![up_flow0_1, up_flow0_2, up_flow0_3, up_flow0_4],
            flow1: vec![up_flow1_1, up_flow1_2, up_flow1_3, up_flow1_4],
        })
    }

    /// IntermediateDecoder: flows `out[0:2] + 2·resize(flow_in, 2)`, features `out[4:]`.
    fn intermediate(
        &self,
        dec: &ConvBlock,
        ft: &Tensor,
        f0: &Tensor,
        f1: &Tensor,
        fl0: &Tensor,
        fl1: &Tensor,
    ) -> candle_core::Result<(Tensor, Tensor, Tensor)> {
        let out = dec.forward(&Self::decoder_input(ft, f0, f1, fl0, fl1)?)?;
        let c = out.dim(1)?;
        let flow0 = (out.narrow(1, 0, 2)? + resize(fl0, 2.0)?.affine(2.0, 0.0)?)?;
        let flow1 = (out.narrow(1, 2, 2)? + resize(fl1, 2.0)?.affine(2.0, 0.0)?)?;
        Ok((flow0, flow1, out.narrow(1, 4, c - 4)?))
    }

    /// `multi_flow.py::multi_flow_combine` for batch 1.
    #[allow(clippy::too_many_arguments)]
    fn multi_flow_combine(
        &self,
        img0: &Tensor,
        img1: &Tensor,
        flow0: &Tensor,
        flow1: &Tensor,
        mask: &Tensor,
        img_res: &Tensor,
        mean: &Tensor,
    ) -> candle_core::Result<Tensor> {
        let n = self.cfg.num_flows;
        let (_, _, h, w) = flow0.dims4()?;
        let flow0 = flow0.reshape((n, 2, h, w))?;
        let flow1 = flow1.reshape((n, 2, h, w))?;
        let mask = mask.reshape((n, 1, h, w))?;
        let img_res = img_res.reshape((n, 3, h, w))?;
        let img0 = img0.broadcast_as((n, 3, h, w))?.contiguous()?;
        let img1 = img1.broadcast_as((n, 3, h, w))?.contiguous()?;
        let w0 = warp(&img0, &flow0)?;
        let w1 = warp(&img1, &flow1)?;
        let inv = mask.affine(-1.0, 1.0)?;
        let warps =
            ((w0.broadcast_mul(&mask)? + w1.broadcast_mul(&inv)?)?.broadcast_add(mean)? + img_res)?; // (n, 3, h, w)
                                                                                                     // `mean(1)` = sum / n (a true division, as ATen's mean)
        let nt = Tensor::new(&[n as f32], warps.device())?
            .to_dtype(warps.dtype())?
            .reshape((1, 1, 1, 1))?;
        let avg = warps.sum_keepdim(0)?.broadcast_div(&nt)?;
        let comb_in = warps.reshape((1, 3 * n, h, w))?;
        let comb = self
            .comb2
            .forward(&self.comb1.forward(&self.comb0.forward(&comb_in)?)?)?;
        avg + comb
    }
}
