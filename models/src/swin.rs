//! Swin Transformer as Tag2Text uses it (`vbench/third_party/tag2Text/swin_transformer.py`,
//! `SwinTransformer` with `config_swinB_384.json`: Swin-B, 384 px, window 12).
//!
//! Keys (under `visual_encoder.` in `tag2text_swin_14m.pth`):
//! `patch_embed.proj.{weight,bias}`, `patch_embed.norm.*`,
//! `layers.S.blocks.B.{norm1, attn.{relative_position_bias_table, qkv, proj}, norm2, mlp.{fc1, fc2}}.*`,
//! `layers.S.downsample.{norm.*, reduction.weight}` (stages 0..S−1), `norm.*`.
//! `relative_position_index` / `attn_mask` buffers are recomputed here (VBench drops them at load).
//!
//! Maths (spec 40-semantic.md §4.2):
//! - patch embed Conv2d(k = s = patch) → tokens → LayerNorm (eps 1e-5 everywhere);
//! - block: `x + WAttn(LN1(x))` with a cyclic roll by −shift before and +shift after when the block
//!   is shifted (odd blocks, shift = window/2; none when the stage resolution ≤ window, where the
//!   window becomes the resolution), then `x + MLP(LN2(x))` with exact GELU;
//! - window attention: `(q·scale) @ kᵀ + B[rel_index]` (+ the −100 shifted-window mask), softmax,
//!   `@ v`, proj;
//! - patch merging: concat `[x(0::2,0::2), x(1::2,0::2), x(0::2,1::2), x(1::2,1::2)]` → LN(4C) →
//!   Linear(4C→2C, no bias);
//! - output: final LN, tokens (B, L, C) with their mean prepended → (B, 1 + L, C).

use candle_core::{DType, Device, IndexOp, Module, Result, Tensor, D};
use candle_nn::{Conv2d, Conv2dConfig, Linear, VarBuilder};
use serde::{Deserialize, Serialize};

use crate::nn::layer_norm::FusedLayerNorm as LayerNorm;
use crate::nn::vit::{Activation, Mlp};

/// PyTorch `nn.LayerNorm` default, used by every Swin norm.
pub const SWIN_LAYER_NORM_EPS: f64 = 1e-5;
/// Value of the shifted-window attention mask between tokens of different regions.
const SHIFT_MASK_VALUE: f32 = -100.0;

/// Swin hyper-parameters (`config_swinB_384.json` plus the constructor arguments of
/// `Tag2Text_Caption`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    pub image_res: usize,
    pub patch_size: usize,
    pub in_chans: usize,
    pub embed_dim: usize,
    pub depths: Vec<usize>,
    pub num_heads: Vec<usize>,
    pub window_size: usize,
    pub mlp_ratio: f64,
}

impl Config {
    /// Swin-B/384 of `config_swinB_384.json`.
    pub fn swin_b_384() -> Self {
        Self {
            image_res: 384,
            patch_size: 4,
            in_chans: 3,
            embed_dim: 128,
            depths: vec![2, 2, 18, 2],
            num_heads: vec![4, 8, 16, 32],
            window_size: 12,
            mlp_ratio: 4.0,
        }
    }

    /// Width of the output tokens (`embed_dim · 2^(stages−1)`).
    pub fn num_features(&self) -> usize {
        self.embed_dim << (self.depths.len().saturating_sub(1))
    }
}

/// `(Δy + ws − 1)·(2ws − 1) + (Δx + ws − 1)` for every pair of tokens of a window, row-major.
fn relative_position_index(ws: usize) -> Vec<u32> {
    let n = ws * ws;
    let mut idx = Vec::with_capacity(n * n);
    for i in 0..n {
        let (yi, xi) = (i / ws, i % ws);
        for j in 0..n {
            let (yj, xj) = (j / ws, j % ws);
            let dy = yi + ws - 1 - yj;
            let dx = xi + ws - 1 - xj;
            idx.push((dy * (2 * ws - 1) + dx) as u32);
        }
    }
    idx
}

/// The (nW, N, N) shifted-window mask: 0 within a region, −100 across regions.
fn shift_mask(res: usize, ws: usize, shift: usize, dev: &Device) -> Result<Tensor> {
    let region = |p: usize| -> u32 {
        if p < res - ws {
            0
        } else if p < res - shift {
            1
        } else {
            2
        }
    };
    let nw = res / ws;
    let n = ws * ws;
    let mut out = Vec::with_capacity(nw * nw * n * n);
    for wy in 0..nw {
        for wx in 0..nw {
            let ids: Vec<u32> = (0..n)
                .map(|t| {
                    let y = wy * ws + t / ws;
                    let x = wx * ws + t % ws;
                    region(y) * 3 + region(x)
                })
                .collect();
            for a in &ids {
                for b in &ids {
                    out.push(if a == b { 0.0 } else { SHIFT_MASK_VALUE });
                }
            }
        }
    }
    Tensor::from_vec(out, (nw * nw, n, n), dev)
}

/// Shifted-window multi-head attention with relative position bias.
#[derive(Debug, Clone)]
struct WindowAttention {
    qkv: Linear,
    proj: Linear,
    /// (nH, N, N), gathered from the table once at load.
    bias: Tensor,
    num_heads: usize,
    scale: f64,
}

impl WindowAttention {
    fn new(dim: usize, ws: usize, num_heads: usize, vb: VarBuilder) -> Result<Self> {
        let table = vb.get(
            ((2 * ws - 1) * (2 * ws - 1), num_heads),
            "relative_position_bias_table",
        )?;
        let n = ws * ws;
        let index = Tensor::from_vec(relative_position_index(ws), n * n, table.device())?;
        let bias = table
            .index_select(&index, 0)?
            .reshape((n, n, num_heads))?
            .permute((2, 0, 1))?
            .contiguous()?;
        let head_dim = dim / num_heads;
        Ok(Self {
            qkv: candle_nn::linear(dim, 3 * dim, vb.pp("qkv"))?,
            proj: candle_nn::linear(dim, dim, vb.pp("proj"))?,
            bias,
            num_heads,
            // `head_dim ** -0.5` in Python floats, applied to q.
            scale: (head_dim as f64).powf(-0.5),
        })
    }

    /// The relative position bias plus a shifted-window mask (nW, N, N), as (nW, nH, N, N), so
    /// that the forward pass adds both at once. VBench adds them one after the other; the sums
    /// differ only where the mask is −100, whose softmax weight is 0 either way.
    fn bias_with_mask(&self, mask: &Tensor) -> Result<Tensor> {
        self.bias
            .unsqueeze(0)?
            .broadcast_add(&mask.unsqueeze(1)?)?
            .contiguous()
    }

    /// `xs`: (B·nW, N, C); `bias_mask`: [`Self::bias_with_mask`] for shifted windows, else
    /// None (the bias alone).
    fn forward(&self, xs: &Tensor, bias_mask: Option<&Tensor>) -> Result<Tensor> {
        let (bw, n, c) = xs.dims3()?;
        let hd = c / self.num_heads;
        let qkv = self
            .qkv
            .forward(xs)?
            .reshape((bw, n, 3, self.num_heads, hd))?
            .permute((2, 0, 3, 1, 4))?;
        // the scalar multiply already writes a contiguous tensor
        let q = (qkv.i(0)? * self.scale)?;
        let k = qkv.i(1)?.contiguous()?;
        let v = qkv.i(2)?.contiguous()?;
        let attn = q.matmul(&k.t()?)?;
        let attn = match bias_mask {
            Some(m) => {
                let nw = m.dim(0)?;
                attn.reshape((bw / nw, nw, self.num_heads, n, n))?
                    .broadcast_add(&m.unsqueeze(0)?)?
                    .reshape((bw, self.num_heads, n, n))?
            }
            None => attn.broadcast_add(&self.bias.unsqueeze(0)?)?,
        };
        let attn = candle_nn::ops::softmax_last_dim(&attn)?;
        let out = attn
            .matmul(&v)?
            .transpose(1, 2)?
            .contiguous()?
            .reshape((bw, n, c))?;
        self.proj.forward(&out)
    }
}

/// (B, H, W, C) → (B·nW, ws·ws, C).
fn window_partition(x: &Tensor, ws: usize) -> Result<Tensor> {
    let (b, h, w, c) = x.dims4()?;
    x.reshape((b, h / ws, ws, w / ws, ws, c))?
        .permute((0, 1, 3, 2, 4, 5))?
        .contiguous()?
        .reshape((b * (h / ws) * (w / ws), ws * ws, c))
}

/// (B·nW, ws·ws, C) → (B, H, W, C).
fn window_reverse(x: &Tensor, ws: usize, h: usize, w: usize) -> Result<Tensor> {
    let c = x.dim(D::Minus1)?;
    let b = x.dim(0)? / ((h / ws) * (w / ws));
    x.reshape((b, h / ws, w / ws, ws, ws, c))?
        .permute((0, 1, 3, 2, 4, 5))?
        .contiguous()?
        .reshape((b, h, w, c))
}

#[derive(Debug, Clone)]
struct SwinBlock {
    norm1: LayerNorm,
    attn: WindowAttention,
    norm2: LayerNorm,
    mlp: Mlp,
    res: usize,
    window: usize,
    shift: usize,
    /// Relative position bias + shifted-window mask, (nW, nH, N, N), for shifted blocks.
    mask: Option<Tensor>,
}

impl SwinBlock {
    fn new(
        dim: usize,
        res: usize,
        heads: usize,
        window: usize,
        shift: usize,
        mlp_ratio: f64,
        vb: VarBuilder,
    ) -> Result<Self> {
        let (window, shift) = if res <= window {
            (res, 0)
        } else {
            (window, shift)
        };
        let hidden = (dim as f64 * mlp_ratio) as usize;
        let attn = WindowAttention::new(dim, window, heads, vb.pp("attn"))?;
        let mask = if shift > 0 {
            Some(attn.bias_with_mask(&shift_mask(res, window, shift, vb.device())?)?)
        } else {
            None
        };
        Ok(Self {
            norm1: LayerNorm::load(dim, SWIN_LAYER_NORM_EPS, vb.pp("norm1"))?,
            attn,
            norm2: LayerNorm::load(dim, SWIN_LAYER_NORM_EPS, vb.pp("norm2"))?,
            mlp: Mlp::new(
                candle_nn::linear(dim, hidden, vb.pp("mlp").pp("fc1"))?,
                candle_nn::linear(hidden, dim, vb.pp("mlp").pp("fc2"))?,
                Activation::GeluErf,
            ),
            res,
            window,
            shift,
            mask,
        })
    }

    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let (b, l, c) = xs.dims3()?;
        let (h, w) = (self.res, self.res);
        if l != h * w {
            candle_core::bail!("swin block: {l} tokens, expected {h}×{w}");
        }
        let x = self.norm1.forward(xs)?.reshape((b, h, w, c))?;
        let s = self.shift as i32;
        let x = if s > 0 {
            x.roll(-s, 1)?.roll(-s, 2)?
        } else {
            x
        };
        let win = window_partition(&x, self.window)?;
        let att = self.attn.forward(&win, self.mask.as_ref())?;
        let x = window_reverse(&att, self.window, h, w)?;
        let x = if s > 0 { x.roll(s, 1)?.roll(s, 2)? } else { x };
        let xs = (xs + x.reshape((b, l, c))?)?;
        &xs + self.mlp.forward(&self.norm2.forward(&xs)?)?
    }
}

#[derive(Debug, Clone)]
struct PatchMerging {
    norm: LayerNorm,
    reduction: Linear,
    res: usize,
}

impl PatchMerging {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let (b, _, c) = xs.dims3()?;
        let r = self.res;
        // (B, H/2, 2, W/2, 2, C): dims 2 and 4 are the row and column parity.
        let x = xs.reshape((b, r / 2, 2, r / 2, 2, c))?;
        let part = |py: usize, px: usize| -> Result<Tensor> { x.i((.., .., py, .., px, ..)) };
        let cat = Tensor::cat(
            &[part(0, 0)?, part(1, 0)?, part(0, 1)?, part(1, 1)?],
            D::Minus1,
        )?
        .reshape((b, (r / 2) * (r / 2), 4 * c))?;
        self.reduction.forward(&self.norm.forward(&cat)?)
    }
}

#[derive(Debug, Clone)]
struct Stage {
    blocks: Vec<SwinBlock>,
    downsample: Option<PatchMerging>,
}

/// Swin Transformer feature extractor.
#[derive(Debug, Clone)]
pub struct SwinTransformer {
    patch_embed: Conv2d,
    patch_norm: LayerNorm,
    stages: Vec<Stage>,
    norm: LayerNorm,
    cfg: Config,
}

impl SwinTransformer {
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        if cfg.depths.len() != cfg.num_heads.len() || cfg.depths.is_empty() {
            candle_core::bail!("swin: depths and num_heads must be non-empty and of equal length");
        }
        let pe = vb.pp("patch_embed");
        let conv_cfg = Conv2dConfig {
            stride: cfg.patch_size,
            ..Default::default()
        };
        let patch_embed = candle_nn::conv2d(
            cfg.in_chans,
            cfg.embed_dim,
            cfg.patch_size,
            conv_cfg,
            pe.pp("proj"),
        )?;
        let patch_norm = LayerNorm::load(cfg.embed_dim, SWIN_LAYER_NORM_EPS, pe.pp("norm"))?;
        let mut stages = Vec::with_capacity(cfg.depths.len());
        let mut res = cfg.image_res / cfg.patch_size;
        let n_stages = cfg.depths.len();
        for (s, (&depth, &heads)) in cfg.depths.iter().zip(&cfg.num_heads).enumerate() {
            let dim = cfg.embed_dim << s;
            let svb = vb.pp("layers").pp(s);
            let blocks = (0..depth)
                .map(|i| {
                    let shift = if i % 2 == 0 { 0 } else { cfg.window_size / 2 };
                    SwinBlock::new(
                        dim,
                        res,
                        heads,
                        cfg.window_size,
                        shift,
                        cfg.mlp_ratio,
                        svb.pp("blocks").pp(i),
                    )
                })
                .collect::<Result<Vec<_>>>()?;
            let downsample = if s + 1 < n_stages {
                let dvb = svb.pp("downsample");
                Some(PatchMerging {
                    norm: LayerNorm::load(4 * dim, SWIN_LAYER_NORM_EPS, dvb.pp("norm"))?,
                    reduction: candle_nn::linear_no_bias(4 * dim, 2 * dim, dvb.pp("reduction"))?,
                    res,
                })
            } else {
                None
            };
            stages.push(Stage { blocks, downsample });
            res /= 2;
        }
        let norm = LayerNorm::load(cfg.num_features(), SWIN_LAYER_NORM_EPS, vb.pp("norm"))?;
        Ok(Self {
            patch_embed,
            patch_norm,
            stages,
            norm,
            cfg: cfg.clone(),
        })
    }

    /// `image`: (B, 3, R, R) normalised. Returns (B, 1 + L, C): the mean token then the L tokens.
    pub fn forward(&self, image: &Tensor) -> Result<Tensor> {
        let (_, _, h, w) = image.dims4()?;
        if h != self.cfg.image_res || w != self.cfg.image_res {
            candle_core::bail!(
                "swin: input {h}×{w}, the model takes {0}×{0}",
                self.cfg.image_res
            );
        }
        let x = self.patch_embed.forward(image)?; // (B, C, R/p, R/p)
        let x = x.flatten_from(2)?.transpose(1, 2)?.contiguous()?;
        let mut x = self.patch_norm.forward(&x)?;
        for stage in &self.stages {
            for blk in &stage.blocks {
                x = blk.forward(&x)?;
            }
            if let Some(ds) = &stage.downsample {
                x = ds.forward(&x)?;
            }
        }
        let x = self.norm.forward(&x)?;
        let mean = x
            .to_dtype(DType::F32)?
            .mean_keepdim(1)?
            .to_dtype(x.dtype())?;
        Tensor::cat(&[mean, x], 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_index_corners() {
        let idx = relative_position_index(12);
        // Same token: (11·23 + 11) = 264, the centre of the 23×23 table.
        assert_eq!(idx[0], 264);
        // token 0 vs token 143 (Δy = Δx = −11): 0.
        assert_eq!(idx[143], 0);
        // token 143 vs token 0 (Δy = Δx = 11): 22·23 + 22 = 528.
        assert_eq!(idx[143 * 144], 528);
    }

    #[test]
    fn shift_mask_regions() {
        let m = shift_mask(24, 12, 6, &Device::Cpu).unwrap();
        assert_eq!(m.dims(), &[4, 144, 144]);
        // Window 0 lies in region 0 entirely: no masking.
        let w0 = m.i(0).unwrap().abs().unwrap().sum_all().unwrap();
        assert_eq!(w0.to_scalar::<f32>().unwrap(), 0.0);
        // Last window: token 0 (region (1,1)) vs token 143 (region (2,2)) masked.
        let v = m.i((3, 0, 143)).unwrap().to_scalar::<f32>().unwrap();
        assert_eq!(v, -100.0);
    }
}
