//! CLIP (OpenAI ViT-B/32 and ViT-L/14) in the transformers `CLIPModel` layout.
//!
//! Reference: OpenAI `clip/model.py` (`VisionTransformer`, `CLIP.encode_image`,
//! `CLIP.encode_text`) as ported by transformers `models/clip/modeling_clip.py`; spec
//! 10-frame-dims.md §8.2, §8.3 and §9. The towers are `candle_transformers::models::clip`, which
//! computes the OpenAI maths in f32: conv patch embedding without bias, class token and learned
//! positions, `pre_layrnorm`, pre-LN blocks with QuickGELU and head_dim^-0.5 scaling,
//! `post_layernorm` on token 0, then the bias-free projection; the text tower uses a causal mask
//! and pools at `argmax(ids)` (EOT), then `text_projection`. LayerNorm eps is 1e-5 everywhere.
//!
//! Keys: `vision_model.embeddings.{class_embedding, patch_embedding.weight,
//! position_embedding.weight}`, `vision_model.pre_layrnorm.*`,
//! `vision_model.encoder.layers.N.{layer_norm1, layer_norm2, self_attn.{q,k,v,out}_proj,
//! mlp.fc1, mlp.fc2}.*`, `vision_model.post_layernorm.*`, `visual_projection.weight`
//! (embed × width), `text_model.embeddings.{token_embedding, position_embedding}.weight`,
//! `text_model.encoder.layers.N.*`, `text_model.final_layer_norm.*`, `text_projection.weight`,
//! `logit_scale` (scalar). `position_ids` buffers are ignored.
//!
//! candle silently substitutes a random `class_embedding` and a constant `logit_scale` when those
//! keys are missing; [`Model::new`] turns that into an error naming the key.

use std::path::Path;

use candle_core::{DType, Module, Result, Tensor};
use candle_nn::{Linear, VarBuilder};
use candle_transformers::models::clip::{
    text_model::{Activation, ClipTextConfig, ClipTextTransformer},
    vision_model::{ClipVisionConfig, ClipVisionTransformer},
};
use serde::{Deserialize, Serialize};

/// The only activation the candle towers implement (and the one both OpenAI checkpoints use).
const QUICK_GELU: &str = "quick_gelu";
/// LayerNorm eps hard-coded in candle's CLIP towers (OpenAI and the HF configs use 1e-5).
const LAYER_NORM_EPS: f64 = 1e-5;

/// `text_config` of a transformers `CLIPConfig`; defaults are `CLIPTextConfig`'s.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TextConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub max_position_embeddings: usize,
    pub hidden_act: String,
    pub layer_norm_eps: f64,
}

impl Default for TextConfig {
    fn default() -> Self {
        Self {
            vocab_size: 49408,
            hidden_size: 512,
            intermediate_size: 2048,
            num_hidden_layers: 12,
            num_attention_heads: 8,
            max_position_embeddings: 77,
            hidden_act: QUICK_GELU.to_string(),
            layer_norm_eps: LAYER_NORM_EPS,
        }
    }
}

/// `vision_config` of a transformers `CLIPConfig`; defaults are `CLIPVisionConfig`'s.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VisionConfig {
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_channels: usize,
    pub image_size: usize,
    pub patch_size: usize,
    pub hidden_act: String,
    pub layer_norm_eps: f64,
}

impl Default for VisionConfig {
    fn default() -> Self {
        Self {
            hidden_size: 768,
            intermediate_size: 3072,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            num_channels: 3,
            image_size: 224,
            patch_size: 32,
            hidden_act: QUICK_GELU.to_string(),
            layer_norm_eps: LAYER_NORM_EPS,
        }
    }
}

/// A transformers `CLIPConfig` (the fields the network needs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    #[serde(default)]
    pub text_config: TextConfig,
    #[serde(default)]
    pub vision_config: VisionConfig,
    /// Output width of both projections (`CLIPModel` uses the top-level value).
    #[serde(default = "default_projection_dim")]
    pub projection_dim: usize,
}

fn default_projection_dim() -> usize {
    512
}

impl Config {
    /// `openai/clip-vit-base-patch32` (background_consistency, appearance_style).
    pub fn vit_base_patch32() -> Self {
        Self {
            text_config: TextConfig::default(),
            vision_config: VisionConfig::default(),
            projection_dim: 512,
        }
    }

    /// `openai/clip-vit-large-patch14` (aesthetic_quality).
    pub fn vit_large_patch14() -> Self {
        Self {
            text_config: TextConfig {
                hidden_size: 768,
                intermediate_size: 3072,
                num_attention_heads: 12,
                ..TextConfig::default()
            },
            vision_config: VisionConfig {
                hidden_size: 1024,
                intermediate_size: 4096,
                num_hidden_layers: 24,
                num_attention_heads: 16,
                patch_size: 14,
                ..VisionConfig::default()
            },
            projection_dim: 768,
        }
    }

    /// Parses an HF `config.json`. As in transformers' `CLIPConfig.__init__`, a non-null
    /// `text_config_dict` / `vision_config_dict` (older configs) overrides the matching keys of
    /// `text_config` / `vision_config`. The result is validated ([`Config::validate`]).
    pub fn from_json_str(json: &str) -> Result<Self> {
        let cfg = Self::from_json_str_unvalidated(json)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// [`Config::from_json_str`] without the candle-tower checks, for towers that compute other
    /// activations (`pickscore`'s exact GELU).
    pub fn from_json_str_unvalidated(json: &str) -> Result<Self> {
        let mut v: serde_json::Value = serde_json::from_str(json).map_err(|e| {
            candle_core::Error::msg(format!("CLIP config.json is not valid JSON: {e}"))
        })?;
        if let Some(obj) = v.as_object_mut() {
            for (base, over) in [
                ("text_config", "text_config_dict"),
                ("vision_config", "vision_config_dict"),
            ] {
                let Some(serde_json::Value::Object(extra)) = obj.remove(over) else {
                    continue;
                };
                let entry = obj
                    .entry(base)
                    .or_insert_with(|| serde_json::Value::Object(Default::default()));
                if entry.is_null() {
                    *entry = serde_json::Value::Object(Default::default());
                }
                if let Some(b) = entry.as_object_mut() {
                    b.extend(extra);
                }
            }
            for key in ["text_config", "vision_config"] {
                if obj.get(key).is_some_and(|x| x.is_null()) {
                    obj.remove(key);
                }
            }
        }
        serde_json::from_value(v)
            .map_err(|e| candle_core::Error::msg(format!("CLIP config.json: {e}")))
    }

    /// Reads and parses an HF `config.json` file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| candle_core::Error::msg(format!("reading {}: {e}", path.display())))?;
        Self::from_json_str(&text).map_err(|e| e.context(path.display().to_string()))
    }

    /// Checks what the candle towers can compute: QuickGELU, LayerNorm eps 1e-5, whole heads
    /// and patches.
    pub fn validate(&self) -> Result<()> {
        let t = &self.text_config;
        let v = &self.vision_config;
        for (tower, act, eps) in [
            ("text_config", &t.hidden_act, t.layer_norm_eps),
            ("vision_config", &v.hidden_act, v.layer_norm_eps),
        ] {
            if act != QUICK_GELU {
                candle_core::bail!(
                    "CLIP {tower}.hidden_act is {act:?}; only \"quick_gelu\" is supported"
                );
            }
            if eps != LAYER_NORM_EPS {
                candle_core::bail!("CLIP {tower}.layer_norm_eps is {eps}; only 1e-5 is supported");
            }
        }
        if t.hidden_size.checked_rem(t.num_attention_heads) != Some(0) {
            candle_core::bail!(
                "CLIP text hidden_size {} not divisible by {} heads",
                t.hidden_size,
                t.num_attention_heads
            );
        }
        if v.hidden_size.checked_rem(v.num_attention_heads) != Some(0) {
            candle_core::bail!(
                "CLIP vision hidden_size {} not divisible by {} heads",
                v.hidden_size,
                v.num_attention_heads
            );
        }
        if v.image_size.checked_rem(v.patch_size) != Some(0) {
            candle_core::bail!(
                "CLIP image_size {} is not a multiple of patch_size {}",
                v.image_size,
                v.patch_size
            );
        }
        Ok(())
    }

    fn candle_text(&self) -> ClipTextConfig {
        let t = &self.text_config;
        ClipTextConfig {
            vocab_size: t.vocab_size,
            embed_dim: t.hidden_size,
            activation: Activation::QuickGelu,
            intermediate_size: t.intermediate_size,
            max_position_embeddings: t.max_position_embeddings,
            pad_with: None,
            num_hidden_layers: t.num_hidden_layers,
            num_attention_heads: t.num_attention_heads,
            projection_dim: self.projection_dim,
        }
    }

    fn candle_vision(&self) -> ClipVisionConfig {
        let v = &self.vision_config;
        ClipVisionConfig {
            embed_dim: v.hidden_size,
            activation: Activation::QuickGelu,
            intermediate_size: v.intermediate_size,
            num_hidden_layers: v.num_hidden_layers,
            num_attention_heads: v.num_attention_heads,
            projection_dim: self.projection_dim,
            num_channels: v.num_channels,
            image_size: v.image_size,
            patch_size: v.patch_size,
        }
    }
}

/// Key whose absence candle would paper over with a random tensor.
pub const CLASS_EMBEDDING_KEY: &str = "vision_model.embeddings.class_embedding";
/// Key whose absence candle would paper over with a constant.
pub const LOGIT_SCALE_KEY: &str = "logit_scale";

fn require_key(vb: &VarBuilder, name: &str) -> Result<()> {
    if vb.contains_tensor(name) {
        return Ok(());
    }
    let prefix = vb.prefix();
    let path = if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    };
    Err(candle_core::Error::CannotFindTensor { path }.bt())
}

fn read_logit_scale(vb: &VarBuilder) -> Result<f32> {
    // transformers stores a 0-d tensor; accept a 1-element vector too.
    let t = match vb.get((), LOGIT_SCALE_KEY) {
        Ok(t) => t,
        Err(scalar_err) => vb.get(1, LOGIT_SCALE_KEY).map_err(|_| scalar_err)?,
    };
    t.to_dtype(DType::F32)?
        .flatten_all()?
        .to_vec1::<f32>()?
        .first()
        .copied()
        .ok_or_else(|| candle_core::Error::msg(format!("{LOGIT_SCALE_KEY} is empty")))
}

#[derive(Debug, Clone)]
struct TextTower {
    model: ClipTextTransformer,
    projection: Linear,
    max_len: usize,
}

/// CLIP image tower with projection, and optionally the text tower.
#[derive(Debug, Clone)]
pub struct Model {
    vision: ClipVisionTransformer,
    visual_projection: Linear,
    text: Option<TextTower>,
    logit_scale: Option<f32>,
    image_size: usize,
    num_channels: usize,
    dtype: DType,
}

impl Model {
    /// Both towers; requires every `CLIPModel` key including `logit_scale`.
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        require_key(&vb, LOGIT_SCALE_KEY)?;
        let mut m = Self::new_vision(cfg, vb.clone())?;
        let tc = cfg.candle_text();
        m.text = Some(TextTower {
            model: ClipTextTransformer::new(vb.pp("text_model"), &tc)?,
            projection: candle_nn::linear_no_bias(
                tc.embed_dim,
                cfg.projection_dim,
                vb.pp("text_projection"),
            )?,
            max_len: tc.max_position_embeddings,
        });
        Ok(m)
    }

    /// The image tower and `visual_projection` only; no `text_model.*` keys are read.
    /// `logit_scale` is read when present.
    pub fn new_vision(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        cfg.validate()?;
        require_key(&vb, CLASS_EMBEDDING_KEY)?;
        let vc = cfg.candle_vision();
        let vision = ClipVisionTransformer::new(vb.pp("vision_model"), &vc)?;
        let visual_projection = candle_nn::linear_no_bias(
            vc.embed_dim,
            cfg.projection_dim,
            vb.pp("visual_projection"),
        )?;
        let logit_scale = if vb.contains_tensor(LOGIT_SCALE_KEY) {
            Some(read_logit_scale(&vb)?)
        } else {
            None
        };
        Ok(Self {
            vision,
            visual_projection,
            text: None,
            logit_scale,
            image_size: vc.image_size,
            num_channels: vc.num_channels,
            dtype: vb.dtype(),
        })
    }

    /// `pixels`: (B, 3, S, S) normalised, S = `image_size` → (B, projection_dim) f32, projected
    /// and not normalised (`CLIP.encode_image`). The input is cast to the weights' dtype.
    pub fn image_features(&self, pixels: &Tensor) -> Result<Tensor> {
        let (_, c, h, w) = pixels.dims4()?;
        if c != self.num_channels || h != self.image_size || w != self.image_size {
            candle_core::bail!(
                "CLIP image_features: input is ({c}, {h}, {w}), expected ({}, {s}, {s})",
                self.num_channels,
                s = self.image_size
            );
        }
        let x = pixels.to_dtype(self.dtype)?;
        self.vision
            .forward(&x)?
            .apply(&self.visual_projection)?
            .to_dtype(DType::F32)
    }

    /// `ids`: (B, L) u32 token ids with EOT (the largest id) at the pooled position, L ≤
    /// `max_position_embeddings` → (B, projection_dim) f32 (`CLIP.encode_text`).
    pub fn text_features(&self, ids: &Tensor) -> Result<Tensor> {
        let Some(text) = &self.text else {
            candle_core::bail!("CLIP text_features: model was built without the text tower");
        };
        let (_, len) = ids.dims2()?;
        if len == 0 || len > text.max_len {
            candle_core::bail!(
                "CLIP text_features: {len} tokens, expected 1..={}",
                text.max_len
            );
        }
        text.model
            .forward(ids)?
            .apply(&text.projection)?
            .to_dtype(DType::F32)
    }

    /// The stored `logit_scale` (before `exp`).
    pub fn logit_scale(&self) -> Result<f32> {
        self.logit_scale.ok_or_else(|| {
            candle_core::Error::CannotFindTensor {
                path: LOGIT_SCALE_KEY.to_string(),
            }
            .bt()
        })
    }

    pub fn has_text_tower(&self) -> bool {
        self.text.is_some()
    }

    pub fn image_size(&self) -> usize {
        self.image_size
    }
}

#[cfg(test)]
mod tests;
