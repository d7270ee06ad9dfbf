//! BERT layers as BLIP/Tag2Text's `med.py` (`vbench/third_party/tag2Text/med.py`) uses them:
//! post-LN layers with self-attention, optional cross-attention to an encoder's states, and a
//! feed-forward block; the embeddings (word + absolute position, no token types); the LM head.
//!
//! Keys follow `med.py`: `embeddings.{word_embeddings, position_embeddings, LayerNorm}`,
//! `encoder.layer.N.{attention, crossattention}.{self.{query,key,value}, output.{dense, LayerNorm}}`,
//! `encoder.layer.N.{intermediate.dense, output.{dense, LayerNorm}}`,
//! `cls.predictions.{transform.{dense, LayerNorm}, decoder.weight, bias}`.
//!
//! Maths (`BertSelfAttention.forward`): scores `(q @ kᵀ) / √head_dim + mask`, softmax, `@ v`;
//! `BertSelfOutput`: `LN(dense(ctx) + input)`; FFN `LN(W2·gelu(W1·x) + x)`; exact GELU.
//! Layer modes: `multimodal` (self → cross → FFN), `text` (self → FFN), `mlr` (cross → FFN, the
//! Tag2Text tagging head, whose layers have no self-attention).

use candle_core::{DType, Module, Result, Tensor, D};
use candle_nn::{Embedding, Linear, VarBuilder};
use serde::{Deserialize, Serialize};

use crate::nn::layer_norm::FusedLayerNorm as LayerNorm;
use crate::nn::vit::Activation;

/// The fields of `med_config.json` / `q2l_config.json` this port reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub vocab_size: usize,
    pub max_position_embeddings: usize,
    pub layer_norm_eps: f64,
    /// Width of the states cross-attended to (`encoder_width`).
    pub encoder_width: usize,
    pub add_cross_attention: bool,
}

impl Config {
    /// `med_config.json` (the tag encoder and caption decoder of Tag2Text).
    pub fn med(encoder_width: usize) -> Self {
        Self {
            hidden_size: 768,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            intermediate_size: 3072,
            vocab_size: 30524,
            max_position_embeddings: 512,
            layer_norm_eps: 1e-12,
            encoder_width,
            add_cross_attention: true,
        }
    }

    /// `q2l_config.json` (Tag2Text's `vision_multi` tagging head).
    pub fn q2l(encoder_width: usize) -> Self {
        Self {
            num_hidden_layers: 2,
            num_attention_heads: 4,
            vocab_size: 30522,
            ..Self::med(encoder_width)
        }
    }
}

/// How a layer runs (`med.py::BertLayer.forward`'s `mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Self-attention, cross-attention, FFN.
    Multimodal,
    /// Self-attention, FFN.
    Text,
    /// Cross-attention, FFN (no self-attention).
    Mlr,
}

/// `BertSelfAttention` + `BertSelfOutput`.
#[derive(Debug, Clone)]
pub struct BertAttention {
    query: Linear,
    key: Linear,
    value: Linear,
    dense: Linear,
    norm: LayerNorm,
    num_heads: usize,
    head_dim: usize,
}

/// Keys and values of a cross-attention, computed once per encoder state and reused at every
/// decoding step (the same numbers as recomputing them).
#[derive(Debug, Clone)]
pub struct KeyValue {
    k: Tensor,
    v: Tensor,
}

impl KeyValue {
    /// Rows picked by `idx` (encoder states repeated per beam, beams reordered).
    pub fn index_rows(&self, idx: &Tensor) -> Result<Self> {
        Ok(Self {
            k: self.k.index_select(idx, 0)?,
            v: self.v.index_select(idx, 0)?,
        })
    }

    /// These keys/values followed by `next`'s along the token axis (a self-attention cache
    /// growing by the new tokens).
    pub fn append(&self, next: &KeyValue) -> Result<Self> {
        Ok(Self {
            k: Tensor::cat(&[&self.k, &next.k], 2)?,
            v: Tensor::cat(&[&self.v, &next.v], 2)?,
        })
    }

    /// Number of tokens (keys) held.
    pub fn len(&self) -> usize {
        self.k.dims().get(2).copied().unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl BertAttention {
    /// `kv_width`: input width of key/value (`encoder_width` for cross-attention).
    pub fn new(cfg: &Config, kv_width: usize, num_heads: usize, vb: VarBuilder) -> Result<Self> {
        let h = cfg.hidden_size;
        let s = vb.pp("self");
        Ok(Self {
            query: candle_nn::linear(h, h, s.pp("query"))?,
            key: candle_nn::linear(kv_width, h, s.pp("key"))?,
            value: candle_nn::linear(kv_width, h, s.pp("value"))?,
            dense: candle_nn::linear(h, h, vb.pp("output").pp("dense"))?,
            norm: LayerNorm::load(h, cfg.layer_norm_eps, vb.pp("output").pp("LayerNorm"))?,
            num_heads,
            head_dim: h / num_heads,
        })
    }

    fn heads(&self, x: &Tensor) -> Result<Tensor> {
        let (b, n, _) = x.dims3()?;
        x.reshape((b, n, self.num_heads, self.head_dim))?
            .transpose(1, 2)?
            .contiguous()
    }

    /// Keys and values for `states` (B, M, kv_width).
    pub fn key_value(&self, states: &Tensor) -> Result<KeyValue> {
        Ok(KeyValue {
            k: self.heads(&self.key.forward(states)?)?,
            v: self.heads(&self.value.forward(states)?)?,
        })
    }

    /// `hidden`: (B, N, H); `kv`: keys/values (from `hidden` itself for self-attention);
    /// `mask`: additive, broadcastable to (B, heads, N, M).
    pub fn forward_kv(
        &self,
        hidden: &Tensor,
        kv: &KeyValue,
        mask: Option<&Tensor>,
    ) -> Result<Tensor> {
        let (b, n, h) = hidden.dims3()?;
        let q = self.heads(&self.query.forward(hidden)?)?;
        let scores = (q.matmul(&kv.k.t()?)? / (self.head_dim as f64).sqrt())?;
        let scores = match mask {
            Some(m) => scores.broadcast_add(m)?,
            None => scores,
        };
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let ctx = probs
            .matmul(&kv.v)?
            .transpose(1, 2)?
            .contiguous()?
            .reshape((b, n, h))?;
        self.norm.forward(&(self.dense.forward(&ctx)? + hidden)?)
    }

    /// Causal self-attention of new tokens `hidden` (B, n, H) that also attend to the keys and
    /// values of earlier tokens in `cache` (B, heads, L, d); returns the output and the cache
    /// extended by the new tokens. `mask` is the additive mask over the L + n keys (None: every
    /// new token sees every key, e.g. a single new token). The same numbers as re-running the
    /// whole sequence and keeping its last n rows (med.py's decoder recomputes everything).
    pub fn forward_cached(
        &self,
        hidden: &Tensor,
        cache: Option<&KeyValue>,
        mask: Option<&Tensor>,
    ) -> Result<(Tensor, KeyValue)> {
        let new = self.key_value(hidden)?;
        let kv = match cache {
            Some(c) => c.append(&new)?,
            None => new,
        };
        Ok((self.forward_kv(hidden, &kv, mask)?, kv))
    }

    /// Self-attention (`states` = `hidden`) or cross-attention to `states`.
    pub fn forward(
        &self,
        hidden: &Tensor,
        states: &Tensor,
        mask: Option<&Tensor>,
    ) -> Result<Tensor> {
        let kv = self.key_value(states)?;
        self.forward_kv(hidden, &kv, mask)
    }
}

/// One `med.py::BertLayer`.
#[derive(Debug, Clone)]
pub struct BertLayer {
    attention: Option<BertAttention>,
    crossattention: Option<BertAttention>,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
}

impl BertLayer {
    /// `vb` is the layer's own prefix (`encoder.layer.N`). `cross_ffn_vb`, when given, is where the
    /// cross-attention and FFN weights are read instead (Tag2Text ties the tag encoder's layers
    /// 0–1 to `vision_multi`'s and the tied values are the ones loaded last). `self_attention`
    /// false builds a `vision_multi` layer (its self-attention was deleted).
    pub fn new(
        cfg: &Config,
        self_attention: bool,
        vb: VarBuilder,
        cross_ffn_vb: Option<VarBuilder>,
    ) -> Result<Self> {
        let h = cfg.hidden_size;
        let heads = cfg.num_attention_heads;
        let attention = if self_attention {
            Some(BertAttention::new(cfg, h, heads, vb.pp("attention"))?)
        } else {
            None
        };
        let cvb = cross_ffn_vb.unwrap_or_else(|| vb.clone());
        let crossattention = if cfg.add_cross_attention {
            Some(BertAttention::new(
                cfg,
                cfg.encoder_width,
                heads,
                cvb.pp("crossattention"),
            )?)
        } else {
            None
        };
        Ok(Self {
            attention,
            crossattention,
            intermediate: candle_nn::linear(
                h,
                cfg.intermediate_size,
                cvb.pp("intermediate").pp("dense"),
            )?,
            output: candle_nn::linear(cfg.intermediate_size, h, cvb.pp("output").pp("dense"))?,
            output_norm: LayerNorm::load(h, cfg.layer_norm_eps, cvb.pp("output").pp("LayerNorm"))?,
        })
    }

    pub fn crossattention(&self) -> Option<&BertAttention> {
        self.crossattention.as_ref()
    }

    fn ffn(&self, x: &Tensor) -> Result<Tensor> {
        let y = Activation::GeluErf.forward(&self.intermediate.forward(x)?)?;
        self.output_norm.forward(&(self.output.forward(&y)? + x)?)
    }

    /// `self_mask`: additive mask of the self-attention; `cross`: the cross-attention's keys and
    /// values (with their additive mask, if any).
    pub fn forward(
        &self,
        hidden: &Tensor,
        self_mask: Option<&Tensor>,
        cross: Option<(&KeyValue, Option<&Tensor>)>,
        mode: Mode,
    ) -> Result<Tensor> {
        let missing = |what: &str| candle_core::Error::Msg(format!("bert layer: no {what}"));
        let mut x = hidden.clone();
        if mode != Mode::Mlr {
            let att = self
                .attention
                .as_ref()
                .ok_or_else(|| missing("self-attention"))?;
            x = att.forward(&x, &x, self_mask)?;
        }
        if mode != Mode::Text {
            let ca = self
                .crossattention
                .as_ref()
                .ok_or_else(|| missing("cross-attention"))?;
            let (kv, mask) = cross.ok_or_else(|| missing("encoder states"))?;
            x = ca.forward_kv(&x, kv, mask)?;
        }
        self.ffn(&x)
    }
}

impl BertLayer {
    /// [`BertLayer::forward`] in `multimodal` mode for new tokens with a self-attention cache
    /// (see [`BertAttention::forward_cached`]); returns the output and the extended cache.
    pub fn forward_cached(
        &self,
        hidden: &Tensor,
        self_cache: Option<&KeyValue>,
        self_mask: Option<&Tensor>,
        cross: &KeyValue,
    ) -> Result<(Tensor, KeyValue)> {
        let missing = |what: &str| candle_core::Error::Msg(format!("bert layer: no {what}"));
        let att = self
            .attention
            .as_ref()
            .ok_or_else(|| missing("self-attention"))?;
        let (x, kv) = att.forward_cached(hidden, self_cache, self_mask)?;
        let ca = self
            .crossattention
            .as_ref()
            .ok_or_else(|| missing("cross-attention"))?;
        let x = ca.forward_kv(&x, cross, None)?;
        Ok((self.ffn(&x)?, kv))
    }
}

/// `BertEmbeddings`: word + absolute position embeddings → LayerNorm (no token types).
#[derive(Debug, Clone)]
pub struct BertEmbeddings {
    word: Embedding,
    position: Embedding,
    norm: LayerNorm,
}

impl BertEmbeddings {
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            word: candle_nn::embedding(cfg.vocab_size, cfg.hidden_size, vb.pp("word_embeddings"))?,
            position: candle_nn::embedding(
                cfg.max_position_embeddings,
                cfg.hidden_size,
                vb.pp("position_embeddings"),
            )?,
            norm: LayerNorm::load(cfg.hidden_size, cfg.layer_norm_eps, vb.pp("LayerNorm"))?,
        })
    }

    pub fn word_embeddings(&self) -> &Tensor {
        self.word.embeddings()
    }

    /// `ids`: (B, N) u32, positions 0..N.
    pub fn forward(&self, ids: &Tensor) -> Result<Tensor> {
        self.forward_from(ids, 0)
    }

    /// `ids`: (B, N) u32 at positions `start..start + N` (`past_key_values_length` = `start`).
    pub fn forward_from(&self, ids: &Tensor, start: usize) -> Result<Tensor> {
        let n = ids.dim(1)?;
        let pos = Tensor::arange(start as u32, (start + n) as u32, ids.device())?;
        let x = self
            .word
            .forward(ids)?
            .broadcast_add(&self.position.forward(&pos)?.unsqueeze(0)?)?;
        self.norm.forward(&x)
    }
}

/// A stack of layers with its embeddings (`med.py::BertModel`, no pooler).
#[derive(Debug, Clone)]
pub struct BertModel {
    pub embeddings: Option<BertEmbeddings>,
    pub layers: Vec<BertLayer>,
}

/// Additive mask `(1 − m)·(−10000)` from a (B, M) 0/1 attention mask, as (B, 1, 1, M)
/// (`get_extended_attention_mask` of `med.py`).
pub fn padding_mask(mask: &Tensor) -> Result<Tensor> {
    let (b, m) = mask.dims2()?;
    ((mask.to_dtype(DType::F32)?.ones_like()? - mask.to_dtype(DType::F32)?)? * -10000.0)?
        .reshape((b, 1, 1, m))
}

/// Additive causal mask `(1 − causal)·(−10000)` for N tokens, as (1, 1, N, N).
pub fn causal_mask(n: usize, dev: &candle_core::Device) -> Result<Tensor> {
    let v: Vec<f32> = (0..n)
        .flat_map(|i| (0..n).map(move |j| if j <= i { 0.0 } else { -10000.0 }))
        .collect();
    Tensor::from_vec(v, (1, 1, n, n), dev)
}

impl BertModel {
    pub fn forward(
        &self,
        hidden: &Tensor,
        self_mask: Option<&Tensor>,
        cross: &[KeyValue],
        cross_mask: Option<&Tensor>,
        mode: Mode,
    ) -> Result<Tensor> {
        let mut x = hidden.clone();
        for (i, layer) in self.layers.iter().enumerate() {
            let c = cross.get(i).map(|kv| (kv, cross_mask));
            x = layer.forward(&x, self_mask, c, mode)?;
        }
        Ok(x)
    }

    /// Cross-attention keys/values of every layer for `states`.
    pub fn cross_key_values(&self, states: &Tensor) -> Result<Vec<KeyValue>> {
        self.layers
            .iter()
            .map(|l| {
                l.crossattention()
                    .ok_or_else(|| {
                        candle_core::Error::Msg("bert layer: no cross-attention".into())
                    })?
                    .key_value(states)
            })
            .collect()
    }

    /// Causal decoding of new tokens `ids` (B, n) at positions `start..start + n` with one
    /// self-attention cache per layer (`caches` empty on the first call); cross-attention to
    /// `cross` (one per layer, no mask). Returns the last layer's output (B, n, H) and the
    /// extended caches.
    pub fn forward_cached(
        &self,
        ids: &Tensor,
        start: usize,
        caches: &[KeyValue],
        cross: &[KeyValue],
    ) -> Result<(Tensor, Vec<KeyValue>)> {
        let emb = self
            .embeddings
            .as_ref()
            .ok_or_else(|| candle_core::Error::Msg("bert: no embeddings".into()))?;
        let n = ids.dim(1)?;
        let mut x = emb.forward_from(ids, start)?;
        // New token i (position start + i) sees keys 0..=start + i.
        let mask = if n > 1 {
            let l = start + n;
            let v: Vec<f32> = (0..n)
                .flat_map(|i| (0..l).map(move |j| if j <= start + i { 0.0 } else { -10000.0 }))
                .collect();
            Some(Tensor::from_vec(v, (1, 1, n, l), ids.device())?)
        } else {
            None
        };
        let mut out = Vec::with_capacity(self.layers.len());
        for (i, layer) in self.layers.iter().enumerate() {
            let c = cross.get(i).ok_or_else(|| {
                candle_core::Error::Msg(format!("bert: no encoder states for layer {i}"))
            })?;
            let (y, kv) = layer.forward_cached(&x, caches.get(i), mask.as_ref(), c)?;
            x = y;
            out.push(kv);
        }
        Ok((x, out))
    }

    pub fn embed(&self, ids: &Tensor) -> Result<Tensor> {
        self.embeddings
            .as_ref()
            .ok_or_else(|| candle_core::Error::Msg("bert: no embeddings".into()))?
            .forward(ids)
    }
}

/// `BertOnlyMLMHead`: dense → GELU → LayerNorm → decoder (+ bias).
#[derive(Debug, Clone)]
pub struct LmHead {
    dense: Linear,
    norm: LayerNorm,
    decoder: Linear,
}

impl LmHead {
    /// `vb` at `cls.predictions`; `tied` is the word-embedding matrix used when
    /// `decoder.weight` is absent (HF ties them; the stored key wins when present).
    pub fn new(cfg: &Config, vb: VarBuilder, tied: &Tensor) -> Result<Self> {
        let h = cfg.hidden_size;
        let t = vb.pp("transform");
        let weight = if vb.contains_tensor("decoder.weight") {
            vb.get((cfg.vocab_size, h), "decoder.weight")?
        } else {
            tied.clone()
        };
        Ok(Self {
            dense: candle_nn::linear(h, h, t.pp("dense"))?,
            norm: LayerNorm::load(h, cfg.layer_norm_eps, t.pp("LayerNorm"))?,
            decoder: Linear::new(weight, Some(vb.get(cfg.vocab_size, "bias")?)),
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = Activation::GeluErf.forward(&self.dense.forward(x)?)?;
        self.decoder.forward(&self.norm.forward(&y)?)
    }
}

/// Sum over the last dimension of `a·b` (`GroupWiseLinear`: `(W * x).sum(-1)`).
pub fn groupwise_dot(w: &Tensor, x: &Tensor) -> Result<Tensor> {
    w.broadcast_mul(x)?.sum(D::Minus1)
}
