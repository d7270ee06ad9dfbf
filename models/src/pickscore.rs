//! PickScore (`yuvalkirstain/PickScore_v1`): an OpenCLIP ViT-H/14 fine-tuned on Pick-a-Pic, in
//! the transformers `CLIPModel` layout, with **exact (erf) GELU** (`hidden_act: "gelu"`), which
//! the candle CLIP towers behind [`crate::clip`] cannot compute. The towers here are built from
//! the shared pre-LN blocks in [`crate::nn::vit`]; any `hidden_act` of `"gelu"` or
//! `"quick_gelu"` works, so the same code also runs OpenAI-style CLIP configs.
//!
//! Reference: transformers 4.46 `models/clip/modeling_clip.py` (`CLIPVisionEmbeddings`,
//! `CLIPTextEmbeddings`, `CLIPEncoderLayer`, `CLIPTextTransformer`, `CLIPVisionTransformer`,
//! `CLIPModel.get_image_features` / `get_text_features`) and the PickScore model card:
//! `score = logit_scale.exp() · cos(text_emb, image_emb)`.
//!
//! Keys (same as [`crate::clip`]): `vision_model.embeddings.{class_embedding,
//! patch_embedding.weight, position_embedding.weight}`, `vision_model.pre_layrnorm.*` (sic),
//! `vision_model.encoder.layers.N.{layer_norm1, self_attn.{q,k,v,out}_proj, layer_norm2,
//! mlp.fc1, mlp.fc2}.*`, `vision_model.post_layernorm.*`, `visual_projection.weight`,
//! `text_model.embeddings.{token_embedding, position_embedding}.weight`,
//! `text_model.encoder.layers.N.*`, `text_model.final_layer_norm.*`, `text_projection.weight`,
//! `logit_scale`.
//!
//! Text pooling: transformers pools at `argmax(input_ids)` (configs with `eos_token_id == 2`) or
//! at the first `eos_token_id`; with the CLIP vocabulary EOT (49407) is the largest id, so both
//! are the first EOT, which is what [`Model::text_features`] takes. Tokens after it cannot change
//! the pooled state (causal mask), so padding is irrelevant.

use candle_core::{DType, Module, Result, Tensor, D};
use candle_nn::{Conv2d, Conv2dConfig, Embedding, Linear, VarBuilder};

use crate::clip::{Config, CLASS_EMBEDDING_KEY, LOGIT_SCALE_KEY};
use crate::nn::vit::{Activation, Attention, Block, LayerNorm, Mlp};

fn activation(name: &str) -> Result<Activation> {
    match name {
        "gelu" => Ok(Activation::GeluErf),
        "quick_gelu" => Ok(Activation::QuickGelu),
        other => candle_core::bail!(
            "PickScore/CLIP hidden_act {other:?} is not supported (\"gelu\", \"quick_gelu\")"
        ),
    }
}

/// One `CLIPEncoderLayer` (`encoder.layers.N`).
fn clip_layer(
    hidden: usize,
    inter: usize,
    heads: usize,
    eps: f64,
    act: Activation,
    vb: VarBuilder,
) -> Result<Block> {
    let sa = vb.pp("self_attn");
    let attn = Attention::from_separate(
        candle_nn::linear(hidden, hidden, sa.pp("q_proj"))?,
        candle_nn::linear(hidden, hidden, sa.pp("k_proj"))?,
        candle_nn::linear(hidden, hidden, sa.pp("v_proj"))?,
        candle_nn::linear(hidden, hidden, sa.pp("out_proj"))?,
        heads,
    )?;
    let mlp = Mlp::new(
        candle_nn::linear(hidden, inter, vb.pp("mlp").pp("fc1"))?,
        candle_nn::linear(inter, hidden, vb.pp("mlp").pp("fc2"))?,
        act,
    );
    Ok(Block::new(
        LayerNorm::load(hidden, eps, vb.pp("layer_norm1"))?,
        attn,
        LayerNorm::load(hidden, eps, vb.pp("layer_norm2"))?,
        mlp,
    ))
}

fn layers(
    n: usize,
    hidden: usize,
    inter: usize,
    heads: usize,
    eps: f64,
    act: Activation,
    vb: VarBuilder,
) -> Result<Vec<Block>> {
    (0..n)
        .map(|i| clip_layer(hidden, inter, heads, eps, act, vb.pp(i)))
        .collect()
}

#[derive(Debug, Clone)]
struct Vision {
    patch_embedding: Conv2d,
    class_embedding: Tensor,
    position_embedding: Tensor,
    pre_layrnorm: LayerNorm,
    layers: Vec<Block>,
    post_layernorm: LayerNorm,
}

#[derive(Debug, Clone)]
struct Text {
    token_embedding: Embedding,
    position_embedding: Tensor,
    layers: Vec<Block>,
    final_layer_norm: LayerNorm,
}

/// Both CLIP towers with their projections and `logit_scale`.
#[derive(Debug, Clone)]
pub struct Model {
    vision: Vision,
    visual_projection: Linear,
    text: Text,
    text_projection: Linear,
    logit_scale: f32,
    image_size: usize,
    max_positions: usize,
    dtype: DType,
}

impl Model {
    /// Every `CLIPModel` key is required (a missing one is an error naming it).
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        let v = &cfg.vision_config;
        let t = &cfg.text_config;
        if !v.hidden_size.is_multiple_of(v.num_attention_heads)
            || !t.hidden_size.is_multiple_of(t.num_attention_heads)
        {
            candle_core::bail!("PickScore/CLIP: hidden size not divisible by the head count");
        }
        if v.patch_size == 0 || !v.image_size.is_multiple_of(v.patch_size) {
            candle_core::bail!(
                "PickScore/CLIP: image_size {} is not a multiple of patch_size {}",
                v.image_size,
                v.patch_size
            );
        }
        for key in [CLASS_EMBEDDING_KEY, LOGIT_SCALE_KEY] {
            if !vb.contains_tensor(key) {
                return Err(candle_core::Error::CannotFindTensor { path: key.into() }.bt());
            }
        }
        let vvb = vb.pp("vision_model");
        let emb = vvb.pp("embeddings");
        let num_positions = (v.image_size / v.patch_size).pow(2) + 1;
        let vision = Vision {
            patch_embedding: candle_nn::conv2d_no_bias(
                v.num_channels,
                v.hidden_size,
                v.patch_size,
                Conv2dConfig {
                    stride: v.patch_size,
                    ..Default::default()
                },
                emb.pp("patch_embedding"),
            )?,
            class_embedding: emb.get(v.hidden_size, "class_embedding")?,
            position_embedding: emb
                .pp("position_embedding")
                .get((num_positions, v.hidden_size), "weight")?,
            pre_layrnorm: LayerNorm::load(v.hidden_size, v.layer_norm_eps, vvb.pp("pre_layrnorm"))?,
            layers: layers(
                v.num_hidden_layers,
                v.hidden_size,
                v.intermediate_size,
                v.num_attention_heads,
                v.layer_norm_eps,
                activation(&v.hidden_act)?,
                vvb.pp("encoder").pp("layers"),
            )?,
            post_layernorm: LayerNorm::load(
                v.hidden_size,
                v.layer_norm_eps,
                vvb.pp("post_layernorm"),
            )?,
        };
        let tvb = vb.pp("text_model");
        let temb = tvb.pp("embeddings");
        let text = Text {
            token_embedding: candle_nn::embedding(
                t.vocab_size,
                t.hidden_size,
                temb.pp("token_embedding"),
            )?,
            position_embedding: temb
                .pp("position_embedding")
                .get((t.max_position_embeddings, t.hidden_size), "weight")?,
            layers: layers(
                t.num_hidden_layers,
                t.hidden_size,
                t.intermediate_size,
                t.num_attention_heads,
                t.layer_norm_eps,
                activation(&t.hidden_act)?,
                tvb.pp("encoder").pp("layers"),
            )?,
            final_layer_norm: LayerNorm::load(
                t.hidden_size,
                t.layer_norm_eps,
                tvb.pp("final_layer_norm"),
            )?,
        };
        let logit_scale = vb
            .get((), LOGIT_SCALE_KEY)
            .or_else(|_| vb.get(1, LOGIT_SCALE_KEY))?
            .to_dtype(DType::F32)?
            .flatten_all()?
            .to_vec1::<f32>()?
            .first()
            .copied()
            .ok_or_else(|| candle_core::Error::msg(format!("{LOGIT_SCALE_KEY} is empty")))?;
        Ok(Self {
            vision,
            visual_projection: candle_nn::linear_no_bias(
                v.hidden_size,
                cfg.projection_dim,
                vb.pp("visual_projection"),
            )?,
            text,
            text_projection: candle_nn::linear_no_bias(
                t.hidden_size,
                cfg.projection_dim,
                vb.pp("text_projection"),
            )?,
            logit_scale,
            image_size: v.image_size,
            max_positions: t.max_position_embeddings,
            dtype: vb.dtype(),
        })
    }

    /// `pixels`: (B, 3, S, S) normalised, S = `image_size` → (B, projection_dim) f32, projected,
    /// not normalised (`CLIPModel.get_image_features`).
    pub fn image_features(&self, pixels: &Tensor) -> Result<Tensor> {
        let (b, _, h, w) = pixels.dims4()?;
        if h != self.image_size || w != self.image_size {
            candle_core::bail!(
                "PickScore image_features: input is {h}x{w}, expected {s}x{s}",
                s = self.image_size
            );
        }
        let v = &self.vision;
        let x = pixels.to_dtype(self.dtype)?;
        let patches = v
            .patch_embedding
            .forward(&x)?
            .flatten_from(2)?
            .transpose(1, 2)?; // (B, N, C)
        let c = patches.dim(2)?;
        let cls = v
            .class_embedding
            .reshape((1, 1, c))?
            .broadcast_as((b, 1, c))?;
        let mut h = Tensor::cat(&[&cls, &patches], 1)?
            .broadcast_add(&v.position_embedding.unsqueeze(0)?)?;
        h = v.pre_layrnorm.forward(&h)?;
        for layer in &v.layers {
            h = layer.forward(&h, None)?;
        }
        let pooled = v.post_layernorm.forward(&h.narrow(1, 0, 1)?.squeeze(1)?)?;
        self.visual_projection
            .forward(&pooled)?
            .to_dtype(DType::F32)
    }

    /// `ids`: (B, L) u32 with an EOT (the largest id) in each row, L ≤ `max_position_embeddings`
    /// → (B, projection_dim) f32 (`CLIPModel.get_text_features`).
    pub fn text_features(&self, ids: &Tensor) -> Result<Tensor> {
        let (b, len) = ids.dims2()?;
        if len == 0 || len > self.max_positions {
            candle_core::bail!(
                "PickScore text_features: {len} tokens, expected 1..={}",
                self.max_positions
            );
        }
        let t = &self.text;
        let mut h = t
            .token_embedding
            .forward(ids)?
            .broadcast_add(&t.position_embedding.narrow(0, 0, len)?.unsqueeze(0)?)?;
        let mask = causal_mask(len, h.dtype(), h.device())?;
        for layer in &t.layers {
            h = layer.forward(&h, Some(&mask))?;
        }
        let h = t.final_layer_norm.forward(&h)?;
        // first position of the largest id in each row
        let rows = ids.to_dtype(DType::U32)?.to_vec2::<u32>()?;
        let mut pooled = Vec::with_capacity(b);
        for (i, row) in rows.iter().enumerate() {
            let max = row.iter().copied().max().unwrap_or(0);
            let pos = row.iter().position(|&x| x == max).unwrap_or(0);
            pooled.push(h.get(i)?.get(pos)?.unsqueeze(0)?);
        }
        let pooled = Tensor::cat(&pooled, 0)?;
        self.text_projection.forward(&pooled)?.to_dtype(DType::F32)
    }

    /// The stored `logit_scale` (before `exp`).
    pub fn logit_scale(&self) -> f32 {
        self.logit_scale
    }

    pub fn image_size(&self) -> usize {
        self.image_size
    }

    /// PickScore: `exp(logit_scale) · cos(text, image)` for each image row against one text
    /// row. `text`: (1, D), `images`: (B, D), both from the `*_features` methods → (B,) f32.
    pub fn score(&self, text: &Tensor, images: &Tensor) -> Result<Tensor> {
        let t = l2_normalize(text)?;
        let i = l2_normalize(images)?;
        (i.matmul(&t.t()?)?.squeeze(1)? * (self.logit_scale as f64).exp())?.to_dtype(DType::F32)
    }
}

/// `x / ‖x‖₂` over the last dimension (torch `x / x.norm(dim=-1, keepdim=True)`).
pub fn l2_normalize(x: &Tensor) -> Result<Tensor> {
    x.broadcast_div(&x.sqr()?.sum_keepdim(D::Minus1)?.sqrt()?)
}

/// Additive causal mask (L, L): 0 on and below the diagonal, a large negative above.
fn causal_mask(len: usize, dtype: DType, dev: &candle_core::Device) -> Result<Tensor> {
    let v: Vec<f32> = (0..len)
        .flat_map(|i| (0..len).map(move |j| if j > i { f32::MIN } else { 0.0 }))
        .collect();
    Tensor::from_vec(v, (len, len), dev)?.to_dtype(dtype)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clip::{TextConfig, VisionConfig};
    use candle_core::Device;
    use candle_nn::{Init, VarMap};

    pub(crate) fn tiny() -> Config {
        Config {
            text_config: TextConfig {
                vocab_size: 100,
                hidden_size: 32,
                intermediate_size: 64,
                num_hidden_layers: 2,
                num_attention_heads: 4,
                max_position_embeddings: 16,
                hidden_act: "gelu".into(),
                layer_norm_eps: 1e-5,
            },
            vision_config: VisionConfig {
                hidden_size: 32,
                intermediate_size: 64,
                num_hidden_layers: 2,
                num_attention_heads: 4,
                num_channels: 3,
                image_size: 28,
                patch_size: 14,
                hidden_act: "gelu".into(),
                layer_norm_eps: 1e-5,
            },
            projection_dim: 16,
        }
    }

    fn random_model(cfg: &Config) -> Model {
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
        vb.get_with_hints(
            32,
            CLASS_EMBEDDING_KEY,
            Init::Randn {
                mean: 0.,
                stdev: 1.,
            },
        )
        .unwrap();
        vb.get_with_hints((), LOGIT_SCALE_KEY, Init::Const(2.0))
            .unwrap();
        Model::new(cfg, vb.clone()).unwrap();
        for (name, var) in vm.data().lock().unwrap().iter() {
            if name != LOGIT_SCALE_KEY {
                let t = Tensor::randn(0f32, 0.5, var.shape(), &Device::Cpu).unwrap();
                var.set(&t).unwrap();
            }
        }
        Model::new(cfg, vb).unwrap()
    }

    #[test]
    fn features_batch_invariant_and_padding_free() {
        let m = random_model(&tiny());
        let dev = Device::Cpu;
        let px = Tensor::randn(0f32, 1., (3, 3, 28, 28), &dev).unwrap();
        let all = m.image_features(&px).unwrap();
        let one = m.image_features(&px.narrow(0, 1, 1).unwrap()).unwrap();
        let d = (all.get(1).unwrap() - one.get(0).unwrap())
            .unwrap()
            .abs()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(d < 1e-5, "{d}");
        // EOT = 99 (largest id); the padded row pools the same state
        let short = Tensor::new(&[[98u32, 5, 7, 99]], &dev).unwrap();
        let padded = Tensor::new(&[[98u32, 5, 7, 99, 0, 0]], &dev).unwrap();
        let a = m.text_features(&short).unwrap();
        let b = m.text_features(&padded).unwrap();
        let d = (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(d < 1e-5, "{d}");
        let s = m.score(&m.text_features(&short).unwrap(), &all).unwrap();
        assert_eq!(s.dims(), &[3]);
        for v in s.to_vec1::<f32>().unwrap() {
            assert!(v.abs() <= 2f32.exp() + 1e-4, "{v}");
        }
    }

    #[test]
    fn unknown_activation_and_missing_logit_scale_are_errors() {
        let mut cfg = tiny();
        cfg.vision_config.hidden_act = "relu".into();
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
        vb.get_with_hints(32, CLASS_EMBEDDING_KEY, Init::Const(0.))
            .unwrap();
        let err = Model::new(&tiny(), vb.clone()).unwrap_err().to_string();
        assert!(err.contains("logit_scale"), "{err}");
        vb.get_with_hints((), LOGIT_SCALE_KEY, Init::Const(2.0))
            .unwrap();
        let err = Model::new(&cfg, vb).unwrap_err().to_string();
        assert!(err.contains("relu"), "{err}");
    }
}
