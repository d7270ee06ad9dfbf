//! Loads each network once and shares it between the dimensions that use it (CLIP B/32 serves
//! background_consistency and appearance_style).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use vbench_models::{aesthetic, clip, dino_vit, viclip};
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

/// ViCLIP and the CLIP BPE tokenizer it uses (overall_consistency, temporal_style).
pub struct ViClipNets {
    pub model: viclip::Model,
    pub tokenizer: ClipTokenizer,
}

/// Where dimensions leave run-level notices (e.g. a truncated prompt) while scoring; they end up
/// in the run summary's warnings with the hub's own.
#[derive(Clone, Default)]
pub struct WarningSink(Arc<Mutex<Vec<String>>>);

impl WarningSink {
    pub fn push(&self, msg: String) {
        self.0.lock().expect("not poisoned").push(msg);
    }
}

#[derive(Default)]
struct Loaded {
    dino: Option<Arc<dino_vit::Model>>,
    clip_b32: Option<Arc<ClipWithText>>,
    aesthetic: Option<Arc<AestheticNets>>,
    viclip: Option<Arc<ViClipNets>>,
}

pub struct ModelHub {
    pub resolver: Resolver,
    pub runtime: Runtime,
    loaded: Mutex<Loaded>,
    used: Mutex<BTreeMap<(String, String), UsedFile>>,
    warnings: WarningSink,
}

impl ModelHub {
    pub fn new(resolver: Resolver, runtime: Runtime) -> Self {
        Self {
            resolver,
            runtime,
            loaded: Mutex::default(),
            used: Mutex::default(),
            warnings: WarningSink::default(),
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
        if VICLIP_DIMS.contains(&dim) {
            // ViCLIP's tokenizer is the CLIP BPE shipped with clip-vit-base-patch32
            let e = self.resolver.manifest.entry(CLIP_BPE_ENTRY)?;
            self.resolver.require_for(e, "tokenizer.json", Some(dim))?;
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
        self.warnings.push(msg);
    }

    pub fn take_warnings(&self) -> Vec<String> {
        std::mem::take(&mut *self.warnings.0.lock().expect("not poisoned"))
    }

    /// A handle dimensions keep to add warnings during scoring.
    pub fn warning_sink(&self) -> WarningSink {
        self.warnings.clone()
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

    /// ViCLIP-L/14 as VBench builds it ([`viclip::Config::vbench`]). An optional
    /// `<checkpoint stem>.config.json` beside the checkpoint (a serialised [`viclip::Config`])
    /// replaces the preset; the parity fixtures use it for their shrunken network.
    pub fn viclip(&self) -> Result<Arc<ViClipNets>, ScoreError> {
        self.cached(
            |l| &mut l.viclip,
            || {
                let id = "viclip-internvid-10m-flt";
                let path = self.file(id, "ViClip-InternVid-10M-FLT.pth")?;
                let cfg_path = path.with_extension("config.json");
                let cfg = if cfg_path.is_file() {
                    let text = std::fs::read_to_string(&cfg_path)
                        .map_err(|e| ScoreError::io(&cfg_path, e))?;
                    viclip::Config::from_json_str(&text)
                        .map_err(|e| e.context(cfg_path.display().to_string()))?
                } else {
                    viclip::Config::vbench()
                };
                let vb = self.vb(&path, id, self.runtime.dtype)?;
                Ok(ViClipNets {
                    model: viclip::Model::new(&cfg, vb)?,
                    tokenizer: ClipTokenizer::from_file(
                        &self.file(CLIP_BPE_ENTRY, "tokenizer.json")?,
                    )?,
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

/// The dimensions that use ViCLIP.
const VICLIP_DIMS: [&str; 2] = ["overall_consistency", "temporal_style"];
/// The manifest entry whose `tokenizer.json` is OpenAI's CLIP BPE (the vocabulary ViCLIP's
/// `SimpleTokenizer` reads from `bpe_simple_vocab_16e6.txt.gz`).
const CLIP_BPE_ENTRY: &str = "clip-vit-base-patch32";

/// Files of an entry that a dimension actually reads (the CLIP tokenizer only matters to the
/// text tower).
fn needed_file(dim: &str, entry: &str, file: &str) -> bool {
    !(entry == "clip-vit-base-patch32" && file == "tokenizer.json" && dim != "appearance_style")
}
