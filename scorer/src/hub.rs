//! Loads each network once and shares it between the dimensions that use it (CLIP B/32 serves
//! background_consistency and appearance_style).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use vbench_models::{aesthetic, clip, dino_vit, pickscore};
use vbench_weights::resolve::HashCheck;
use vbench_weights::{open_checkpoint, Resolver};

use crate::error::ScoreError;
use crate::runtime::Runtime;
use crate::text::ClipTokenizer;

/// A checkpoint file used in a run, for the environment stamp.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct UsedFile {
    pub entry: String,
    pub file: String,
    pub path: PathBuf,
    pub location: String,
    pub sha256: String,
    /// The manifest's hash differs (a user's own file): kept, with a warning.
    pub hash_mismatch: bool,
}

pub struct ClipWithText {
    pub model: clip::Model,
    pub tokenizer: ClipTokenizer,
}

pub struct AestheticNets {
    pub clip: clip::Model,
    pub head: aesthetic::Model,
}

/// PickScore's CLIP-H/14 with its processor (tokenizer and image preprocessing).
pub struct PickScoreNets {
    pub model: pickscore::Model,
    pub tokenizer: ClipTokenizer,
    pub processor: crate::image_scores::ImageProcessorConfig,
}

#[derive(Default)]
struct Loaded {
    dino: Option<Arc<dino_vit::Model>>,
    clip_b32: Option<Arc<ClipWithText>>,
    aesthetic: Option<Arc<AestheticNets>>,
    pickscore: Option<Arc<PickScoreNets>>,
}

pub struct ModelHub {
    pub resolver: Resolver,
    pub runtime: Runtime,
    loaded: Mutex<Loaded>,
    used: Mutex<BTreeMap<(String, String), UsedFile>>,
    warnings: Mutex<Vec<String>>,
}

impl ModelHub {
    pub fn new(resolver: Resolver, runtime: Runtime) -> Self {
        Self {
            resolver,
            runtime,
            loaded: Mutex::default(),
            used: Mutex::default(),
            warnings: Mutex::default(),
        }
    }

    /// Every file a dimension would need, without loading: `Err` names what is missing.
    pub fn check_available(&self, dim: &str) -> Result<(), ScoreError> {
        for e in self.resolver.manifest.for_dimensions(&[dim]) {
            for f in &e.files {
                if needed_file(dim, &e.id, &f.name) {
                    self.resolver.require_for(e, &f.name, Some(dim))?;
                }
            }
        }
        Ok(())
    }

    fn file(&self, entry_id: &str, name: &str) -> Result<PathBuf, ScoreError> {
        let entry = self.resolver.manifest.entry(entry_id)?;
        let found = self.resolver.require(entry, name)?;
        let spec = entry.file(name).ok_or_else(|| {
            ScoreError::Options(format!("manifest entry `{entry_id}` has no file `{name}`"))
        })?;
        let check = self.resolver.check_hash(spec, &found.path)?;
        let mismatch = matches!(check, HashCheck::Mismatch { .. });
        if let HashCheck::Mismatch { expected, actual } = &check {
            self.warn(format!(
                "{}: sha256 {actual} differs from the manifest's {expected}; using it as given",
                found.path.display()
            ));
        }
        self.used.lock().expect("not poisoned").insert(
            (entry_id.to_string(), name.to_string()),
            UsedFile {
                entry: entry_id.into(),
                file: name.into(),
                path: found.path.clone(),
                location: found.location.to_string(),
                sha256: check.actual().to_string(),
                hash_mismatch: mismatch,
            },
        );
        Ok(found.path)
    }

    fn warn(&self, msg: String) {
        self.warnings.lock().expect("not poisoned").push(msg);
    }

    pub fn take_warnings(&self) -> Vec<String> {
        std::mem::take(&mut *self.warnings.lock().expect("not poisoned"))
    }

    pub fn used_files(&self) -> Vec<UsedFile> {
        self.used
            .lock()
            .expect("not poisoned")
            .values()
            .cloned()
            .collect()
    }

    fn vb(
        &self,
        path: &std::path::Path,
        entry_id: &str,
        dtype: candle_core::DType,
    ) -> Result<candle_nn::VarBuilder<'static>, ScoreError> {
        let nested = self.resolver.manifest.entry(entry_id)?.nested_key.clone();
        Ok(open_checkpoint(
            path,
            nested.as_deref(),
            dtype,
            &self.runtime.device,
        )?)
    }

    /// The model in `slot`, built by `build` the first time.
    fn cached<T>(
        &self,
        slot: fn(&mut Loaded) -> &mut Option<Arc<T>>,
        build: impl FnOnce() -> Result<T, ScoreError>,
    ) -> Result<Arc<T>, ScoreError> {
        if let Some(m) = slot(&mut self.loaded.lock().expect("not poisoned")) {
            return Ok(m.clone());
        }
        let m = Arc::new(build()?);
        *slot(&mut self.loaded.lock().expect("not poisoned")) = Some(m.clone());
        Ok(m)
    }

    /// A CLIP checkpoint's config and weights, in the run's CLIP dtype.
    fn clip_parts(
        &self,
        id: &str,
    ) -> Result<(clip::Config, candle_nn::VarBuilder<'static>), ScoreError> {
        let cfg = clip::Config::from_file(self.file(id, "config.json")?)?;
        let vb = self.vb(
            &self.file(id, "model.safetensors")?,
            id,
            self.runtime.clip_dtype,
        )?;
        Ok((cfg, vb))
    }

    pub fn dino(&self) -> Result<Arc<dino_vit::Model>, ScoreError> {
        self.cached(
            |l| &mut l.dino,
            || {
                let id = "dino-vitb16";
                let cfg = dino_vit::Config::from_file(self.file(id, "config.json")?)?;
                let vb = self.vb(&self.file(id, "model.safetensors")?, id, self.runtime.dtype)?;
                Ok(dino_vit::Model::new(&cfg, vb)?)
            },
        )
    }

    pub fn clip_b32(&self) -> Result<Arc<ClipWithText>, ScoreError> {
        self.cached(
            |l| &mut l.clip_b32,
            || {
                let id = "clip-vit-base-patch32";
                let (cfg, vb) = self.clip_parts(id)?;
                Ok(ClipWithText {
                    model: clip::Model::new(&cfg, vb)?,
                    tokenizer: ClipTokenizer::from_file(&self.file(id, "tokenizer.json")?)?,
                })
            },
        )
    }

    pub fn aesthetic(&self) -> Result<Arc<AestheticNets>, ScoreError> {
        self.cached(
            |l| &mut l.aesthetic,
            || {
                let (cfg, vb) = self.clip_parts("clip-vit-large-patch14")?;
                let hid = "laion-aesthetic-head";
                let head_vb = self.vb(
                    &self.file(hid, "sa_0_4_vit_l_14_linear.pth")?,
                    hid,
                    self.runtime.dtype,
                )?;
                Ok(AestheticNets {
                    clip: clip::Model::new_vision(&cfg, vb)?,
                    head: aesthetic::Model::new(cfg.projection_dim, head_vb)?,
                })
            },
        )
    }
}

impl ModelHub {
    /// PickScore (`pickscore-v1`, fp32 in the run's dtype) and its processor files
    /// (`clip-vit-h14-laion2b-processor`).
    pub fn pickscore(&self) -> Result<Arc<PickScoreNets>, ScoreError> {
        self.cached(
            |l| &mut l.pickscore,
            || {
                let id = "pickscore-v1";
                let cfg = clip::Config::from_json_str_unvalidated(
                    &std::fs::read_to_string(self.file(id, "config.json")?)
                        .map_err(|e| ScoreError::io("pickscore config.json", e))?,
                )?;
                let vb = self.vb(&self.file(id, "model.safetensors")?, id, self.runtime.dtype)?;
                let proc_id = "clip-vit-h14-laion2b-processor";
                Ok(PickScoreNets {
                    model: pickscore::Model::new(&cfg, vb)?,
                    tokenizer: ClipTokenizer::from_file(&self.file(proc_id, "tokenizer.json")?)?,
                    processor: crate::image_scores::ImageProcessorConfig::from_file(
                        &self.file(proc_id, "preprocessor_config.json")?,
                    )?,
                })
            },
        )
    }
}

/// Files of an entry that a dimension actually reads (the CLIP tokenizer only matters to the
/// text tower).
fn needed_file(dim: &str, entry: &str, file: &str) -> bool {
    !(entry == "clip-vit-base-patch32" && file == "tokenizer.json" && dim != "appearance_style")
}
