//! Pre-LN Vision-Transformer building blocks shared by the ViT-style networks.
//!
//! Reference: `facebookresearch/dino` `vision_transformer.py` (`Block`, `Attention`, `Mlp`) and
//! transformers `models/vit/modeling_vit.py` (`ViTLayer`), which compute the same block:
//!
//! ```text
//! x ← x + proj(softmax(q·kᵀ · scale) · v)      with q, k, v = Linear(norm1(x))
//! x ← x + fc2(act(fc1(norm2(x))))
//! ```
//!
//! The parts are built from already-loaded layers, so each network maps its own checkpoint keys
//! ([`hf_vit_layer`] does it for the transformers `ViTLayer` layout:
//! `attention.attention.{query,key,value}`, `attention.output.dense`, `intermediate.dense`,
//! `output.dense`, `layernorm_before`, `layernorm_after`). q, k and v are fused into one
//! `Linear` at load time (rows q | k | v), as in DINO's own `qkv` layer.

use candle_core::{DType, Module, Result, Tensor, D};
use candle_nn::{Linear, VarBuilder};

/// Activation between the two MLP layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// Exact GELU, `x·Φ(x)` with erf (torch `nn.GELU()`; transformers `"gelu"`).
    GeluErf,
    /// OpenAI CLIP's `x·sigmoid(1.702·x)`.
    QuickGelu,
}

impl Module for Activation {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        match self {
            Self::GeluErf => xs.gelu_erf(),
            Self::QuickGelu => xs * candle_nn::ops::sigmoid(&(xs * 1.702f64)?)?,
        }
    }
}

/// LayerNorm over the last dimension with a two-pass variance, computed in f32 (f16/bf16
/// inputs are upcast and the result cast back, like OpenAI CLIP's LayerNorm subclass).
///
/// candle's fused `layer_norm` uses `E[x²] − E[x]²`; this one centres first, which is closer to
/// PyTorch's Welford moments when the mean is large compared with the spread.
#[derive(Debug, Clone)]
pub struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f64,
}

impl LayerNorm {
    pub fn new(weight: Tensor, bias: Tensor, eps: f64) -> Self {
        Self { weight, bias, eps }
    }

    /// Loads `weight` and `bias` of shape `(dim,)` from `vb`.
    pub fn load(dim: usize, eps: f64, vb: VarBuilder) -> Result<Self> {
        Ok(Self::new(vb.get(dim, "weight")?, vb.get(dim, "bias")?, eps))
    }
}

impl Module for LayerNorm {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let in_dtype = xs.dtype();
        let x = xs.to_dtype(DType::F32)?;
        let n = x.dim(D::Minus1)? as f64;
        let mean = (x.sum_keepdim(D::Minus1)? / n)?;
        let xc = x.broadcast_sub(&mean)?;
        let var = (xc.sqr()?.sum_keepdim(D::Minus1)? / n)?;
        let normed = xc.broadcast_div(&(var + self.eps)?.sqrt()?)?;
        normed
            .broadcast_mul(&self.weight.to_dtype(DType::F32)?)?
            .broadcast_add(&self.bias.to_dtype(DType::F32)?)?
            .to_dtype(in_dtype)
    }
}

/// Multi-head self-attention with a fused q|k|v projection and an output projection.
#[derive(Debug, Clone)]
pub struct Attention {
    qkv: Linear,
    proj: Linear,
    num_heads: usize,
    scale: f64,
}

impl Attention {
    /// From a fused `qkv` layer (output rows q | k | v) and the output projection.
    /// The score scale is `head_dim^-0.5`, applied to `q·kᵀ` (DINO's order).
    pub fn new(qkv: Linear, proj: Linear, num_heads: usize) -> Result<Self> {
        let (three_dim, _) = qkv.weight().dims2()?;
        if three_dim % 3 != 0 || (three_dim / 3) % num_heads != 0 {
            candle_core::bail!(
                "attention: qkv has {three_dim} outputs, not 3 × a multiple of {num_heads} heads"
            );
        }
        let head_dim = three_dim / 3 / num_heads;
        Ok(Self {
            qkv,
            proj,
            num_heads,
            scale: 1.0 / (head_dim as f64).sqrt(),
        })
    }

    /// From separate q, k and v layers (transformers layout), fused here.
    pub fn from_separate(
        q: Linear,
        k: Linear,
        v: Linear,
        proj: Linear,
        num_heads: usize,
    ) -> Result<Self> {
        let weight = Tensor::cat(&[q.weight(), k.weight(), v.weight()], 0)?;
        let bias = match (q.bias(), k.bias(), v.bias()) {
            (Some(bq), Some(bk), Some(bv)) => Some(Tensor::cat(&[bq, bk, bv], 0)?),
            (None, None, None) => None,
            _ => candle_core::bail!("attention: q, k and v must all have a bias or none"),
        };
        Self::new(Linear::new(weight, bias), proj, num_heads)
    }

    /// `xs`: (B, N, C). `mask`: optional additive mask broadcastable to (B, heads, N, N).
    pub fn forward(&self, xs: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
        let (b, n, c) = xs.dims3()?;
        let hd = c / self.num_heads;
        let qkv = self
            .qkv
            .forward(xs)?
            .reshape((b, n, 3, self.num_heads, hd))?
            .permute((2, 0, 3, 1, 4))?; // (3, B, H, N, hd)
        let q = qkv.get(0)?.contiguous()?;
        let k = qkv.get(1)?.contiguous()?;
        let v = qkv.get(2)?.contiguous()?;
        let attn = (q.matmul(&k.t()?)? * self.scale)?;
        let attn = match mask {
            Some(m) => attn.broadcast_add(m)?,
            None => attn,
        };
        let attn = candle_nn::ops::softmax_last_dim(&attn)?;
        let out = attn
            .matmul(&v)?
            .transpose(1, 2)?
            .contiguous()?
            .reshape((b, n, c))?;
        self.proj.forward(&out)
    }
}

/// Two-layer MLP.
#[derive(Debug, Clone)]
pub struct Mlp {
    fc1: Linear,
    fc2: Linear,
    act: Activation,
}

impl Mlp {
    pub fn new(fc1: Linear, fc2: Linear, act: Activation) -> Self {
        Self { fc1, fc2, act }
    }
}

impl Module for Mlp {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        self.fc2.forward(&self.act.forward(&self.fc1.forward(xs)?)?)
    }
}

/// One pre-LN transformer block.
#[derive(Debug, Clone)]
pub struct Block {
    norm1: LayerNorm,
    attn: Attention,
    norm2: LayerNorm,
    mlp: Mlp,
}

impl Block {
    pub fn new(norm1: LayerNorm, attn: Attention, norm2: LayerNorm, mlp: Mlp) -> Self {
        Self {
            norm1,
            attn,
            norm2,
            mlp,
        }
    }

    pub fn forward(&self, xs: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
        let xs = (xs + self.attn.forward(&self.norm1.forward(xs)?, mask)?)?;
        &xs + self.mlp.forward(&self.norm2.forward(&xs)?)?
    }
}

/// Sizes of a ViT layer.
#[derive(Debug, Clone, Copy)]
pub struct LayerDims {
    pub hidden: usize,
    pub heads: usize,
    pub mlp_hidden: usize,
    pub qkv_bias: bool,
    pub eps: f64,
    pub act: Activation,
}

/// Loads one transformers `ViTLayer` (`encoder.layer.N`) as a [`Block`].
pub fn hf_vit_layer(d: &LayerDims, vb: VarBuilder) -> Result<Block> {
    let att = vb.pp("attention");
    let lin = |i, o, bias: bool, vb: VarBuilder| {
        if bias {
            candle_nn::linear(i, o, vb)
        } else {
            candle_nn::linear_no_bias(i, o, vb)
        }
    };
    let sa = att.pp("attention");
    let attn = Attention::from_separate(
        lin(d.hidden, d.hidden, d.qkv_bias, sa.pp("query"))?,
        lin(d.hidden, d.hidden, d.qkv_bias, sa.pp("key"))?,
        lin(d.hidden, d.hidden, d.qkv_bias, sa.pp("value"))?,
        candle_nn::linear(d.hidden, d.hidden, att.pp("output").pp("dense"))?,
        d.heads,
    )?;
    let mlp = Mlp::new(
        candle_nn::linear(d.hidden, d.mlp_hidden, vb.pp("intermediate").pp("dense"))?,
        candle_nn::linear(d.mlp_hidden, d.hidden, vb.pp("output").pp("dense"))?,
        d.act,
    );
    Ok(Block::new(
        LayerNorm::load(d.hidden, d.eps, vb.pp("layernorm_before"))?,
        attn,
        LayerNorm::load(d.hidden, d.eps, vb.pp("layernorm_after"))?,
        mlp,
    ))
}

/// Loads one OpenAI-CLIP `ResidualAttentionBlock` (`ln_1`, `attn.{in_proj_weight,
/// in_proj_bias}`, `attn.out_proj`, `ln_2`, `mlp.c_fc`, `mlp.c_proj`) as a [`Block`].
///
/// `nn.MultiheadAttention` packs the q, k and v projections as the rows of `in_proj_weight`
/// (q, then k, then v) with heads as contiguous `head_dim` slices, which is exactly the fused
/// `qkv` layout of [`Attention`]; the block is pre-LN like [`Block`]. Used by ViCLIP's two
/// towers (`viclip_vision.py` / `viclip_text.py` `ResidualAttentionBlock`).
pub fn openai_resblock(d: &LayerDims, vb: VarBuilder) -> Result<Block> {
    let att = vb.pp("attn");
    let qkv = Linear::new(
        att.get((3 * d.hidden, d.hidden), "in_proj_weight")?,
        Some(att.get(3 * d.hidden, "in_proj_bias")?),
    );
    let attn = Attention::new(
        qkv,
        candle_nn::linear(d.hidden, d.hidden, att.pp("out_proj"))?,
        d.heads,
    )?;
    let mlp = Mlp::new(
        candle_nn::linear(d.hidden, d.mlp_hidden, vb.pp("mlp").pp("c_fc"))?,
        candle_nn::linear(d.mlp_hidden, d.hidden, vb.pp("mlp").pp("c_proj"))?,
        d.act,
    );
    Ok(Block::new(
        LayerNorm::load(d.hidden, d.eps, vb.pp("ln_1"))?,
        attn,
        LayerNorm::load(d.hidden, d.eps, vb.pp("ln_2"))?,
        mlp,
    ))
}

/// The additive causal mask of OpenAI CLIP's text tower (`build_attention_mask`): an `(n, n)`
/// f32 matrix with `-inf` strictly above the diagonal and 0 elsewhere.
pub fn causal_mask(n: usize, device: &candle_core::Device) -> Result<Tensor> {
    let data: Vec<f32> = (0..n)
        .flat_map(|i| (0..n).map(move |j| if j > i { f32::NEG_INFINITY } else { 0.0 }))
        .collect();
    Tensor::from_vec(data, (n, n), device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn layer_norm_hand_computed() {
        let dev = Device::Cpu;
        let x = Tensor::new(
            &[[1f32, 2., 3., 4.], [1000.5, 1001.5, 1002.5, 1003.5]],
            &dev,
        )
        .unwrap();
        let ln = LayerNorm::new(
            Tensor::new(&[1f32, 1., 2., 1.], &dev).unwrap(),
            Tensor::new(&[0f32, 0., 0., 1.], &dev).unwrap(),
            0.0,
        );
        let y = ln.forward(&x).unwrap().to_vec2::<f32>().unwrap();
        // mean 2.5, var 1.25: (x−2.5)/sqrt(1.25) = ±1.3416408, ±0.4472136.
        let z = [-1.3416408f32, -0.4472136, 0.4472136 * 2.0, 1.3416408 + 1.0];
        for row in &y {
            for (a, b) in row.iter().zip(&z) {
                assert!((a - b).abs() < 1e-5, "{a} vs {b}");
            }
        }
    }

    #[test]
    fn gelu_is_exact_erf() {
        let x = Tensor::new(&[1f32], &Device::Cpu).unwrap();
        let y = Activation::GeluErf
            .forward(&x)
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()[0];
        // 0.5·(1 + erf(1/√2)) = 0.8413447; tanh approximation gives 0.8411920.
        assert!((y - 0.841_344_7).abs() < 1e-6, "{y}");
    }
    #[test]
    fn causal_mask_is_minus_inf_above_the_diagonal() {
        let m = causal_mask(3, &Device::Cpu)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        let ninf = f32::NEG_INFINITY;
        assert_eq!(
            m,
            vec![
                vec![0.0, ninf, ninf],
                vec![0.0, 0.0, ninf],
                vec![0.0, 0.0, 0.0]
            ]
        );
    }

    #[test]
    fn openai_resblock_reads_packed_in_proj() {
        use candle_nn::VarMap;
        let dev = Device::Cpu;
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &dev);
        let d = LayerDims {
            hidden: 8,
            heads: 2,
            mlp_hidden: 32,
            qkv_bias: true,
            eps: 1e-5,
            act: Activation::QuickGelu,
        };
        let blk = openai_resblock(&d, vb.pp("resblocks.0")).unwrap();
        let names: std::collections::BTreeSet<String> =
            vm.data().lock().unwrap().keys().cloned().collect();
        for k in [
            "resblocks.0.attn.in_proj_weight",
            "resblocks.0.attn.in_proj_bias",
            "resblocks.0.attn.out_proj.weight",
            "resblocks.0.mlp.c_fc.bias",
            "resblocks.0.ln_2.weight",
        ] {
            assert!(names.contains(k), "{k} not read: {names:?}");
        }
        let x = Tensor::randn(0f32, 1.0, (1, 4, 8), &dev).unwrap();
        let mask = causal_mask(4, &dev).unwrap();
        let y = blk.forward(&x, Some(&mask)).unwrap();
        assert_eq!(y.dims(), &[1, 4, 8]);
        // causal: the first token's output does not depend on later tokens
        let x2 = Tensor::cat(
            &[
                x.narrow(1, 0, 1).unwrap(),
                (x.narrow(1, 1, 3).unwrap() * 3.0).unwrap(),
            ],
            1,
        )
        .unwrap();
        let y2 = blk.forward(&x2, Some(&mask)).unwrap();
        let a: Vec<f32> = y
            .narrow(1, 0, 1)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let b: Vec<f32> = y2
            .narrow(1, 0, 1)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        assert_eq!(a, b);
    }
}
