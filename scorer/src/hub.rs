//! Loads each network once and shares it between the dimensions that use it (CLIP B/32 serves
//! background_consistency and appearance_style).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use vbench_models::{aesthetic, amt, clip, dino_vit, musiq, pickscore, raft, viclip};
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
    musiq: Option<Arc<musiq::Model>>,
    amt: Option<Arc<amt::Model>>,
    raft: Option<Arc<raft::Model>>,
    umt: Option<Arc<crate::dimensions::human_action::UmtNet>>,
    tag2text: Option<Arc<crate::dimensions::scene::Tag2TextNets>>,
    grit: Option<Arc<crate::grit_net::GritNets>>,
    grit_detector: Option<Arc<crate::grit_net::GritDetector>>,
    pickscore: Option<Arc<PickScoreNets>>,
    viclip: Option<Arc<ViClipNets>>,
}

pub struct ModelHub {
    pub resolver: Resolver,
    pub runtime: Runtime,
    /// Non-default dimension behaviours (CLI flags).
    pub options: crate::dimensions::DimensionOptions,
    loaded: Mutex<Loaded>,
    used: Mutex<BTreeMap<(String, String), UsedFile>>,
    warnings: WarningSink,
}

impl ModelHub {
    pub fn new(resolver: Resolver, runtime: Runtime) -> Self {
        Self {
            resolver,
            runtime,
            options: Default::default(),
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

impl ModelHub {
    /// MUSIQ-SPAQ as VBench builds it (`MUSIQ(pretrained_model_path=...)`, pyiqa defaults).
    /// MUSIQ-SPAQ ([`musiq::Config::spaq`]). An optional `<checkpoint stem>.config.json` beside
    /// the checkpoint (a serialised [`musiq::Config`]) replaces the preset; the end-to-end tests
    /// use it for the shrunken parity network.
    pub fn musiq(&self) -> Result<Arc<musiq::Model>, ScoreError> {
        self.cached(
            |l| &mut l.musiq,
            || {
                let id = "musiq-spaq";
                let path = self.file(id, "musiq_spaq_ckpt-358bb6af.pth")?;
                let cfg = sidecar_config(&path)?.unwrap_or_else(musiq::Config::spaq);
                let vb = self.vb(&path, id, self.runtime.dtype)?;
                Ok(musiq::Model::new(&cfg, vb)?)
            },
        )
    }

    /// AMT-S (`amt-s.pth`, opened on its nested `state_dict`), fp32 as VBench runs it.
    pub fn amt(&self) -> Result<Arc<amt::Model>, ScoreError> {
        self.cached(
            |l| &mut l.amt,
            || {
                let id = "amt-s";
                let vb = self.vb(&self.file(id, "amt-s.pth")?, id, candle_core::DType::F32)?;
                Ok(amt::Model::new(&amt::Config::amt_s(), vb)?)
            },
        )
    }

    /// RAFT `raft-things.pth` (dynamic_degree, the static filter): the DataParallel state dict
    /// with `module.` stripped by the loader (VBench strips it too), fp32.
    pub fn raft(&self) -> Result<Arc<raft::Model>, ScoreError> {
        self.cached(
            |l| &mut l.raft,
            || {
                let id = "raft-things";
                let vb = self.vb(&self.file(id, "raft-things.pth")?, id, self.runtime.dtype)?;
                Ok(raft::Model::new(&raft::Config::raft_things(), vb)?)
            },
        )
    }

    /// UMT-L/16 (Kinetics-400) for human_action, loaded like VBench's
    /// `model.load_state_dict(torch.load(path), strict=False)` (spec 30-video-text.md §4.5): the
    /// state dict is the file's top level, keys as they are (no unwrapping, no `module.` strip);
    /// `pos_embed` from the file replaces the computed table; extra keys are ignored (listed in a
    /// warning). A file nested under `model`/`state_dict`/`module` is still read, with a warning:
    /// VBench's strict=False load would match none of its keys and score a random network.
    pub fn umt(&self) -> Result<Arc<crate::dimensions::human_action::UmtNet>, ScoreError> {
        use std::collections::HashMap;
        use vbench_models::umt;
        self.cached(
            |l| &mut l.umt,
            || {
                let id = "umt-l16-k400";
                let path = self.file(id, "l16_ptk710_ftk710_ftk400_f16_res224.pth")?;
                let flat = match vbench_weights::load::sniff(&path)? {
                    vbench_weights::CheckpointFormat::TorchZip => {
                        vbench_weights::torch_zip::read_all(&path, None)
                            .ok()
                            .filter(|t| !t.is_empty())
                    }
                    _ => None,
                };
                let tensors: HashMap<String, candle_core::Tensor> = match flat {
                    Some(t) => t.into_iter().collect(),
                    None => {
                        let nested = self.resolver.manifest.entry(id)?.nested_key.clone();
                        let t = vbench_weights::load::read_torch_tensors(&path, nested.as_deref())?;
                        if vbench_weights::load::sniff(&path)?
                            == vbench_weights::CheckpointFormat::TorchZip
                        {
                            self.warn(format!(
                                "{}: the state dict is not at the top level; VBench's \
                                 load_state_dict(strict=False) would load none of it and score a \
                                 randomly initialised UMT, this run uses the nested weights",
                                path.display()
                            ));
                        }
                        t
                    }
                };
                let cfg = umt::Config::from_shapes(&|k| tensors.get(k).map(|t| t.dims().to_vec()))?;
                let known: std::collections::HashSet<String> = cfg.keys().into_iter().collect();
                let mut extra: Vec<&String> = tensors.keys().filter(|k| !known.contains(*k)).collect();
                if !extra.is_empty() {
                    extra.sort();
                    self.warn(format!(
                        "{}: {} keys not in the UMT model, ignored as by VBench's strict=False load: {}",
                        path.display(),
                        extra.len(),
                        extra.iter().take(8).map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                    ));
                }
                let vb = candle_nn::VarBuilder::from_tensors(
                    tensors,
                    self.runtime.dtype,
                    &self.runtime.device,
                );
                Ok(crate::dimensions::human_action::UmtNet {
                    model: umt::Model::new(&cfg, vb)?,
                    names: crate::dimensions::human_action::kinetics_400_names(),
                })
            },
        )
    }

    /// Tag2Text Swin-B/384 (`tag2text_swin_14m.pth`, `{"model": ...}`) and the BERT tokenizer.
    /// An optional `<checkpoint stem>.config.json` beside the checkpoint (a serialised
    /// [`vbench_models::tag2text::Config`]) replaces the preset; the end-to-end tests use it for
    /// the parity fixture's shrunken network.
    pub fn tag2text(&self) -> Result<Arc<crate::dimensions::scene::Tag2TextNets>, ScoreError> {
        self.cached(
            |l| &mut l.tag2text,
            || {
                let id = "tag2text-swin-14m";
                let path = self.file(id, "tag2text_swin_14m.pth")?;
                let cfg = sidecar_config(&path)?
                    .unwrap_or_else(vbench_models::tag2text::Config::tag2text_swin_b_384);
                let vb = self.vb(&path, id, self.runtime.dtype)?;
                let tokenizer = crate::tag2text_caption::BertTokenizer::from_file(
                    &self.file("bert-base-uncased", "tokenizer.json")?,
                )?;
                Ok(crate::dimensions::scene::Tag2TextNets {
                    model: vbench_models::tag2text::Tag2Text::new(&cfg, vb)?,
                    tokenizer,
                })
            },
        )
    }

    /// GRiT-B (`grit_b_densecap_objectdet.pth`, `{"model": ...}` or a bare state dict) and the
    /// bert-base-uncased tokenizer. An optional `<checkpoint stem>.config.json` beside the
    /// checkpoint (a serialised [`vbench_models::grit::GritConfig`]) replaces the preset; the
    /// end-to-end tests use it for the parity fixture's shrunken network.
    pub fn grit(&self) -> Result<Arc<crate::grit_net::GritNets>, ScoreError> {
        self.cached(
            |l| &mut l.grit,
            || {
                let id = "grit-b-densecap-objectdet";
                let path = self.file(id, "grit_b_densecap_objectdet.pth")?;
                let cfg =
                    sidecar_config(&path)?.unwrap_or_else(vbench_models::grit::GritConfig::grit_b);
                // fp32 always: a half-precision GRiT flips detections at the 0.5 threshold
                let vb = self.vb(&path, id, candle_core::DType::F32)?;
                let tokenizer = crate::tag2text_caption::BertTokenizer::from_file(
                    &self.file("bert-base-uncased", "tokenizer.json")?,
                )?;
                Ok(crate::grit_net::GritNets {
                    model: vbench_models::grit::Grit::new(&cfg, vb)?,
                    tokenizer,
                })
            },
        )
    }

    /// The one GRiT detector the four semantic dimensions share (so a frame's box path runs
    /// once for all of them).
    pub fn grit_detector(&self) -> Result<Arc<crate::grit_net::GritDetector>, ScoreError> {
        let nets = self.grit()?;
        self.cached(
            |l| &mut l.grit_detector,
            || {
                Ok(crate::grit_net::GritDetector::new(
                    nets,
                    self.runtime.device.clone(),
                ))
            },
        )
    }

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

/// The dimensions that use ViCLIP.
const VICLIP_DIMS: [&str; 2] = ["overall_consistency", "temporal_style"];
/// The manifest entry whose `tokenizer.json` is OpenAI's CLIP BPE (the vocabulary ViCLIP's
/// `SimpleTokenizer` reads from `bpe_simple_vocab_16e6.txt.gz`).
const CLIP_BPE_ENTRY: &str = "clip-vit-base-patch32";

/// An optional `<checkpoint stem>.config.json` beside a checkpoint (a serialised model config
/// replacing the preset; the end-to-end tests use it for the parity fixtures' shrunken networks).
fn sidecar_config<T: serde::de::DeserializeOwned>(
    checkpoint: &std::path::Path,
) -> Result<Option<T>, ScoreError> {
    let path = checkpoint.with_extension("config.json");
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).map_err(|e| ScoreError::io(&path, e))?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| ScoreError::Options(format!("{}: {e}", path.display())))
}

/// Files of an entry that a dimension actually reads (the CLIP tokenizer only matters to the
/// text tower).
fn needed_file(dim: &str, entry: &str, file: &str) -> bool {
    let clip_text_unused =
        entry == "clip-vit-base-patch32" && file == "tokenizer.json" && dim != "appearance_style";
    // scene (Tag2Text) and the GRiT dimensions read only the tokenizer of the BERT entry
    let bert_extra_unused = entry == "bert-base-uncased" && file != "tokenizer.json";
    !clip_text_unused && !bert_extra_unused
}
