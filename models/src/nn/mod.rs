//! Building blocks shared by several networks: PyTorch-exact resampling and ViT blocks.

pub mod detection;
pub mod grid_sample;
pub mod layer_norm;
pub mod resample;
pub mod vit;
