//! The scoring options of the tools that score what they generate (`generate-videos`,
//! `feedback-loop`): one flag set and one way to load the in-process VBench scorer.

use clap::Args;
use vbench_generate::scoring::Scorer;
use vbench_scorer::{DeviceChoice, ModelHub, Runtime};

use crate::args::WeightsArgs;

#[derive(Debug, Clone, Args)]
pub struct ScoringArgs {
    /// Do not score; outputs keep their generation order.
    #[arg(long)]
    pub skip_scoring: bool,
    /// auto, cpu, cuda or metal.
    #[arg(long, default_value = "auto")]
    pub device: DeviceChoice,
    /// Comma-separated VBench dimensions (default: all 16; those not implemented or without
    /// weights are listed as skipped).
    #[arg(long, value_delimiter = ',')]
    pub dimensions: Vec<String>,
    /// Frames per network batch.
    #[arg(long, default_value_t = 16)]
    pub batch_size: usize,
    #[command(flatten)]
    pub weights: WeightsArgs,
}

impl ScoringArgs {
    /// The hub a scorer loads its networks through, on the chosen device with `batch_size`.
    pub fn hub(&self, batch_size: usize) -> anyhow::Result<ModelHub> {
        let runtime = Runtime::new(self.device, batch_size)?;
        if let Some(n) = &runtime.notice {
            eprintln!("note: {n}");
        }
        Ok(ModelHub::new(self.weights.resolver()?, runtime))
    }

    /// The video scorer, or `None` with `--skip-scoring`.
    pub fn video_scorer(&self) -> anyhow::Result<Option<Scorer>> {
        if self.skip_scoring {
            return Ok(None);
        }
        let hub = self.hub(self.batch_size)?;
        Ok(Some(
            Scorer::new(hub, &self.dimensions).map_err(anyhow::Error::msg)?,
        ))
    }

    /// The options as given, for a run's trace.
    pub fn settings(&self) -> serde_json::Value {
        serde_json::json!({
            "skip_scoring": self.skip_scoring,
            "device": format!("{:?}", self.device).to_lowercase(),
            "dimensions": self.dimensions,
        })
    }
}
