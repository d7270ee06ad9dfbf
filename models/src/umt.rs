//! UMT-L/16 video classifier (Unmasked Teacher, `single_modality` fine-tune on Kinetics-400), as
//! VBench's `human_action` builds it: `vbench/third_party/umt/models/modeling_finetune.py`,
//! `vit_large_patch16_224(num_classes=400, all_frames=16, tubelet_size=1,
//! use_learnable_pos_emb=False, use_mean_pooling=True)` (spec 30-video-text.md §4).
//!
//! Checkpoint `l16_ptk710_ftk710_ftk400_f16_res224.pth`: a flat, unprefixed state dict
//! (§4.5), keys
//!
//! ```text
//! patch_embed.proj.{weight (D,3,1,16,16), bias (D)}
//! blocks.N.norm1.{weight,bias}  blocks.N.attn.qkv.weight (3D,D)  blocks.N.attn.{q_bias,v_bias} (D)
//! blocks.N.attn.proj.{weight,bias}  blocks.N.norm2.{weight,bias}
//! blocks.N.mlp.fc1.{weight (4D,D), bias}  blocks.N.mlp.fc2.{weight (D,4D), bias}
//! fc_norm.{weight,bias}  head.{weight (400,D), bias (400)}  [pos_embed (1,3136,D)]
//! ```
//!
//! Loading mirrors VBench's `load_state_dict(sd, strict=False)`: `pos_embed`, when the file has
//! it, replaces the computed sinusoid table (it is a Parameter there because 3136 ≠ 1568);
//! a missing `fc_norm` keeps its init (weight 1, bias 0); any other missing key would be a
//! random init in VBench, which cannot be reproduced, so it is an error here. Extra keys are
//! ignored ([`Model::new`] reads only the keys above; the caller may report the rest).
//!
//! Maths (eval mode, fp32): Conv3d with temporal kernel 1 = a per-frame 16×16 patchify and a
//! matmul, tokens in (t, h, w) order; `+ pos_embed`; pre-norm blocks (LayerNorm eps 1e-6,
//! attention with the q|0|v bias — the k bias is zero —, scale `head_dim^-0.5`, exact erf
//! GELU, no layer-scale); mean over all tokens; `fc_norm`; `head`. No class token. Drop-path
//! and dropout are inactive (eval). The scale is a power of two for the real and the test
//! widths, so scaling q (UMT) or q·kᵀ ([`crate::nn::vit::Attention`]) gives identical numbers.

use candle_core::{Device, Module, Result, Tensor};
use candle_nn::{Linear, VarBuilder};
use serde::{Deserialize, Serialize};

use crate::nn::vit::{Activation, Attention, Block, LayerNorm, Mlp};

/// `partial(nn.LayerNorm, eps=1e-6)` of `vit_large_patch16_224`.
pub const UMT_LAYER_NORM_EPS: f64 = 1e-6;
/// The sinusoid table is computed for the pre-training grid: 8 frames of 14×14 patches
/// (`get_sinusoid_encoding_table(..., pre_n_position=1568)`, its hard-coded `T = 8`).
const PRE_FRAMES: usize = 8;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    pub embed_dim: usize,
    pub depth: usize,
    pub num_heads: usize,
    pub mlp_ratio: usize,
    pub img_size: usize,
    pub patch_size: usize,
    pub in_chans: usize,
    /// `all_frames` (16): the number of input frames; `tubelet_size` is 1.
    pub num_frames: usize,
    pub num_classes: usize,
    pub layer_norm_eps: f64,
}

impl Default for Config {
    fn default() -> Self {
        Self::vit_large_patch16_224()
    }
}

impl Config {
    /// `vit_large_patch16_224` with VBench's arguments (spec §4.1, §4.2).
    pub fn vit_large_patch16_224() -> Self {
        Self {
            embed_dim: 1024,
            depth: 24,
            num_heads: 16,
            mlp_ratio: 4,
            img_size: 224,
            patch_size: 16,
            in_chans: 3,
            num_frames: 16,
            num_classes: 400,
            layer_norm_eps: UMT_LAYER_NORM_EPS,
        }
    }

    /// The parity fixtures' shrunken, structurally identical network (same input, patch grid,
    /// frames, classes, head width 64 and positional table; width 128, 2 blocks of 2 heads).
    pub fn tiny() -> Self {
        Self {
            embed_dim: 128,
            depth: 2,
            num_heads: 2,
            ..Self::vit_large_patch16_224()
        }
    }

    /// The configuration of a checkpoint from its tensor shapes (`shape_of(key)`): width from
    /// `patch_embed.proj.weight` (D, 3, 1, p, p), depth from the `blocks.N` present, classes from
    /// `head.weight`; heads = width / 64 (ViT-L/16's head width); 224 px, 16 frames (VBench's
    /// `all_frames`). The real file gives [`Config::vit_large_patch16_224`].
    pub fn from_shapes(shape_of: &dyn Fn(&str) -> Option<Vec<usize>>) -> Result<Self> {
        let pe = shape_of("patch_embed.proj.weight")
            .ok_or_else(|| candle_core::Error::Msg("umt: no patch_embed.proj.weight".into()))?;
        let [d, c, 1, p, p2] = pe[..] else {
            candle_core::bail!("umt: patch_embed.proj.weight has shape {pe:?}, not (D, C, 1, p, p)")
        };
        if p != p2 || d % 64 != 0 {
            candle_core::bail!("umt: patch_embed.proj.weight shape {pe:?} (need square patches, width a multiple of 64)");
        }
        let depth = (0..)
            .take_while(|i| shape_of(&format!("blocks.{i}.attn.qkv.weight")).is_some())
            .count();
        let head = shape_of("head.weight")
            .ok_or_else(|| candle_core::Error::Msg("umt: no head.weight".into()))?;
        Ok(Self {
            embed_dim: d,
            depth,
            num_heads: d / 64,
            patch_size: p,
            in_chans: c,
            num_classes: head[0],
            ..Self::vit_large_patch16_224()
        })
    }

    fn grid(&self) -> usize {
        self.img_size / self.patch_size
    }

    /// Tokens per clip: frames × grid².
    pub fn num_patches(&self) -> usize {
        self.num_frames * self.grid() * self.grid()
    }

    /// Every key [`Model::new`] reads (`pos_embed` and `fc_norm.*` are optional).
    pub fn keys(&self) -> Vec<String> {
        let mut k = vec![
            "patch_embed.proj.weight".to_string(),
            "patch_embed.proj.bias".to_string(),
            "pos_embed".to_string(),
        ];
        for i in 0..self.depth {
            for s in [
                "norm1.weight",
                "norm1.bias",
                "attn.qkv.weight",
                "attn.q_bias",
                "attn.v_bias",
                "attn.proj.weight",
                "attn.proj.bias",
                "norm2.weight",
                "norm2.bias",
                "mlp.fc1.weight",
                "mlp.fc1.bias",
                "mlp.fc2.weight",
                "mlp.fc2.bias",
            ] {
                k.push(format!("blocks.{i}.{s}"));
            }
        }
        for s in ["fc_norm.weight", "fc_norm.bias", "head.weight", "head.bias"] {
            k.push(s.to_string());
        }
        k
    }
}

/// `get_sinusoid_encoding_table(n_position = frames·g², d_hid = dim, cur_frame = frames,
/// pre_n_position = 8·g²)` for a g×g patch grid (spec §4.4), row-major `(frames·g², dim)`.
///
/// The base table (8·g² positions, `pos / 10000^(2·(j//2)/dim)`, sin on even j, cos on odd j) is
/// computed in f64 like numpy and rounded to f32; when `frames ≠ 8` it is resampled along time
/// like `F.interpolate(mode='linear', align_corners=False)` in f32:
/// `src = max(0, (t + 0.5)·8/frames − 0.5)`, `i0 = ⌊src⌋`, `i1 = min(i0 + 1, 7)`,
/// `out = b[i0]·(1 − λ) + b[i1]·λ` with `λ = src − i0`.
pub fn sinusoid_table(frames: usize, grid: usize, dim: usize) -> Vec<f32> {
    let hw = grid * grid;
    let base_n = PRE_FRAMES * hw;
    let inv: Vec<f64> = (0..dim)
        .map(|j| 10000f64.powf((2 * (j / 2)) as f64 / dim as f64))
        .collect();
    let mut base = vec![0f32; base_n * dim];
    for pos in 0..base_n {
        for j in 0..dim {
            let a = pos as f64 / inv[j];
            base[pos * dim + j] = if j % 2 == 0 { a.sin() } else { a.cos() } as f32;
        }
    }
    if frames == PRE_FRAMES {
        return base;
    }
    let scale = PRE_FRAMES as f32 / frames as f32;
    let mut out = vec![0f32; frames * hw * dim];
    for t in 0..frames {
        let src = (scale * (t as f32 + 0.5) - 0.5).max(0.0);
        let i0 = (src as usize).min(PRE_FRAMES - 1);
        let i1 = (i0 + 1).min(PRE_FRAMES - 1);
        let l1 = (src - i0 as f32).clamp(0.0, 1.0);
        let l0 = 1.0 - l1;
        for p in 0..hw {
            let (b0, b1) = ((i0 * hw + p) * dim, (i1 * hw + p) * dim);
            let o = (t * hw + p) * dim;
            for j in 0..dim {
                out[o + j] = base[b0 + j] * l0 + base[b1 + j] * l1;
            }
        }
    }
    out
}

/// `PatchEmbed` with `tubelet_size = 1`: a Conv3d of kernel (1, p, p) and stride (1, p, p) with
/// bias, written as a patchify (flatten order c, i, j like the kernel's) and one matmul.
#[derive(Debug, Clone)]
struct PatchEmbed {
    /// (c·p·p, D)
    weight_t: Tensor,
    bias: Tensor,
    patch: usize,
}

impl PatchEmbed {
    fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        let p = cfg.patch_size;
        let w = vb.get((cfg.embed_dim, cfg.in_chans, 1, p, p), "proj.weight")?;
        let weight_t = w
            .reshape((cfg.embed_dim, cfg.in_chans * p * p))?
            .t()?
            .contiguous()?;
        Ok(Self {
            weight_t,
            bias: vb.get(cfg.embed_dim, "proj.bias")?,
            patch: p,
        })
    }

    /// (B, C, T, H, W) → (B, T·gh·gw, D), token index t·gh·gw + h·gw + w.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (b, c, t, h, w) = x.dims5()?;
        let p = self.patch;
        let (gh, gw) = (h / p, w / p);
        let patches = x
            .permute((0, 2, 1, 3, 4))? // b, t, c, h, w
            .contiguous()?
            .reshape((b * t, c, gh, p, gw, p))?
            .permute((0, 2, 4, 1, 3, 5))? // bt, gh, gw, c, i, j
            .contiguous()?
            .reshape((b * t * gh * gw, c * p * p))?;
        patches
            .matmul(&self.weight_t)?
            .broadcast_add(&self.bias)?
            .reshape((b, t * gh * gw, ()))
    }
}

/// One `Block` of `modeling_finetune.py`: the shared pre-norm block with UMT's q|0|v bias.
fn umt_block(cfg: &Config, vb: VarBuilder) -> Result<Block> {
    let d = cfg.embed_dim;
    let eps = cfg.layer_norm_eps;
    let at = vb.pp("attn");
    let qkv_w = at.get((3 * d, d), "qkv.weight")?;
    let q_bias = at.get(d, "q_bias")?;
    let v_bias = at.get(d, "v_bias")?;
    // torch.cat((q_bias, zeros_like(v_bias), v_bias)): the k bias is exactly zero
    let bias = Tensor::cat(&[&q_bias, &v_bias.zeros_like()?, &v_bias], 0)?;
    let attn = Attention::new(
        Linear::new(qkv_w, Some(bias)),
        candle_nn::linear(d, d, at.pp("proj"))?,
        cfg.num_heads,
    )?;
    let hidden = d * cfg.mlp_ratio;
    let mlp = Mlp::new(
        candle_nn::linear(d, hidden, vb.pp("mlp").pp("fc1"))?,
        candle_nn::linear(hidden, d, vb.pp("mlp").pp("fc2"))?,
        Activation::GeluErf,
    );
    Ok(Block::new(
        LayerNorm::load(d, eps, vb.pp("norm1"))?,
        attn,
        LayerNorm::load(d, eps, vb.pp("norm2"))?,
        mlp,
    ))
}

#[derive(Debug, Clone)]
pub struct Model {
    patch_embed: PatchEmbed,
    /// (1, N, D)
    pos_embed: Tensor,
    blocks: Vec<Block>,
    fc_norm: LayerNorm,
    head: Linear,
    /// Whether the positional table came from the checkpoint (VBench's strict=False load).
    pos_embed_from_checkpoint: bool,
}

impl Model {
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        let n = cfg.num_patches();
        let d = cfg.embed_dim;
        let dev = vb.device().clone();
        let dtype = vb.dtype();
        let from_ckpt = vb.contains_tensor("pos_embed");
        let pos_embed = if from_ckpt {
            vb.get((1, n, d), "pos_embed")?
        } else {
            Tensor::from_vec(
                sinusoid_table(cfg.num_frames, cfg.grid(), d),
                (1, n, d),
                &Device::Cpu,
            )?
            .to_dtype(dtype)?
            .to_device(&dev)?
        };
        let blocks = (0..cfg.depth)
            .map(|i| umt_block(cfg, vb.pp("blocks").pp(i)))
            .collect::<Result<Vec<_>>>()?;
        let fn_vb = vb.pp("fc_norm");
        let fc_norm = if fn_vb.contains_tensor("weight") || fn_vb.contains_tensor("bias") {
            LayerNorm::load(d, cfg.layer_norm_eps, fn_vb)?
        } else {
            // nn.LayerNorm's init, kept by strict=False when the file lacks fc_norm (spec §4.5)
            LayerNorm::new(
                Tensor::ones(d, dtype, &dev)?,
                Tensor::zeros(d, dtype, &dev)?,
                cfg.layer_norm_eps,
            )
        };
        Ok(Self {
            patch_embed: PatchEmbed::new(cfg, vb.pp("patch_embed"))?,
            pos_embed,
            blocks,
            fc_norm,
            head: candle_nn::linear(d, cfg.num_classes, vb.pp("head"))?,
            pos_embed_from_checkpoint: from_ckpt,
        })
    }

    pub fn pos_embed_from_checkpoint(&self) -> bool {
        self.pos_embed_from_checkpoint
    }

    /// The positional table in use, (1, N, D).
    pub fn pos_embed(&self) -> &Tensor {
        &self.pos_embed
    }

    /// `forward_features`: (B, 3, T, 224, 224) f32, ImageNet-normalised → (B, D), the
    /// `fc_norm` of the token mean.
    pub fn features(&self, x: &Tensor) -> Result<Tensor> {
        let mut h = self
            .patch_embed
            .forward(x)?
            .broadcast_add(&self.pos_embed)?;
        for blk in &self.blocks {
            h = blk.forward(&h, None)?;
        }
        let n = h.dim(1)? as f64;
        let pooled = (h.sum(1)? / n)?;
        self.fc_norm.forward(&pooled)
    }

    /// (B, 3, T, 224, 224) → (B, num_classes) logits (VBench applies the sigmoid).
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.head.forward(&self.features(x)?)
    }

    /// The classifier alone: (B, D) [`Model::features`] → (B, num_classes) logits.
    pub fn head(&self, features: &Tensor) -> Result<Tensor> {
        self.head.forward(features)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::DType;
    use candle_nn::VarMap;

    #[test]
    fn sinusoid_interpolation_weights() {
        // grid 1, dim 2: base rows b_p = (sin p, cos p) for p in 0..8
        let t = sinusoid_table(16, 1, 2);
        let b = |p: usize| [(p as f64).sin() as f32, (p as f64).cos() as f32];
        let mix = |a: usize, wa: f32, c: usize, wc: f32| {
            [b(a)[0] * wa + b(c)[0] * wc, b(a)[1] * wa + b(c)[1] * wc]
        };
        assert_eq!(&t[0..2], &b(0)); // t=0: src clamped to 0
        assert_eq!(&t[2..4], &mix(0, 0.75, 1, 0.25)); // t=1: src 0.25
        assert_eq!(&t[4..6], &mix(0, 0.25, 1, 0.75)); // t=2: src 0.75
        assert_eq!(&t[28..30], &mix(6, 0.25, 7, 0.75)); // t=14: src 6.75
        assert_eq!(&t[30..32], &mix(7, 0.75, 7, 0.25)); // t=15: src 7.25, i1 clamped
        assert_eq!(sinusoid_table(8, 1, 2).len(), 16);
    }

    #[test]
    fn patch_tokens_are_time_major_and_batch_invariant() {
        let dev = Device::Cpu;
        let cfg = Config {
            embed_dim: 8,
            depth: 1,
            num_heads: 2,
            img_size: 32,
            num_frames: 2,
            num_classes: 5,
            ..Config::tiny()
        };
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &dev);
        let m = Model::new(&cfg, vb).unwrap();
        let x = Tensor::randn(0f32, 1., (2, 3, 2, 32, 32), &dev).unwrap();
        let tok = m.patch_embed.forward(&x).unwrap();
        assert_eq!(tok.dims(), &[2, 8, 8]);
        // token (t=1, h=0, w=1) of clip 0 equals the patch embedding of frame 1 alone
        let f1 = x.narrow(2, 1, 1).unwrap();
        let one = m.patch_embed.forward(&f1).unwrap();
        let a: Vec<f32> = tok.get(0).unwrap().get(5).unwrap().to_vec1().unwrap();
        let b: Vec<f32> = one.get(0).unwrap().get(1).unwrap().to_vec1().unwrap();
        for (u, v) in a.iter().zip(&b) {
            assert!((u - v).abs() < 1e-5, "{u} vs {v}");
        }
        let both = m.forward(&x).unwrap();
        let first = m.forward(&x.narrow(0, 0, 1).unwrap()).unwrap();
        let d = (both.narrow(0, 0, 1).unwrap() - first)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(d < 1e-5, "{d}");
        assert!(!m.pos_embed_from_checkpoint());
    }
}
