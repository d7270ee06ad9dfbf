//! GRiT's text decoder: memory projection, a post-norm BERT encoder run as a decoder over
//! `[memory; text]`, the tied output layer and VBench's greedy search.
//!
//! Reference: VBench 0.1.5 `third_party/grit_src/grit/modeling/text/text_decoder.py`
//! (`TransformerDecoderTextualHead`, `WordAndPositionalEmbedding`, `BertEncoderAsDecoder`,
//! `AutoRegressiveBeamSearch.search`, `GRiTTextDecoder.decoding_step`), `modeling_bert.py`
//! (`BertLayer`, post-norm, `qk2attn` = `(q / √d)·kᵀ + mask`) and
//! `roi_heads/grit_roi_heads.py` (begin tokens, `max_steps=40`, EOS = `[SEP]` 102, BEAM_SIZE 1);
//! vbench-spec 40-semantic.md §3.8, P12–P14.
//!
//! Checkpoint keys (VarBuilder root = `roi_heads.text_decoder`):
//! `textual.object_feature_projection.{0 (Linear), 1 (LayerNorm eps 1e-5)}`,
//! `textual.embedding.{words, positions, layer_norm (eps 1e-8)}`,
//! `textual.transformer.encoder.layer.N.{attention.self.{query,key,value},
//! attention.output.{dense,LayerNorm}, intermediate.dense, output.{dense,LayerNorm}}` (eps
//! 1e-12), `textual.output.bias`. The output weight is tied to `embedding.words.weight` (the
//! model also lists it as `textual.output.weight`, and the whole head again under
//! `roi_heads.text_decoder_det`, one shared module; neither copy is read here).
//!
//! Memory rows never attend to text (their mask columns for text are −inf), so each layer's
//! memory states, hence their keys/values, do not depend on the text: they are computed once
//! per object and cached, and each step feeds only the new token, attending to the cached
//! memory and previous-text keys/values. That is the same maths as VBench's full recompute of
//! the sequence at every step (only the summation order differs). Rows are independent under
//! greedy search, so rows that have ended are dropped from the batch.

use candle_core::{DType, Module, Result, Tensor, D};
use candle_nn::{Linear, VarBuilder};

use crate::nn::vit::LayerNorm;

/// Objects whose memory is run through the layers at once.
const MEMORY_CHUNK: usize = 32;

/// Text decoder configuration (`TEXT_DECODER.*` of GRiT's config and the search constants).
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
pub struct GritTextConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_layers: usize,
    pub num_heads: usize,
    pub intermediate_size: usize,
    /// Rows of `embedding.positions` (GRiT: the constructor default 1024).
    pub max_positions: usize,
    /// Width of the pooled object features (`MODEL.FPN.OUT_CHANNELS`).
    pub object_feat_dim: usize,
    /// Maximum sequence length including the begin token.
    pub max_steps: usize,
    pub eos_token_id: u32,
}

impl GritTextConfig {
    /// GRiT-B (`grit/config.py` TEXT_DECODER defaults, `AutoRegressiveBeamSearch(max_steps=40)`).
    pub fn grit_b() -> Self {
        Self {
            vocab_size: 30522,
            hidden_size: 768,
            num_layers: 6,
            num_heads: 12,
            intermediate_size: 3072,
            max_positions: 1024,
            object_feat_dim: 256,
            max_steps: 40,
            eos_token_id: 102,
        }
    }
}

/// The logits of one decoding step (`decoding_step`'s output, before the repetition rule),
/// for the rows still running at that step.
#[derive(Debug, Clone)]
pub struct StepLogits {
    /// Object indices of the rows, in the order of `logits`.
    pub rows: Vec<usize>,
    /// (rows.len(), vocab).
    pub logits: Tensor,
}

#[derive(Debug, Clone)]
struct BertLayer {
    query: Linear,
    key: Linear,
    value: Linear,
    attn_out: Linear,
    attn_ln: LayerNorm,
    inter: Linear,
    out: Linear,
    out_ln: LayerNorm,
}

impl BertLayer {
    fn new(c: &GritTextConfig, vb: VarBuilder) -> Result<Self> {
        let h = c.hidden_size;
        let lin = |i, o, p: &str| candle_nn::linear(i, o, vb.pp(p));
        Ok(Self {
            query: lin(h, h, "attention.self.query")?,
            key: lin(h, h, "attention.self.key")?,
            value: lin(h, h, "attention.self.value")?,
            attn_out: lin(h, h, "attention.output.dense")?,
            attn_ln: LayerNorm::load(h, 1e-12, vb.pp("attention.output.LayerNorm"))?,
            inter: lin(h, c.intermediate_size, "intermediate.dense")?,
            out: lin(c.intermediate_size, h, "output.dense")?,
            out_ln: LayerNorm::load(h, 1e-12, vb.pp("output.LayerNorm"))?,
        })
    }

    /// Post-norm tail: `a = LN(x + Wo·ctx)`, `LN(a + W2·gelu(W1·a))`. `x`, `ctx`: (R, H).
    fn tail(&self, x: &Tensor, ctx: &Tensor) -> Result<Tensor> {
        let a = self.attn_ln.forward(&(self.attn_out.forward(ctx)? + x)?)?;
        let y = self.out.forward(&self.inter.forward(&a)?.gelu_erf()?)?;
        self.out_ln.forward(&(y + a)?)
    }
}

/// (N, T, H) → (N, heads, T, hd).
fn split_heads(x: &Tensor, heads: usize) -> Result<Tensor> {
    let (n, t, h) = x.dims3()?;
    x.reshape((n, t, heads, h / heads))?
        .transpose(1, 2)?
        .contiguous()
}

/// Per-layer key/value caches of the running rows.
struct Cache {
    /// Memory keys/values per layer: (R, heads, M, hd).
    mem_k: Vec<Tensor>,
    mem_v: Vec<Tensor>,
    /// Text keys/values per layer: (R, heads, t, hd); `None` before the first token.
    txt_k: Vec<Option<Tensor>>,
    txt_v: Vec<Option<Tensor>>,
}

impl Cache {
    fn select(&mut self, idx: &Tensor) -> Result<()> {
        for t in self.mem_k.iter_mut().chain(self.mem_v.iter_mut()) {
            *t = t.index_select(idx, 0)?;
        }
        for t in self.txt_k.iter_mut().chain(self.txt_v.iter_mut()).flatten() {
            *t = t.index_select(idx, 0)?;
        }
        Ok(())
    }
}

/// `TransformerDecoderTextualHead` + VBench's greedy `AutoRegressiveBeamSearch`.
#[derive(Debug, Clone)]
pub struct GritTextDecoder {
    proj: Linear,
    proj_ln: LayerNorm,
    words: Tensor,
    positions: Tensor,
    emb_ln: LayerNorm,
    layers: Vec<BertLayer>,
    out_bias: Tensor,
    cfg: GritTextConfig,
}

impl GritTextDecoder {
    /// `vb` = the checkpoint's `roi_heads.text_decoder` root.
    pub fn new(cfg: &GritTextConfig, vb: VarBuilder) -> Result<Self> {
        let vb = vb.pp("textual");
        let h = cfg.hidden_size;
        if cfg.num_heads == 0 || !h.is_multiple_of(cfg.num_heads) {
            candle_core::bail!(
                "grit_text: hidden {h} is not a multiple of {} heads",
                cfg.num_heads
            );
        }
        let layers = (0..cfg.num_layers)
            .map(|i| BertLayer::new(cfg, vb.pp(format!("transformer.encoder.layer.{i}"))))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            proj: candle_nn::linear(cfg.object_feat_dim, h, vb.pp("object_feature_projection.0"))?,
            proj_ln: LayerNorm::load(h, 1e-5, vb.pp("object_feature_projection.1"))?,
            words: vb.get((cfg.vocab_size, h), "embedding.words.weight")?,
            positions: vb.get((cfg.max_positions, h), "embedding.positions.weight")?,
            emb_ln: LayerNorm::load(h, 1e-8, vb.pp("embedding.layer_norm"))?,
            layers,
            out_bias: vb.get(cfg.vocab_size, "output.bias")?,
            cfg: cfg.clone(),
        })
    }

    pub fn config(&self) -> &GritTextConfig {
        &self.cfg
    }

    fn attend(&self, q: &Tensor, k: &Tensor, v: &Tensor) -> Result<Tensor> {
        let hd = q.dim(D::Minus1)? as f64;
        let s = (q / hd.sqrt())?.matmul(&k.t()?)?;
        candle_nn::ops::softmax_last_dim(&s)?.matmul(v)
    }

    /// (R, heads, T, hd) → (R·T, H).
    fn merge_heads(x: &Tensor) -> Result<Tensor> {
        let (r, nh, t, hd) = x.dims4()?;
        x.transpose(1, 2)?.contiguous()?.reshape((r * t, nh * hd))
    }

    /// Projects the memory and runs it through the layers, caching each layer's keys/values
    /// (in chunks of [`MEMORY_CHUNK`] objects to bound the 196×196 score matrices).
    fn memory_cache(&self, object_feats: &Tensor) -> Result<Cache> {
        let n = object_feats.dim(0)?;
        let nl = self.layers.len();
        let (mut mem_k, mut mem_v): (Vec<Vec<Tensor>>, Vec<Vec<Tensor>>) =
            (vec![Vec::new(); nl], vec![Vec::new(); nl]);
        let mut start = 0;
        while start < n {
            let len = MEMORY_CHUNK.min(n - start);
            let (k, v) = self.memory_kv(&object_feats.narrow(0, start, len)?)?;
            for (li, (k, v)) in k.into_iter().zip(v).enumerate() {
                mem_k[li].push(k);
                mem_v[li].push(v);
            }
            start += len;
        }
        let cat = |parts: Vec<Tensor>| -> Result<Tensor> {
            if parts.len() == 1 {
                Ok(parts.into_iter().next().expect("one part"))
            } else {
                Tensor::cat(&parts, 0)
            }
        };
        Ok(Cache {
            mem_k: mem_k.into_iter().map(cat).collect::<Result<_>>()?,
            mem_v: mem_v.into_iter().map(cat).collect::<Result<_>>()?,
            txt_k: vec![None; nl],
            txt_v: vec![None; nl],
        })
    }

    /// Memory keys/values of every layer for (n, M, C) object features.
    #[allow(clippy::type_complexity)]
    fn memory_kv(&self, object_feats: &Tensor) -> Result<(Vec<Tensor>, Vec<Tensor>)> {
        let (n, m, _) = object_feats.dims3()?;
        let h = self.cfg.hidden_size;
        let nh = self.cfg.num_heads;
        let flat = object_feats.reshape((n * m, self.cfg.object_feat_dim))?;
        let mut x = self.proj_ln.forward(&self.proj.forward(&flat)?)?; // (n·M, H)
        let (mut mem_k, mut mem_v) = (Vec::new(), Vec::new());
        for (li, layer) in self.layers.iter().enumerate() {
            let k = split_heads(&layer.key.forward(&x)?.reshape((n, m, h))?, nh)?;
            let v = split_heads(&layer.value.forward(&x)?.reshape((n, m, h))?, nh)?;
            if li + 1 < self.layers.len() {
                // memory attends to memory only
                let q = split_heads(&layer.query.forward(&x)?.reshape((n, m, h))?, nh)?;
                let ctx = Self::merge_heads(&self.attend(&q, &k, &v)?)?;
                x = layer.tail(&x, &ctx)?;
            }
            mem_k.push(k);
            mem_v.push(v);
        }
        Ok((mem_k, mem_v))
    }

    /// Feeds one token per running row at position `pos`; returns the logits (R, vocab).
    fn step(&self, cache: &mut Cache, tokens: &[u32], pos: usize) -> Result<Tensor> {
        let r = tokens.len();
        let h = self.cfg.hidden_size;
        let nh = self.cfg.num_heads;
        let dev = self.words.device();
        let ids = Tensor::from_slice(tokens, r, dev)?;
        let e = self
            .words
            .index_select(&ids, 0)?
            .broadcast_add(&self.positions.get(pos)?.unsqueeze(0)?)?;
        let mut x = self.emb_ln.forward(&e)?; // (R, H)
        for (li, layer) in self.layers.iter().enumerate() {
            let q = split_heads(&layer.query.forward(&x)?.reshape((r, 1, h))?, nh)?;
            let k = split_heads(&layer.key.forward(&x)?.reshape((r, 1, h))?, nh)?;
            let v = split_heads(&layer.value.forward(&x)?.reshape((r, 1, h))?, nh)?;
            let tk = match cache.txt_k[li].take() {
                Some(prev) => Tensor::cat(&[&prev, &k], 2)?,
                None => k,
            };
            let tv = match cache.txt_v[li].take() {
                Some(prev) => Tensor::cat(&[&prev, &v], 2)?,
                None => v,
            };
            // scores over [memory; text ≤ pos] (the causal mask hides nothing of the cache)
            let hd = (h / nh) as f64;
            let qs = (q / hd.sqrt())?;
            let s_mem = qs.matmul(&cache.mem_k[li].t()?)?; // (R, nh, 1, M)
            let s_txt = qs.matmul(&tk.t()?)?; // (R, nh, 1, t)
            let m = s_mem.dim(D::Minus1)?;
            let p = candle_nn::ops::softmax_last_dim(&Tensor::cat(&[&s_mem, &s_txt], 3)?)?;
            let t = s_txt.dim(D::Minus1)?;
            let ctx = (p.narrow(3, 0, m)?.contiguous()?.matmul(&cache.mem_v[li])?
                + p.narrow(3, m, t)?.contiguous()?.matmul(&tv)?)?;
            cache.txt_k[li] = Some(tk);
            cache.txt_v[li] = Some(tv);
            x = layer.tail(&x, &Self::merge_heads(&ctx)?)?;
        }
        x.matmul(&self.words.t()?)?.broadcast_add(&self.out_bias)
    }

    /// object_feats: (N, 196, C) pooled 14×14 tokens row-major; returns per object the
    /// generated ids WITHOUT the begin token, up to and excluding EOS (102); greedy exactly as
    /// VBench.
    pub fn generate(&self, object_feats: &Tensor, begin_token: u32) -> Result<Vec<Vec<u32>>> {
        Ok(self.generate_impl(object_feats, begin_token, false)?.0)
    }

    /// [`Self::generate`] that also returns every step's raw logits (for parity tests).
    pub fn generate_traced(
        &self,
        object_feats: &Tensor,
        begin_token: u32,
    ) -> Result<(Vec<Vec<u32>>, Vec<StepLogits>)> {
        self.generate_impl(object_feats, begin_token, true)
    }

    fn generate_impl(
        &self,
        object_feats: &Tensor,
        begin_token: u32,
        trace: bool,
    ) -> Result<(Vec<Vec<u32>>, Vec<StepLogits>)> {
        let n = object_feats.dim(0)?;
        let eos = self.cfg.eos_token_id;
        let mut out: Vec<Vec<u32>> = vec![Vec::new(); n];
        let mut steps = Vec::new();
        if n == 0 {
            return Ok((out, steps));
        }
        let feats = object_feats.to_dtype(self.words.dtype())?;
        let mut cache = self.memory_cache(&feats)?;
        // rows still running, and each one's last token
        let mut rows: Vec<usize> = (0..n).collect();
        let mut last: Vec<u32> = vec![begin_token; n];
        // sequence length so far, begin token included
        let mut len = 1usize;
        loop {
            let logits = self.step(&mut cache, &last, len - 1)?;
            let lv: Vec<Vec<f32>> = logits.to_dtype(DType::F32)?.to_vec2()?;
            if trace {
                steps.push(StepLogits {
                    rows: rows.clone(),
                    logits: logits.clone(),
                });
            }
            let mut next = Vec::with_capacity(rows.len());
            for (ri, row) in lv.into_iter().enumerate() {
                // step 1 has no repetition rule; later steps forbid the row's last token
                let forbid = if len > 1 { Some(last[ri]) } else { None };
                next.push(greedy_token(row, forbid));
            }
            len += 1;
            if len == 2 && next.iter().all(|&t| t == eos) {
                // `search` returns at once: every description is empty
                return Ok((out, steps));
            }
            let mut keep = Vec::with_capacity(rows.len());
            for (ri, &tok) in next.iter().enumerate() {
                if tok != eos {
                    out[rows[ri]].push(tok);
                    keep.push(ri);
                }
            }
            if keep.is_empty() || len >= self.cfg.max_steps {
                break;
            }
            if keep.len() < rows.len() {
                let idx: Vec<u32> = keep.iter().map(|&i| i as u32).collect();
                cache.select(&Tensor::from_vec(idx, keep.len(), self.words.device())?)?;
            }
            rows = keep.iter().map(|&i| rows[i]).collect();
            last = keep.iter().map(|&i| next[i]).collect();
        }
        Ok((out, steps))
    }
}

/// Greedy choice of one row as `AutoRegressiveBeamSearch` makes it: optionally set the
/// forbidden (last) token's logit to −10000, `log_softmax` as PyTorch's CPU kernel computes it
/// (`x − max − log Σ exp(x − max)`, so that ties created by the rounding match), then the first
/// index of the maximum.
fn greedy_token(mut row: Vec<f32>, forbid: Option<u32>) -> u32 {
    if let Some(t) = forbid {
        if let Some(v) = row.get_mut(t as usize) {
            *v = -10000.0;
        }
    }
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f32 = row.iter().map(|&x| (x - max).exp()).sum();
    let lse = sum.ln();
    let mut best = 0usize;
    let mut best_v = f32::NEG_INFINITY;
    for (i, &x) in row.iter().enumerate() {
        let lp = (x - max) - lse;
        if lp > best_v {
            best_v = lp;
            best = i;
        }
    }
    best as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_applies_repetition_rule() {
        let row = vec![0.0f32, 5.0, 4.0, 1.0];
        assert_eq!(greedy_token(row.clone(), None), 1);
        assert_eq!(greedy_token(row.clone(), Some(1)), 2);
        assert_eq!(greedy_token(row, Some(3)), 1);
    }
}
