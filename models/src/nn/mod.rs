//! Building blocks shared by several networks: PyTorch-exact resampling, banded im2col
//! convolution, grid_sample and ViT blocks.

pub mod conv;
pub mod detection;
pub mod grid_sample;
pub mod layer_norm;
pub mod resample;
pub mod vit;
