//! Argument groups shared by the binaries.

use std::path::PathBuf;

use clap::Args;

/// Where checkpoints come from.
#[derive(Debug, Clone, Args)]
pub struct WeightsArgs {
    /// Folder laid out as `<org>/<repo>/<file>` (see weights.md); searched before the Hugging
    /// Face cache. Also read from VBENCH_WEIGHTS_DIR.
    #[arg(long, value_name = "DIR")]
    pub weights_dir: Option<PathBuf>,
    /// A weights manifest replacing the built-in one (same JSON format).
    #[arg(long, value_name = "FILE")]
    pub weights_manifest: Option<PathBuf>,
}

impl WeightsArgs {
    pub fn resolver(&self) -> anyhow::Result<vbench_weights::Resolver> {
        let manifest = match &self.weights_manifest {
            Some(p) => vbench_weights::Manifest::from_json(
                &std::fs::read_to_string(p)
                    .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", p.display()))?,
            )?,
            None => vbench_weights::Manifest::builtin(),
        };
        Ok(vbench_weights::Resolver::new(
            manifest,
            vbench_weights::ResolverOptions::from_env(self.weights_dir.clone()),
        ))
    }
}
