//! LAION aesthetic linear head (`LAION-AI/aesthetic-predictor`, `sa_0_4_vit_l_14_linear.pth`).
//!
//! Reference: VBench `aesthetic_quality.get_aesthetic_model`, an `nn.Linear(768, 1)` loaded
//! strictly from a state dict with exactly the keys `weight` (1, D) and `bias` (1). Input: the
//! L2-normalised projected CLIP ViT-L/14 image embedding (the caller normalises). Output: the raw
//! score on LAION's ~1–10 scale (VBench divides by 10 itself). See spec 10-frame-dims.md §8.4.
//! This is not the "improved aesthetic predictor" MLP.

use candle_core::{Module, Result, Tensor};
use candle_nn::{Linear, VarBuilder};

/// The linear probe `D → 1`.
#[derive(Debug, Clone)]
pub struct Model {
    linear: Linear,
}

impl Model {
    /// Loads `weight` (1, `in_dim`) and `bias` (1) from the root of `vb`.
    pub fn new(in_dim: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            linear: candle_nn::linear(in_dim, 1, vb)?,
        })
    }

    /// `embeds`: (B, D) → scores (B,).
    pub fn forward(&self, embeds: &Tensor) -> Result<Tensor> {
        let (_, d) = embeds.dims2()?;
        let (_, in_dim) = self.linear.weight().dims2()?;
        if d != in_dim {
            candle_core::bail!("aesthetic head: input has {d} features, expected {in_dim}");
        }
        self.linear.forward(embeds)?.squeeze(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};
    use std::collections::HashMap;

    #[test]
    fn forward_is_dot_plus_bias() {
        let dev = Device::Cpu;
        let ts = HashMap::from([
            (
                "weight".to_string(),
                Tensor::new(&[[1f32, -2., 0.5]], &dev).unwrap(),
            ),
            ("bias".to_string(), Tensor::new(&[0.25f32], &dev).unwrap()),
        ]);
        let m = Model::new(3, VarBuilder::from_tensors(ts, DType::F32, &dev)).unwrap();
        let x = Tensor::new(&[[1f32, 1., 1.], [2., 0., 4.]], &dev).unwrap();
        let y = m.forward(&x).unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(y, vec![-0.25, 4.25]);
        assert!(m
            .forward(&Tensor::zeros((1, 4), DType::F32, &dev).unwrap())
            .is_err());
    }

    #[test]
    fn missing_bias_is_an_error() {
        let dev = Device::Cpu;
        let ts = HashMap::from([(
            "weight".to_string(),
            Tensor::zeros((1, 3), DType::F32, &dev).unwrap(),
        )]);
        let err = Model::new(3, VarBuilder::from_tensors(ts, DType::F32, &dev)).unwrap_err();
        assert!(err.to_string().contains("bias"), "{err}");
    }
}
