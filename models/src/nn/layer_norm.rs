//! LayerNorm over the last dimension as one CPU pass per row (f32), for networks that normalise
//! many large activations (Swin-B at 384 px, Tag2Text's 3429-query tagging head).
//!
//! Same maths as [`crate::nn::vit::LayerNorm`] (centred two-pass variance, `(x − μ)/√(σ² + ε)·w + b`,
//! PyTorch's `nn.LayerNorm`), but the row mean and variance are accumulated in f64 and the row
//! is read twice and written once, instead of the eleven tensor ops (five full-size temporaries)
//! of the composed version. Results agree with it to float rounding (≈1e-7 relative). Other
//! devices and dtypes fall back to the composed version, so the CUDA build and path are
//! unchanged.

use candle_core::{CpuStorage, CustomOp3, DType, Layout, Module, Result, Shape, Tensor};
use candle_nn::VarBuilder;
use rayon::prelude::*;

use crate::nn::vit;

/// LayerNorm (weight, bias, eps) over the last dimension; see the module doc.
#[derive(Debug, Clone)]
pub struct FusedLayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f64,
    composed: vit::LayerNorm,
}

impl FusedLayerNorm {
    pub fn new(weight: Tensor, bias: Tensor, eps: f64) -> Self {
        let composed = vit::LayerNorm::new(weight.clone(), bias.clone(), eps);
        Self {
            weight,
            bias,
            eps,
            composed,
        }
    }

    /// Loads `weight` and `bias` of shape `(dim,)` from `vb`.
    pub fn load(dim: usize, eps: f64, vb: VarBuilder) -> Result<Self> {
        Ok(Self::new(vb.get(dim, "weight")?, vb.get(dim, "bias")?, eps))
    }
}

struct LnOp {
    eps: f64,
}

/// Rows of `dim` values from a contiguous slice.
fn contiguous<'a>(s: &'a CpuStorage, l: &Layout, what: &str) -> Result<&'a [f32]> {
    let data = s.as_slice::<f32>()?;
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&data[a..b]),
        None => candle_core::bail!("fused layer_norm: {what} is not contiguous"),
    }
}

impl CustomOp3 for LnOp {
    fn name(&self) -> &'static str {
        "fused-layer-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = contiguous(s1, l1, "input")?;
        let w = contiguous(s2, l2, "weight")?;
        let b = contiguous(s3, l3, "bias")?;
        let dim = l1.dims().last().copied().unwrap_or(0);
        if dim == 0 || w.len() != dim || b.len() != dim {
            candle_core::bail!(
                "fused layer_norm: last dim {dim}, weight {}, bias {}",
                w.len(),
                b.len()
            );
        }
        let eps = self.eps;
        let mut out = vec![0f32; x.len()];
        // Rows in chunks so that small rows still make worthwhile tasks.
        let rows_per_task = (16384 / dim).max(1);
        out.par_chunks_mut(dim * rows_per_task)
            .zip(x.par_chunks(dim * rows_per_task))
            .for_each(|(o, xi)| {
                for (orow, xrow) in o.chunks_exact_mut(dim).zip(xi.chunks_exact(dim)) {
                    let n = dim as f64;
                    let mean = xrow.iter().map(|&v| v as f64).sum::<f64>() / n;
                    let var = xrow
                        .iter()
                        .map(|&v| {
                            let d = v as f64 - mean;
                            d * d
                        })
                        .sum::<f64>()
                        / n;
                    let rstd = 1.0 / (var + eps).sqrt();
                    let (mean, rstd) = (mean as f32, rstd as f32);
                    for (((ov, &xv), &wv), &bv) in orow.iter_mut().zip(xrow).zip(w).zip(b) {
                        *ov = (xv - mean) * rstd * wv + bv;
                    }
                }
            });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

impl Module for FusedLayerNorm {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        if !xs.device().is_cpu()
            || xs.dtype() != DType::F32
            || self.weight.dtype() != DType::F32
            || self.bias.dtype() != DType::F32
        {
            return self.composed.forward(xs);
        }
        let xs = xs.contiguous()?;
        xs.apply_op3_no_bwd(
            &self.weight.contiguous()?,
            &self.bias.contiguous()?,
            &LnOp { eps: self.eps },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn matches_composed_layer_norm() {
        let dev = Device::Cpu;
        let x = (Tensor::randn(0f32, 3., (2, 37, 96), &dev).unwrap() + 5.0).unwrap();
        let w = Tensor::randn(1f32, 0.1, 96, &dev).unwrap();
        let b = Tensor::randn(0f32, 0.1, 96, &dev).unwrap();
        let fused = FusedLayerNorm::new(w.clone(), b.clone(), 1e-5);
        let composed = vit::LayerNorm::new(w, b, 1e-5);
        let a = fused.forward(&x).unwrap();
        let c = composed.forward(&x).unwrap();
        let d = (a - c)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(d < 2e-6, "max diff {d}");
        // non-contiguous input goes through a copy
        let xt = x.transpose(0, 1).unwrap();
        let a = fused.forward(&xt).unwrap();
        let c = composed.forward(&xt).unwrap();
        let d = (a - c)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(d < 2e-6, "max diff {d} (transposed)");
    }
}
