//! DINO ViT-B/16 (`facebookresearch/dino` `vision_transformer.py`, `hubconf.dino_vitb16`),
//! loaded from the transformers `ViTModel` layout of `facebook/dino-vitb16`.
//!
//! Keys (no `vit.` prefix): `embeddings.{cls_token (1,1,D), position_embeddings (1,N+1,D),
//! patch_embeddings.projection.{weight (D,C,P,P), bias}}`,
//! `encoder.layer.N.{attention.attention.{query,key,value}, attention.output.dense,
//! intermediate.dense, output.dense, layernorm_before, layernorm_after}.{weight,bias}`,
//! `layernorm.{weight,bias}`. Extra keys (`pooler.*`) are ignored.
//!
//! DINO's maths, not HF's (spec 10-frame-dims.md §8.1, §12.2):
//! - LayerNorm eps 1e-6 whatever config.json says (the HF conversion left ViTConfig's 1e-12);
//! - exact erf GELU;
//! - patch grid floor(H/P) × floor(W/P), leftover bottom rows / right columns ignored;
//! - positional embeddings interpolated as DINO's `interpolate_pos_encoding` (§8.1.3): unless
//!   npatch == N and H == W, bicubic (A = −0.75, align_corners=False) in *scale* mode with
//!   scale factors ((gh + 0.1)/√N, (gw + 0.1)/√N), i.e. step f32(√N/(g + 0.1)), computed once per
//!   grid on the CPU in f32 with [`crate::nn::resample`] and cached; transformers ≥ 4.4x's
//!   `size=` variant (no +0.1) is *not* used;
//! - output: the CLS token after the final LayerNorm (not L2-normalised).

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use candle_core::{DType, Device, IndexOp, Module, Result, Tensor};
use candle_nn::{Conv2d, Conv2dConfig, VarBuilder};
use serde::{Deserialize, Serialize};

use crate::nn::resample::resize_bicubic;
use crate::nn::vit::{hf_vit_layer, Activation, Block, LayerDims, LayerNorm};

/// DINO's `partial(nn.LayerNorm, eps=1e-6)` (spec §8.1.1, §8.1.4 item 1, §12.2 item 10).
pub const DINO_LAYER_NORM_EPS: f64 = 1e-6;

/// DINO's offset added to the patch grid before computing the interpolation scale (§8.1.3).
const POS_INTERP_OFFSET: f64 = 0.1;

/// Fields of a transformers `ViTConfig` (defaults are `ViTConfig`'s) plus DINO's LayerNorm eps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub image_size: usize,
    pub patch_size: usize,
    pub num_channels: usize,
    pub qkv_bias: bool,
    /// Must be `"gelu"` (exact erf).
    pub hidden_act: String,
    /// Always DINO's 1e-6: config.json's `layer_norm_eps` (1e-12 in `facebook/dino-vitb16`) is
    /// deliberately not read (spec 10-frame-dims.md §8.1.4 item 1).
    #[serde(skip_deserializing)]
    pub layer_norm_eps: f64,
}

impl Default for Config {
    fn default() -> Self {
        Self::dino_vitb16()
    }
}

impl Config {
    /// `dino_vitb16` / `facebook/dino-vitb16`.
    pub fn dino_vitb16() -> Self {
        Self {
            hidden_size: 768,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            intermediate_size: 3072,
            image_size: 224,
            patch_size: 16,
            num_channels: 3,
            qkv_bias: true,
            hidden_act: "gelu".to_string(),
            layer_norm_eps: DINO_LAYER_NORM_EPS,
        }
    }

    /// Parses an HF ViT `config.json`, setting `layer_norm_eps` to DINO's 1e-6.
    pub fn from_json_str(json: &str) -> Result<Self> {
        let mut cfg: Config = serde_json::from_str(json)
            .map_err(|e| candle_core::Error::msg(format!("DINO ViT config.json: {e}")))?;
        cfg.layer_norm_eps = DINO_LAYER_NORM_EPS;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Reads and parses an HF ViT `config.json` file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| candle_core::Error::msg(format!("reading {}: {e}", path.display())))?;
        Self::from_json_str(&text).map_err(|e| e.context(path.display().to_string()))
    }

    pub fn validate(&self) -> Result<()> {
        if self.hidden_act != "gelu" {
            candle_core::bail!(
                "DINO ViT hidden_act is {:?}; only exact \"gelu\" is supported",
                self.hidden_act
            );
        }
        if self.hidden_size.checked_rem(self.num_attention_heads) != Some(0) {
            candle_core::bail!(
                "DINO ViT hidden_size {} not divisible by {} heads",
                self.hidden_size,
                self.num_attention_heads
            );
        }
        if self.image_size.checked_rem(self.patch_size) != Some(0) {
            candle_core::bail!(
                "DINO ViT image_size {} is not a multiple of patch_size {}",
                self.image_size,
                self.patch_size
            );
        }
        Ok(())
    }
}

/// DINO ViT returning the final-LayerNorm CLS token.
#[derive(Debug, Clone)]
pub struct Model {
    patch_embed: Conv2d,
    cls_token: Tensor,
    /// (1, N+1, D) on the model's device.
    pos_embed: Tensor,
    /// CLS position row, CPU f32, (1, D).
    pos_cls_cpu: Tensor,
    /// Patch positions as planar (D, S, S) CPU f32, the layout `F.interpolate` sees.
    pos_grid: Arc<Vec<f32>>,
    /// S = √N.
    grid_side: usize,
    blocks: Vec<Block>,
    norm: LayerNorm,
    hidden: usize,
    patch: usize,
    channels: usize,
    dtype: DType,
    device: Device,
    pos_cache: Arc<Mutex<HashMap<(usize, usize), Tensor>>>,
}

impl Model {
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        cfg.validate()?;
        let d = cfg.hidden_size;
        let emb = vb.pp("embeddings");
        let grid_side = cfg.image_size / cfg.patch_size;
        let n = grid_side * grid_side;
        let cls_token = emb.get((1, 1, d), "cls_token")?;
        let pos_embed = emb.get((1, n + 1, d), "position_embeddings")?;
        let patch_embed = candle_nn::conv2d(
            cfg.num_channels,
            d,
            cfg.patch_size,
            Conv2dConfig {
                stride: cfg.patch_size,
                ..Default::default()
            },
            emb.pp("patch_embeddings").pp("projection"),
        )?;
        let pos_cpu = pos_embed
            .to_device(&Device::Cpu)?
            .to_dtype(DType::F32)?
            .squeeze(0)?;
        let pos_cls_cpu = pos_cpu.narrow(0, 0, 1)?.contiguous()?;
        let pos_grid = pos_cpu
            .narrow(0, 1, n)?
            .t()?
            .contiguous()?
            .flatten_all()?
            .to_vec1::<f32>()?;
        let dims = LayerDims {
            hidden: d,
            heads: cfg.num_attention_heads,
            mlp_hidden: cfg.intermediate_size,
            qkv_bias: cfg.qkv_bias,
            eps: cfg.layer_norm_eps,
            act: Activation::GeluErf,
        };
        let layers = vb.pp("encoder").pp("layer");
        let blocks = (0..cfg.num_hidden_layers)
            .map(|i| hf_vit_layer(&dims, layers.pp(i)))
            .collect::<Result<Vec<_>>>()?;
        let norm = LayerNorm::load(d, cfg.layer_norm_eps, vb.pp("layernorm"))?;
        Ok(Self {
            patch_embed,
            cls_token,
            pos_embed,
            pos_cls_cpu,
            pos_grid: Arc::new(pos_grid),
            grid_side,
            blocks,
            norm,
            hidden: d,
            patch: cfg.patch_size,
            channels: cfg.num_channels,
            dtype: vb.dtype(),
            device: vb.device().clone(),
            pos_cache: Arc::new(Mutex::new(HashMap::new())),
        })
    }

    /// Patch grid (floor(H/P), floor(W/P)) for an input of height `h` and width `w`.
    pub fn grid(&self, h: usize, w: usize) -> (usize, usize) {
        (h / self.patch, w / self.patch)
    }

    /// Positional embeddings (1, 1 + gh·gw, D) that DINO adds for an `h`×`w` input (§8.1.3).
    pub fn position_embeddings(&self, h: usize, w: usize) -> Result<Tensor> {
        let (gh, gw) = self.grid(h, w);
        let n = self.grid_side * self.grid_side;
        if gh * gw == n && h == w {
            return Ok(self.pos_embed.clone());
        }
        let poisoned = |_| candle_core::Error::msg("DINO position-embedding cache lock poisoned");
        if let Some(t) = self.pos_cache.lock().map_err(poisoned)?.get(&(gh, gw)) {
            return Ok(t.clone());
        }
        let t = self.interpolate_pos(gh, gw)?;
        self.pos_cache
            .lock()
            .map_err(poisoned)?
            .insert((gh, gw), t.clone());
        Ok(t)
    }

    fn interpolate_pos(&self, gh: usize, gw: usize) -> Result<Tensor> {
        let s = self.grid_side;
        // `scale_factor=(w0 / math.sqrt(N), h0 / math.sqrt(N))` with w0 = gh + 0.1 (DINO's `w`
        // is the height), evaluated in f64 as Python does.
        let sqrt_n = ((s * s) as f64).sqrt();
        let sf_h = (gh as f64 + POS_INTERP_OFFSET) / sqrt_n;
        let sf_w = (gw as f64 + POS_INTERP_OFFSET) / sqrt_n;
        // torch's output size is floor(S · sf); DINO asserts it equals the grid.
        let (oh, ow) = (
            (s as f64 * sf_h).floor() as usize,
            (s as f64 * sf_w).floor() as usize,
        );
        if (oh, ow) != (gh, gw) {
            candle_core::bail!(
                "DINO pos-embedding interpolation gives {oh}x{ow}, not the {gh}x{gw} patch grid"
            );
        }
        let data = resize_bicubic(
            &self.pos_grid,
            self.hidden,
            s,
            s,
            gh,
            gw,
            Some((sf_h, sf_w)),
        );
        let patch = Tensor::from_vec(data, (self.hidden, gh * gw), &Device::Cpu)?.t()?;
        Tensor::cat(&[&self.pos_cls_cpu, &patch], 0)?
            .unsqueeze(0)?
            .to_dtype(self.dtype)?
            .to_device(&self.device)
    }

    /// `pixels`: (B, C, H, W) normalised, H, W ≥ patch size → (B, hidden) f32: the CLS token
    /// after the final LayerNorm.
    pub fn forward(&self, pixels: &Tensor) -> Result<Tensor> {
        let (b, c, h, w) = pixels.dims4()?;
        let (gh, gw) = self.grid(h, w);
        if c != self.channels || gh == 0 || gw == 0 {
            candle_core::bail!(
                "DINO ViT: input is ({c}, {h}, {w}); need {} channels and sides ≥ {}",
                self.channels,
                self.patch
            );
        }
        let mut x = pixels.to_dtype(self.dtype)?;
        if gh * self.patch != h || gw * self.patch != w {
            // The strided conv ignores leftovers; cut them explicitly.
            x = x
                .narrow(2, 0, gh * self.patch)?
                .narrow(3, 0, gw * self.patch)?
                .contiguous()?;
        }
        let patches = self
            .patch_embed
            .forward(&x)?
            .flatten_from(2)?
            .transpose(1, 2)?;
        let cls = self.cls_token.expand((b, 1, self.hidden))?;
        let mut x =
            Tensor::cat(&[&cls, &patches], 1)?.broadcast_add(&self.position_embeddings(h, w)?)?;
        for block in &self.blocks {
            x = block.forward(&x, None)?;
        }
        // LayerNorm is per token, so normalising token 0 alone equals DINO's `norm(x)[:, 0]`.
        let cls = x.i((.., 0..1, ..))?.contiguous()?;
        self.norm.forward(&cls)?.squeeze(1)?.to_dtype(DType::F32)
    }
}

#[cfg(test)]
mod tests;
