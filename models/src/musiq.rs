//! MUSIQ, the multi-scale image-quality transformer, as pyiqa 0.1.13 builds it
//! (`pyiqa/archs/musiq_arch.py::MUSIQ` with `pyiqa/data/multiscale_trans_util.py`), for the
//! SPAQ checkpoint `musiq_spaq_ckpt-358bb6af.pth` that VBench's imaging_quality loads
//! (spec 10-frame-dims.md §7).
//!
//! Keys (a plain state dict; a leading `module.` is stripped by the loader like pyiqa's
//! `clean_state_dict`): `conv_root.weight`, `gn_root.{weight,bias}`,
//! `block1.{conv1,conv2,conv3,conv_proj}.weight`, `block1.{gn1,gn2,gn3,gn_proj}.{weight,bias}`,
//! `embedding.{weight,bias}`, `transformer_encoder.{posembed_input.position_emb (1,G²,D),
//! scaleembed_input.scale_emb (S,D), cls (1,1,D)}`,
//! `transformer_encoder.transformer.encoderblock_N.{norm1,norm2}.{weight,bias}`,
//! `…encoderblock_N.attention.{query,key,value,out}.{weight,bias}`,
//! `…encoderblock_N.mlp.{fc1,fc2}.{weight,bias}`, `transformer_encoder.encoder_norm.*`,
//! `head.{weight,bias}`.
//!
//! What `forward` does (inference path, `training == False`):
//! 1. x ← (x − 0.5)·2 in f32 (input in [0, 1]).
//! 2. Multi-scale patches ([`multiscale_patches`]): for each longer side L in ascending order,
//!    bicubic (A = −0.75, size mode, no antialias, unclamped; [`crate::nn::resample`]) to
//!    (round(h·L/max), round(w·L/max)) with Python's half-to-even `round`, TF-"SAME" zero
//!    padding to a multiple of the patch size (extra pixel bottom/right), 32×32 patches in
//!    row-major order laid out c·P² + y·P + x, padded with zero tokens to ceil(L/P)²; then the
//!    image at its own size with all its patches. Each token carries a hashed spatial index
//!    (torch legacy `nearest` of a G-long grid onto the patch grid), its scale id and a mask.
//! 3. Per patch, a ResNet root: StdConv 7×7/2 (weights standardised with the unbiased std,
//!    +1e-5 on the std) → GroupNorm(32, eps 1e-6) → ReLU → zero pad (0,1) → max-pool 3/2 →
//!    Bottleneck(64→256) with StdConvs and GroupNorm(32, eps 1e-4) → flatten HWC → Linear.
//! 4. Add position_emb[hash] and scale_emb[scale]; CLS prepended (no embeddings on it); pre-LN
//!    blocks (LayerNorm eps 1e-6, exact GELU); encoder_norm; head on CLS; for more than one
//!    class softmax and `dist_to_mos` (Σ p_i·i).
//!
//! Padded tokens are masked in pyiqa by replacing their attention logits with −1000, which
//! makes their softmax weight exactly 0 in f32 for every valid query, and nothing else of a
//! valid token depends on them, so they are dropped before the stem (spec §7.4). All frames of
//! a batch share one size and hence one token layout.

use candle_core::{DType, Module, Result, Tensor, D};
use candle_nn::{GroupNorm, Linear, VarBuilder};
use serde::{Deserialize, Serialize};

use crate::nn::resample;
use crate::nn::vit::{Activation, Attention, Block, LayerNorm, Mlp};

/// `resnet_token_dim` (hard-coded in pyiqa's constructor).
pub const RESNET_TOKEN_DIM: usize = 64;
/// GroupNorm groups in the root and the bottleneck.
const GN_GROUPS: usize = 32;
/// `gn_root` eps.
const GN_ROOT_EPS: f64 = 1e-6;
/// Bottleneck GroupNorm eps.
const GN_BLOCK_EPS: f64 = 1e-4;
/// Added to the weight std in `StdConv`.
const STD_CONV_EPS: f64 = 1e-5;
/// `TransformerBlock` / `encoder_norm` LayerNorm eps.
const LN_EPS: f64 = 1e-6;
/// Patches per stem pass (bounds the (n, 64, 16, 16) intermediates for large frames).
const STEM_CHUNK: usize = 512;

/// `MUSIQ.__init__` arguments (defaults = VBench's `MUSIQ(pretrained_model_path=...)`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    pub patch_size: usize,
    pub num_class: usize,
    pub hidden_size: usize,
    pub mlp_dim: usize,
    pub num_heads: usize,
    pub num_layers: usize,
    pub num_scales: usize,
    pub spatial_pos_grid_size: usize,
    pub use_scale_emb: bool,
    /// Sorted ascending before use, as pyiqa does.
    pub longer_side_lengths: Vec<usize>,
    /// `None`: no original-resolution scale; negative: all its patches; otherwise padded or
    /// cut to this many tokens.
    pub max_seq_len_from_original_res: Option<i64>,
}

impl Default for Config {
    fn default() -> Self {
        Self::spaq()
    }
}

impl Config {
    /// `MUSIQ(pretrained_model_path=...)` as VBench builds it for `musiq_spaq_ckpt-358bb6af.pth`.
    pub fn spaq() -> Self {
        Self {
            patch_size: 32,
            num_class: 1,
            hidden_size: 384,
            mlp_dim: 1152,
            num_heads: 6,
            num_layers: 14,
            num_scales: 3,
            spatial_pos_grid_size: 10,
            use_scale_emb: true,
            longer_side_lengths: vec![224, 384],
            max_seq_len_from_original_res: Some(-1),
        }
    }

    /// The same structure with a small transformer (tests and parity fixtures).
    pub fn tiny() -> Self {
        Self {
            hidden_size: 16,
            mlp_dim: 32,
            num_heads: 2,
            num_layers: 2,
            ..Self::spaq()
        }
    }

    fn token_patch(&self) -> usize {
        self.patch_size / 4
    }
}

/// Python's `round` of a non-negative f64 (half to even).
fn py_round(x: f64) -> usize {
    x.round_ties_even() as usize
}

/// torch legacy `nearest` (`nearest_idx`): source index of output `d` when `n` values are
/// resampled to `m` (spec R-NN).
pub fn nearest_index(n: usize, m: usize, d: usize) -> usize {
    if m == n {
        d
    } else if m == 2 * n {
        d >> 1
    } else {
        let scale = n as f32 / m as f32;
        ((d as f32 * scale).floor() as usize).min(n - 1)
    }
}

/// `resize_preserve_aspect_ratio`: `(round(h·r), round(w·r))` with `r = L / max(h, w)` in f64.
pub fn scale_size(h: usize, w: usize, longer: usize) -> (usize, usize) {
    let ratio = longer as f64 / h.max(w) as f64;
    (py_round(h as f64 * ratio), py_round(w as f64 * ratio))
}

/// The multi-scale token sequence of a batch of same-sized images.
#[derive(Debug, Clone)]
pub struct Patches {
    pub batch: usize,
    pub seq_len: usize,
    /// Values per patch, `3·P²`, laid out c·P² + y·P + x.
    pub patch_dim: usize,
    /// `(batch, seq_len, patch_dim)`; padded tokens are zeros.
    pub data: Vec<f32>,
    /// Per token (shared by the batch): hashed spatial index, scale id, mask.
    pub hash: Vec<u32>,
    pub scale: Vec<u32>,
    pub mask: Vec<bool>,
}

impl Patches {
    /// Indices of the unmasked tokens.
    pub fn valid(&self) -> Vec<usize> {
        (0..self.seq_len).filter(|&i| self.mask[i]).collect()
    }
}

struct ScaleBlock {
    /// (batch, 3, h, w) planar
    data: Vec<f32>,
    h: usize,
    w: usize,
    scale_id: u32,
    /// `None`: every patch, no padding.
    max_seq_len: Option<usize>,
}

/// `get_multiscale_patches` on `(batch, 3, h, w)` planar f32 data already mapped to [−1, 1].
///
/// Errors when a scale would be 0 pixels on a side (pyiqa/torch raise there too).
pub fn multiscale_patches(
    cfg: &Config,
    x: &[f32],
    batch: usize,
    h: usize,
    w: usize,
) -> Result<Patches> {
    if x.len() != batch * 3 * h * w {
        candle_core::bail!("musiq: {} values are not ({batch}, 3, {h}, {w})", x.len());
    }
    if h == 0 || w == 0 {
        candle_core::bail!("musiq: empty image {h}x{w}");
    }
    let p = cfg.patch_size;
    let mut lens = cfg.longer_side_lengths.clone();
    lens.sort_unstable();
    let mut blocks = Vec::new();
    for (sid, &l) in lens.iter().enumerate() {
        let (rh, rw) = scale_size(h, w, l);
        if rh == 0 || rw == 0 {
            candle_core::bail!(
                "musiq: a {h}x{w} image is {rh}x{rw} at the {l}-pixel scale (too thin; \
                 pyiqa's F.interpolate raises on an empty output)"
            );
        }
        let data = if (rh, rw) == (h, w) {
            x.to_vec()
        } else {
            resample::resize_bicubic_batch(x, batch, 3, h, w, rh, rw, None)
        };
        blocks.push(ScaleBlock {
            data,
            h: rh,
            w: rw,
            scale_id: sid as u32,
            max_seq_len: Some(l.div_ceil(p).pow(2)),
        });
    }
    if let Some(m) = cfg.max_seq_len_from_original_res {
        blocks.push(ScaleBlock {
            data: x.to_vec(),
            h,
            w,
            scale_id: lens.len() as u32,
            max_seq_len: usize::try_from(m).ok(),
        });
    }
    let patch_dim = 3 * p * p;
    let g = cfg.spatial_pos_grid_size;
    // token layout
    let mut hash = Vec::new();
    let mut scale = Vec::new();
    let mut mask = Vec::new();
    // (block, patch row, patch col) of each valid token, None for padding
    let mut src: Vec<Option<(usize, usize, usize)>> = Vec::new();
    for (bi, b) in blocks.iter().enumerate() {
        let (ch, cw) = (b.h.div_ceil(p), b.w.div_ceil(p));
        let n = ch * cw;
        let keep = b.max_seq_len.unwrap_or(n);
        for i in 0..keep {
            if i < n {
                let (r, c) = (i / cw, i % cw);
                hash.push((nearest_index(g, ch, r) * g + nearest_index(g, cw, c)) as u32);
                scale.push(b.scale_id);
                mask.push(true);
                src.push(Some((bi, r, c)));
            } else {
                hash.push(0);
                scale.push(0);
                mask.push(false);
                src.push(None);
            }
        }
    }
    let seq_len = src.len();
    let mut data = vec![0f32; batch * seq_len * patch_dim];
    for (t, s) in src.iter().enumerate() {
        let Some((bi, r, c)) = *s else { continue };
        let b = &blocks[bi];
        // TF 'SAME' padding: top/left get pad // 2.
        let top = (b.h.div_ceil(p) * p - b.h) / 2;
        let left = (b.w.div_ceil(p) * p - b.w) / 2;
        for n in 0..batch {
            let dst = &mut data[(n * seq_len + t) * patch_dim..(n * seq_len + t + 1) * patch_dim];
            for ch in 0..3 {
                let plane = &b.data[(n * 3 + ch) * b.h * b.w..(n * 3 + ch + 1) * b.h * b.w];
                for ky in 0..p {
                    let y = (r * p + ky) as isize - top as isize;
                    if y < 0 || y >= b.h as isize {
                        continue;
                    }
                    let row = &plane[y as usize * b.w..(y as usize + 1) * b.w];
                    for kx in 0..p {
                        let xx = (c * p + kx) as isize - left as isize;
                        if xx >= 0 && (xx as usize) < b.w {
                            dst[ch * p * p + ky * p + kx] = row[xx as usize];
                        }
                    }
                }
            }
        }
    }
    Ok(Patches {
        batch,
        seq_len,
        patch_dim,
        data,
        hash,
        scale,
        mask,
    })
}

/// `StdConv`: weight standardisation (precomputed) with TF-"SAME" zero padding, no bias.
#[derive(Debug, Clone)]
struct StdConv {
    weight: Tensor,
    kernel: usize,
    stride: usize,
}

/// `exact_padding_2d(mode='same')`: (before, after) for one axis.
fn same_padding(n: usize, kernel: usize, stride: usize) -> (usize, usize) {
    let out = n.div_ceil(stride);
    let pad = ((out.saturating_sub(1)) * stride + kernel).saturating_sub(n);
    (pad / 2, pad - pad / 2)
}

fn pad_same(x: &Tensor, kernel: usize, stride: usize) -> Result<Tensor> {
    let (_, _, h, w) = x.dims4()?;
    let (t, b) = same_padding(h, kernel, stride);
    let (l, r) = same_padding(w, kernel, stride);
    let x = if t + b > 0 {
        x.pad_with_zeros(2, t, b)?
    } else {
        x.clone()
    };
    if l + r > 0 {
        x.pad_with_zeros(3, l, r)
    } else {
        Ok(x)
    }
}

impl StdConv {
    fn load(cin: usize, cout: usize, kernel: usize, stride: usize, vb: VarBuilder) -> Result<Self> {
        let w = vb.get((cout, cin, kernel, kernel), "weight")?;
        let dtype = w.dtype();
        let n = cin * kernel * kernel;
        if n < 2 {
            candle_core::bail!("StdConv: the unbiased std needs at least 2 weights per filter");
        }
        // w − mean(w); / (std_unbiased(w) + 1e-5), per output channel, in f32.
        let flat = w.to_dtype(DType::F32)?.reshape((cout, n))?;
        let centred = flat.broadcast_sub(&flat.mean_keepdim(1)?)?;
        let std = (centred.sqr()?.sum_keepdim(1)? / (n - 1) as f64)?.sqrt()?;
        let weight = centred
            .broadcast_div(&(std + STD_CONV_EPS)?)?
            .reshape((cout, cin, kernel, kernel))?
            .to_dtype(dtype)?;
        Ok(Self {
            weight,
            kernel,
            stride,
        })
    }
}

impl Module for StdConv {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let x = pad_same(x, self.kernel, self.stride)?;
        x.conv2d(&self.weight, 0, self.stride, 1, 1)
    }
}

/// `Bottleneck(64, 256)`: StdConvs and GroupNorm(32, eps 1e-4), projection on the identity.
#[derive(Debug, Clone)]
struct Bottleneck {
    conv1: StdConv,
    gn1: GroupNorm,
    conv2: StdConv,
    gn2: GroupNorm,
    conv3: StdConv,
    gn3: GroupNorm,
    proj: Option<(StdConv, GroupNorm)>,
}

impl Bottleneck {
    fn load(inplanes: usize, outplanes: usize, vb: VarBuilder) -> Result<Self> {
        let width = inplanes;
        let gn = |c, name: &str| candle_nn::group_norm(GN_GROUPS, c, GN_BLOCK_EPS, vb.pp(name));
        let proj = if inplanes != outplanes {
            Some((
                StdConv::load(inplanes, outplanes, 1, 1, vb.pp("conv_proj"))?,
                gn(outplanes, "gn_proj")?,
            ))
        } else {
            None
        };
        Ok(Self {
            conv1: StdConv::load(inplanes, width, 1, 1, vb.pp("conv1"))?,
            gn1: gn(width, "gn1")?,
            conv2: StdConv::load(width, width, 3, 1, vb.pp("conv2"))?,
            gn2: gn(width, "gn2")?,
            conv3: StdConv::load(width, outplanes, 1, 1, vb.pp("conv3"))?,
            gn3: gn(outplanes, "gn3")?,
            proj,
        })
    }
}

impl Module for Bottleneck {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let identity = match &self.proj {
            Some((c, g)) => g.forward(&c.forward(x)?)?,
            None => x.clone(),
        };
        let y = self.gn1.forward(&self.conv1.forward(x)?)?.relu()?;
        let y = self.gn2.forward(&self.conv2.forward(&y)?)?.relu()?;
        let y = self.gn3.forward(&self.conv3.forward(&y)?)?;
        (y + identity)?.relu()
    }
}

/// One `TransformerBlock` (`transformer_encoder.transformer.encoderblock_N`).
fn encoder_block(cfg: &Config, vb: VarBuilder) -> Result<Block> {
    let d = cfg.hidden_size;
    let att = vb.pp("attention");
    let attn = Attention::from_separate(
        candle_nn::linear(d, d, att.pp("query"))?,
        candle_nn::linear(d, d, att.pp("key"))?,
        candle_nn::linear(d, d, att.pp("value"))?,
        candle_nn::linear(d, d, att.pp("out"))?,
        cfg.num_heads,
    )?;
    let mlp = Mlp::new(
        candle_nn::linear(d, cfg.mlp_dim, vb.pp("mlp").pp("fc1"))?,
        candle_nn::linear(cfg.mlp_dim, d, vb.pp("mlp").pp("fc2"))?,
        Activation::GeluErf,
    );
    Ok(Block::new(
        LayerNorm::load(d, LN_EPS, vb.pp("norm1"))?,
        attn,
        LayerNorm::load(d, LN_EPS, vb.pp("norm2"))?,
        mlp,
    ))
}

/// pyiqa's `MUSIQ` in inference mode.
#[derive(Debug, Clone)]
pub struct Model {
    cfg: Config,
    conv_root: StdConv,
    gn_root: GroupNorm,
    block1: Bottleneck,
    embedding: Linear,
    /// (G², D)
    position_emb: Tensor,
    /// (S, D)
    scale_emb: Tensor,
    /// (1, 1, D)
    cls: Tensor,
    blocks: Vec<Block>,
    encoder_norm: LayerNorm,
    head: Linear,
}

impl Model {
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        if cfg.patch_size < 4 || !cfg.patch_size.is_multiple_of(4) {
            candle_core::bail!(
                "musiq: patch_size {} is not a multiple of 4",
                cfg.patch_size
            );
        }
        if cfg.longer_side_lengths.len() + usize::from(cfg.max_seq_len_from_original_res.is_some())
            > cfg.num_scales
        {
            candle_core::bail!(
                "musiq: more scales than scale embeddings ({})",
                cfg.num_scales
            );
        }
        let d = cfg.hidden_size;
        let te = vb.pp("transformer_encoder");
        let g2 = cfg.spatial_pos_grid_size.pow(2);
        let blocks = (0..cfg.num_layers)
            .map(|i| encoder_block(cfg, te.pp("transformer").pp(format!("encoderblock_{i}"))))
            .collect::<Result<Vec<_>>>()?;
        let tp = cfg.token_patch();
        Ok(Self {
            conv_root: StdConv::load(3, RESNET_TOKEN_DIM, 7, 2, vb.pp("conv_root"))?,
            gn_root: candle_nn::group_norm(
                GN_GROUPS,
                RESNET_TOKEN_DIM,
                GN_ROOT_EPS,
                vb.pp("gn_root"),
            )?,
            block1: Bottleneck::load(RESNET_TOKEN_DIM, RESNET_TOKEN_DIM * 4, vb.pp("block1"))?,
            embedding: candle_nn::linear(RESNET_TOKEN_DIM * 4 * tp * tp, d, vb.pp("embedding"))?,
            position_emb: te
                .pp("posembed_input")
                .get((1, g2, d), "position_emb")?
                .squeeze(0)?,
            scale_emb: te
                .pp("scaleembed_input")
                .get((cfg.num_scales, d), "scale_emb")?,
            cls: te.get((1, 1, d), "cls")?,
            blocks,
            encoder_norm: LayerNorm::load(d, LN_EPS, te.pp("encoder_norm"))?,
            head: candle_nn::linear(d, cfg.num_class, vb.pp("head"))?,
            cfg: cfg.clone(),
        })
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// `(x − 0.5)·2` and [`multiscale_patches`] of `(B, 3, H, W)` f32 in [0, 1].
    pub fn patches(&self, x: &Tensor) -> Result<Patches> {
        let (b, c, h, w) = x.dims4()?;
        if c != 3 {
            candle_core::bail!("musiq: expected 3 channels, got {c}");
        }
        let mut v: Vec<f32> = x.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
        for e in v.iter_mut() {
            *e = (*e - 0.5) * 2.0;
        }
        multiscale_patches(&self.cfg, &v, b, h, w)
    }

    /// The stem and `embedding` on the valid tokens: `(B, N_valid, D)`.
    pub fn embed(&self, p: &Patches) -> Result<Tensor> {
        let valid = p.valid();
        let dev = self.cls.device();
        let ps = self.cfg.patch_size;
        let mut rows = Vec::new();
        let all: Vec<(usize, usize)> = (0..p.batch)
            .flat_map(|n| valid.iter().map(move |&t| (n, t)))
            .collect();
        for chunk in all.chunks(STEM_CHUNK) {
            let mut buf = Vec::with_capacity(chunk.len() * p.patch_dim);
            for &(n, t) in chunk {
                let o = (n * p.seq_len + t) * p.patch_dim;
                buf.extend_from_slice(&p.data[o..o + p.patch_dim]);
            }
            let x =
                Tensor::from_vec(buf, (chunk.len(), 3, ps, ps), dev)?.to_dtype(self.cls.dtype())?;
            let x = self.gn_root.forward(&self.conv_root.forward(&x)?)?.relu()?;
            // root_pool: ExactPadding2d(3, 2) then MaxPool2d(3, 2)
            let x = pad_same(&x, 3, 2)?.max_pool2d_with_stride(3, 2)?;
            let x = self.block1.forward(&x)?;
            // to match tensorflow channel order: HWC flatten
            let x = x.permute((0, 2, 3, 1))?.flatten_from(1)?.contiguous()?;
            rows.push(self.embedding.forward(&x)?);
        }
        let d = self.cfg.hidden_size;
        if rows.is_empty() {
            return Tensor::zeros((p.batch, 0, d), self.cls.dtype(), dev);
        }
        Tensor::cat(&rows, 0)?.reshape((p.batch, valid.len(), d))
    }

    /// CLS after `encoder_norm`, from precomputed patches: `(B, D)`.
    pub fn features_from_patches(&self, p: &Patches) -> Result<Tensor> {
        let valid = p.valid();
        let dev = self.cls.device();
        let x = self.embed(p)?;
        let hash: Vec<u32> = valid.iter().map(|&t| p.hash[t]).collect();
        let scale: Vec<u32> = valid.iter().map(|&t| p.scale[t]).collect();
        let n = hash.len();
        let pos = self
            .position_emb
            .index_select(&Tensor::from_vec(hash, n, dev)?, 0)?;
        let mut x = x.broadcast_add(&pos.unsqueeze(0)?)?;
        if self.cfg.use_scale_emb {
            let se = self
                .scale_emb
                .index_select(&Tensor::from_vec(scale, n, dev)?, 0)?;
            x = x.broadcast_add(&se.unsqueeze(0)?)?;
        }
        let cls = self.cls.broadcast_as((p.batch, 1, self.cfg.hidden_size))?;
        let mut x = Tensor::cat(&[&cls.contiguous()?, &x], 1)?;
        for b in &self.blocks {
            x = b.forward(&x, None)?;
        }
        self.encoder_norm.forward(&x.narrow(1, 0, 1)?.squeeze(1)?)
    }

    /// CLS feature `(B, D)` of `(B, 3, H, W)` f32 images in [0, 1].
    pub fn features(&self, x: &Tensor) -> Result<Tensor> {
        self.features_from_patches(&self.patches(x)?)
    }

    /// The head on CLS features: `(B, D)` → MOS `(B, 1)` (raw linear output for one class;
    /// softmax and Σ p_i·i for more).
    pub fn head(&self, feats: &Tensor) -> Result<Tensor> {
        let q = self.head.forward(feats)?;
        if self.cfg.num_class == 1 {
            return Ok(q);
        }
        let q = candle_nn::ops::softmax_last_dim(&q)?;
        let ids: Vec<f32> = (1..=self.cfg.num_class).map(|i| i as f32).collect();
        let ids = Tensor::from_vec(ids, self.cfg.num_class, q.device())?.to_dtype(q.dtype())?;
        q.broadcast_mul(&ids)?.sum_keepdim(D::Minus1)
    }

    /// MOS `(B, 1)` of `(B, 3, H, W)` f32 images in [0, 1] (one size per batch).
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.head(&self.features(x)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;
    use candle_nn::VarMap;

    #[test]
    fn hash_indices_match_spec_table() {
        // spec 10-frame-dims §11.2
        let row = |n: usize| (0..n).map(|d| nearest_index(10, n, d)).collect::<Vec<_>>();
        assert_eq!(row(4), [0, 2, 5, 7]);
        assert_eq!(row(5), [0, 2, 4, 6, 8]);
        assert_eq!(row(7), [0, 1, 2, 4, 5, 7, 8]);
        assert_eq!(row(8), [0, 1, 2, 3, 5, 6, 7, 8]);
        assert_eq!(row(11), [0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        assert_eq!(row(12), [0, 0, 1, 2, 3, 4, 5, 5, 6, 7, 8, 9]);
        assert_eq!(row(16), [0, 0, 1, 1, 2, 3, 3, 4, 5, 5, 6, 6, 7, 8, 8, 9]);
        assert_eq!(
            row(24),
            [0, 0, 0, 1, 1, 2, 2, 2, 3, 3, 4, 4, 5, 5, 5, 6, 6, 7, 7, 7, 8, 8, 9, 9]
        );
        assert_eq!(row(20)[19], 9);
    }

    #[test]
    fn scale_sizes_match_spec_table() {
        // spec §11.3
        assert_eq!(scale_size(320, 512, 224), (140, 224));
        assert_eq!(scale_size(320, 512, 384), (240, 384));
        assert_eq!(scale_size(288, 512, 224), (126, 224));
        assert_eq!(scale_size(289, 512, 384), (217, 384));
        assert_eq!(scale_size(341, 512, 224), (149, 224));
        assert_eq!(scale_size(256, 256, 384), (384, 384));
        assert_eq!(scale_size(240, 320, 224), (168, 224));
        // half to even: 96·(224/640) = 33.6 → 34; 40·(224/448) = 20 exactly
        assert_eq!(scale_size(96, 640, 224), (34, 224));
    }

    #[test]
    fn same_padding_matches_exact_padding_2d() {
        assert_eq!(same_padding(32, 7, 2), (2, 3));
        assert_eq!(same_padding(16, 3, 2), (0, 1));
        assert_eq!(same_padding(8, 3, 1), (1, 1));
        assert_eq!(same_padding(8, 1, 1), (0, 0));
        assert_eq!(same_padding(140, 32, 32), (10, 10));
    }

    /// A tiny model with deterministic pseudo-random weights (N(0,1)-ish / sqrt(fan_in) for
    /// matrices, around 1 for norm weights).
    fn tiny_model(seed: u32) -> Model {
        let dev = Device::Cpu;
        let vm = VarMap::new();
        Model::new(
            &Config::tiny(),
            VarBuilder::from_varmap(&vm, DType::F32, &dev),
        )
        .unwrap();
        let mut s = seed;
        let data = vm.data().lock().unwrap();
        let mut names: Vec<&String> = data.keys().collect();
        names.sort();
        for name in names {
            let var = &data[name];
            let shape = var.shape().clone();
            let n = shape.elem_count();
            let fan_in = if shape.rank() >= 2 {
                n / shape.dims()[0]
            } else {
                1
            };
            let v: Vec<f32> = (0..n)
                .map(|_| {
                    s = s.wrapping_mul(1664525).wrapping_add(1013904223);
                    let u = (s >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0;
                    let is_norm = name.contains("gn") || name.contains("norm");
                    if is_norm && name.ends_with("weight") {
                        1.0 + 0.2 * u
                    } else {
                        1.7 * u / (fan_in as f32).sqrt()
                    }
                })
                .collect();
            var.set(&Tensor::from_vec(v, shape, &dev).unwrap()).unwrap();
        }
        drop(data);
        Model::new(
            &Config::tiny(),
            VarBuilder::from_varmap(&vm, DType::F32, &dev),
        )
        .unwrap()
    }

    #[test]
    fn sequence_composition_and_padding() {
        // 320x512: 35 + 14 padding, 96 + 48 padding, 160 original (spec §11.3)
        let cfg = Config::spaq();
        let x = vec![0.25f32; 3 * 320 * 512];
        let p = multiscale_patches(&cfg, &x, 1, 320, 512).unwrap();
        assert_eq!(p.seq_len, 49 + 144 + 160);
        assert_eq!(p.valid().len(), 35 + 96 + 160);
        assert!(!p.mask[35] && p.mask[34] && p.mask[49]);
        assert_eq!(p.scale[49], 1);
        assert_eq!(p.scale[49 + 144], 2);
        // scale 224: rows 10 top/bottom padding → the first patch row starts with 10 zero rows
        let first = &p.data[..p.patch_dim];
        assert_eq!(first[9 * 32], 0.0);
        assert!((first[10 * 32] - 0.25).abs() < 1e-6);
        // original scale has no padding: every value is 0.25
        let o = (49 + 144) * p.patch_dim;
        assert!(p.data[o..o + p.patch_dim].iter().all(|&v| v == 0.25));
        // hash of the last original token (row 9 of 10, col 15 of 16) = 9·10 + 9
        assert_eq!(p.hash[p.seq_len - 1], 99);
    }

    #[test]
    fn thin_images_are_an_error_not_a_panic() {
        let cfg = Config::spaq();
        let x = vec![0f32; 3 * 512];
        assert!(multiscale_patches(&cfg, &x, 1, 1, 512).is_err());
    }

    #[test]
    fn forward_batch_invariant_and_tiny_images() {
        let m = tiny_model(3);
        let dev = Device::Cpu;
        let x = Tensor::rand(0f32, 1f32, (3, 3, 40, 72), &dev).unwrap();
        let all = m.forward(&x).unwrap();
        assert_eq!(all.dims(), &[3, 1]);
        let all: Vec<f32> = all.flatten_all().unwrap().to_vec1().unwrap();
        for (i, want) in all.iter().enumerate() {
            let one: Vec<f32> = m
                .forward(&x.narrow(0, i, 1).unwrap())
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            assert!((one[0] - want).abs() <= 1e-4 * want.abs().max(1.0));
        }
        assert!(
            (all[0] - all[1]).abs() > 1e-6,
            "different images score apart"
        );
        // smaller than one patch: one original token, upsampled scales
        let small = Tensor::rand(0f32, 1f32, (1, 3, 5, 7), &dev).unwrap();
        let s = m
            .forward(&small)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert!(s[0].is_finite());
    }

    #[test]
    fn std_conv_weights_are_standardised() {
        let dev = Device::Cpu;
        let w = Tensor::new(&[1f32, 2., 3., 6.], &dev)
            .unwrap()
            .reshape((1, 1, 2, 2))
            .unwrap();
        let vb = VarBuilder::from_tensors(
            [("weight".to_string(), w)].into_iter().collect(),
            DType::F32,
            &dev,
        );
        let c = StdConv::load(1, 1, 2, 1, vb).unwrap();
        // mean 3, unbiased std sqrt(14/3) = 2.1602469
        let got: Vec<f32> = c.weight.flatten_all().unwrap().to_vec1().unwrap();
        let s = (14f32 / 3.0).sqrt() + 1e-5;
        for (g, v) in got.iter().zip([-2f32, -1., 0., 3.]) {
            assert!((g - v / s).abs() < 1e-6, "{g} vs {}", v / s);
        }
    }
}
