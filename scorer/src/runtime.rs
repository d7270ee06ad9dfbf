//! The one place that picks a device and dtype.

use candle_core::{DType, Device};

use crate::error::ScoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceChoice {
    #[default]
    Auto,
    Cpu,
    Cuda,
    Metal,
}

impl std::str::FromStr for DeviceChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "cuda" | "gpu" => Ok(Self::Cuda),
            "metal" | "mps" => Ok(Self::Metal),
            o => Err(format!("unknown device `{o}` (auto, cpu, cuda, metal)")),
        }
    }
}

/// Numeric precision of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// fp32 everywhere: VBench 0.1.5 on CPU, the parity target and the default.
    #[default]
    Fp32,
    /// The OpenAI CLIP towers with fp16 weights and activations, as `clip.load` leaves them on
    /// CUDA in VBench (spec 10-frame-dims §1.4); everything else fp32. An approximation of
    /// VBench's GPU numbers (LayerNorm statistics and the cosine arithmetic stay f32 here), for
    /// comparing with published GPU results; not VBench-CPU-compatible.
    VbenchCudaFp16,
}

impl std::str::FromStr for Precision {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "fp32" | "f32" => Ok(Self::Fp32),
            "vbench-cuda-fp16" | "clip-fp16" => Ok(Self::VbenchCudaFp16),
            o => Err(format!("unknown precision `{o}` (fp32, vbench-cuda-fp16)")),
        }
    }
}

/// Device, dtype and batching for a run.
#[derive(Debug, Clone)]
pub struct Runtime {
    pub device: Device,
    pub dtype: DType,
    /// The dtype the CLIP towers are loaded in ([`Precision`]).
    pub clip_dtype: DType,
    /// Frames per forward pass.
    pub batch_size: usize,
    /// A line to show the user when `auto` fell back (e.g. "CUDA not available, using CPU").
    pub notice: Option<String>,
    /// VBench's `--imaging_quality_preprocessing_mode` (default `longer`).
    pub imaging_quality_mode: crate::dimensions::imaging_quality::PreprocessMode,
}

impl Runtime {
    pub fn new(choice: DeviceChoice, batch_size: usize) -> Result<Self, ScoreError> {
        let batch_size = batch_size.max(1);
        let (device, notice) = match choice {
            DeviceChoice::Cpu => (Device::Cpu, None),
            DeviceChoice::Cuda => (
                Device::new_cuda(0).map_err(|e| {
                    ScoreError::Device(format!(
                        "CUDA requested but not available ({e}); build with --features cuda on a machine with an NVIDIA driver, or use --device cpu"
                    ))
                })?,
                None,
            ),
            DeviceChoice::Metal => (
                Device::new_metal(0).map_err(|e| {
                    ScoreError::Device(format!(
                        "Metal requested but not available ({e}); build with --features metal on macOS, or use --device cpu"
                    ))
                })?,
                None,
            ),
            DeviceChoice::Auto => {
                if candle_core::utils::cuda_is_available() {
                    match Device::new_cuda(0) {
                        Ok(d) => (d, None),
                        Err(e) => (Device::Cpu, Some(format!("CUDA unavailable ({e}); using CPU"))),
                    }
                } else if candle_core::utils::metal_is_available() {
                    match Device::new_metal(0) {
                        Ok(d) => (d, None),
                        Err(e) => (Device::Cpu, Some(format!("Metal unavailable ({e}); using CPU"))),
                    }
                } else {
                    (
                        Device::Cpu,
                        Some("no GPU backend in this build or no GPU found; using CPU".into()),
                    )
                }
            }
        };
        Ok(Self {
            device,
            dtype: DType::F32,
            clip_dtype: DType::F32,
            batch_size,
            notice,
            imaging_quality_mode: Default::default(),
        })
    }

    pub fn cpu(batch_size: usize) -> Self {
        Self {
            device: Device::Cpu,
            dtype: DType::F32,
            clip_dtype: DType::F32,
            batch_size: batch_size.max(1),
            notice: None,
            imaging_quality_mode: Default::default(),
        }
    }

    pub fn with_precision(mut self, precision: Precision) -> Self {
        self.clip_dtype = match precision {
            Precision::Fp32 => DType::F32,
            Precision::VbenchCudaFp16 => DType::F16,
        };
        self
    }

    /// The preprocessing mode `imaging_quality` loads with ([`crate::dimensions::load`]).
    pub fn with_imaging_quality_mode(
        mut self,
        mode: crate::dimensions::imaging_quality::PreprocessMode,
    ) -> Self {
        self.imaging_quality_mode = mode;
        self
    }

    pub fn precision(&self) -> Precision {
        if self.clip_dtype == DType::F16 {
            Precision::VbenchCudaFp16
        } else {
            Precision::Fp32
        }
    }

    pub fn device_name(&self) -> String {
        match &self.device {
            Device::Cpu => "cpu".into(),
            Device::Cuda(_) => "cuda:0".into(),
            Device::Metal(_) => "metal:0".into(),
        }
    }
}
