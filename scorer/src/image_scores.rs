//! Scores of one generated **image** against its prompt, for `generate-images` (epic 9 Story 8.2
//! pattern: "PickScore / CLIP / VQAScore / Aesthetic"). VQAScore needs a vision LLM and lives in
//! `vbench-prompt` (`vqa`); the three network scores are here:
//!
//! | metric | network | value |
//! |---|---|---|
//! | `clip_similarity` | OpenAI CLIP ViT-B/32 (the hub's `clip_b32`, also used by appearance_style) | raw cosine of the projected image and text embeddings, in [-1, 1] (no ×100, no 2.5× CLIPScore rescale, no clamp: the convention VBench's CLIP dimensions use) |
//! | `aesthetic` | CLIP ViT-L/14 + LAION linear head (the hub's `aesthetic`, as aesthetic_quality) | the head's raw output on LAION's ~1–10 scale (VBench's ÷10 is a video-dimension convention and is not applied) |
//! | `pickscore` | `yuvalkirstain/PickScore_v1` (CLIP-H/14, [`vbench_models::pickscore`]) | `exp(logit_scale) · cos(text, image)` exactly as the model card computes it (~15–25 for real images) |
//!
//! Preprocessing: the two OpenAI checkpoints get OpenAI's `clip.load` transform of a PIL image
//! ([`transforms::clip_transform_pil`]: Pillow bicubic shorter side → 224, torchvision centre
//! crop, /255, CLIP mean/std), as LAION's aesthetic predictor and CLIPScore use them. PickScore
//! gets its processor's transformers `CLIPImageProcessor` ([`ImageProcessorConfig`], read from
//! the laion repo's `preprocessor_config.json`): the same Pillow resize, but the centre crop
//! offset is `(size − crop) // 2` (floor, where torchvision rounds half to even), and
//! `x · rescale_factor` in f64 then f32 before normalising. Texts: the CLIP BPE with
//! SOT/EOT, truncated to 77 tokens (transformers' `truncation=True, max_length=77` keeps the same
//! tokens). Images are read as 8-bit RGB; an alpha channel is dropped (PIL `convert("RGB")`).
//!
//! Parity: `tools/parity/make_fixtures_images.py` and `tests/tests/parity_images.rs`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use candle_core::{DType, Tensor};
use serde::Deserialize;

use crate::error::ScoreError;
use crate::hub::{AestheticNets, ClipWithText, ModelHub, PickScoreNets};
use crate::transforms::{self, Planar};
use crate::video::Frame;

pub const CLIP_SIMILARITY: &str = "clip_similarity";
pub const AESTHETIC: &str = "aesthetic";
pub const PICKSCORE: &str = "pickscore";
/// The network metrics, in report order.
pub const METRICS: [&str; 3] = [PICKSCORE, CLIP_SIMILARITY, AESTHETIC];

/// Manifest files each metric reads: `(entry id, file)`.
pub fn metric_files(metric: &str) -> &'static [(&'static str, &'static str)] {
    match metric {
        CLIP_SIMILARITY => &[
            ("clip-vit-base-patch32", "config.json"),
            ("clip-vit-base-patch32", "model.safetensors"),
            ("clip-vit-base-patch32", "tokenizer.json"),
        ],
        AESTHETIC => &[
            ("clip-vit-large-patch14", "config.json"),
            ("clip-vit-large-patch14", "model.safetensors"),
            ("laion-aesthetic-head", "sa_0_4_vit_l_14_linear.pth"),
        ],
        PICKSCORE => &[
            ("pickscore-v1", "config.json"),
            ("pickscore-v1", "model.safetensors"),
            ("clip-vit-h14-laion2b-processor", "tokenizer.json"),
            ("clip-vit-h14-laion2b-processor", "preprocessor_config.json"),
        ],
        _ => &[],
    }
}

/// CLIP context length.
const CONTEXT: usize = 77;

/// Reads a PNG/JPEG file as 8-bit RGB (alpha dropped, as PIL's `convert("RGB")`).
pub fn load_image(path: &Path) -> Result<Frame, ScoreError> {
    let bytes = std::fs::read(path).map_err(|e| ScoreError::io(path, e))?;
    decode_image(&bytes).map_err(|reason| ScoreError::Image {
        path: path.to_path_buf(),
        reason,
    })
}

/// Decodes PNG/JPEG bytes to 8-bit RGB.
pub fn decode_image(bytes: &[u8]) -> Result<Frame, String> {
    let img = image::load_from_memory(bytes).map_err(|e| e.to_string())?;
    let rgb = img.to_rgb8();
    let (w, h) = rgb.dimensions();
    if w == 0 || h == 0 {
        return Err("image has no pixels".into());
    }
    Ok(Frame {
        width: w as usize,
        height: h as usize,
        data: rgb.into_raw(),
    })
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum SizeSpec {
    Int(usize),
    Map(BTreeMap<String, usize>),
}

/// The fields of a transformers `CLIPImageProcessor` `preprocessor_config.json` that change the
/// pixels. Anything other than resize-shorter-side + centre crop + rescale + normalise with
/// bicubic resampling is rejected rather than approximated.
#[derive(Debug, Clone, Deserialize)]
pub struct ImageProcessorConfig {
    #[serde(default = "yes")]
    do_resize: bool,
    size: SizeSpec,
    #[serde(default = "bicubic")]
    resample: u32,
    #[serde(default = "yes")]
    do_center_crop: bool,
    crop_size: SizeSpec,
    #[serde(default = "yes")]
    do_rescale: bool,
    #[serde(default = "rescale")]
    rescale_factor: f64,
    #[serde(default = "yes")]
    do_normalize: bool,
    image_mean: [f32; 3],
    image_std: [f32; 3],
}

fn yes() -> bool {
    true
}
fn bicubic() -> u32 {
    3
}
fn rescale() -> f64 {
    1.0 / 255.0
}

impl ImageProcessorConfig {
    pub fn from_file(path: &Path) -> Result<Self, ScoreError> {
        let text = std::fs::read_to_string(path).map_err(|e| ScoreError::io(path, e))?;
        let cfg: Self = serde_json::from_str(&text).map_err(|e| {
            ScoreError::Options(format!(
                "{}: not a CLIPImageProcessor config: {e}",
                path.display()
            ))
        })?;
        cfg.validate()
            .map_err(|e| ScoreError::Options(format!("{}: {e}", path.display())))?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<(), String> {
        if !(self.do_resize && self.do_center_crop && self.do_rescale && self.do_normalize) {
            return Err(
                "only do_resize/do_center_crop/do_rescale/do_normalize = true is supported".into(),
            );
        }
        if self.resample != 3 {
            return Err(format!("resample {} is not bicubic (3)", self.resample));
        }
        self.shortest_edge()?;
        self.crop()?;
        Ok(())
    }

    fn shortest_edge(&self) -> Result<usize, String> {
        match &self.size {
            SizeSpec::Int(n) => Ok(*n),
            SizeSpec::Map(m) => m
                .get("shortest_edge")
                .copied()
                .ok_or_else(|| "size has no shortest_edge".to_string()),
        }
    }

    fn crop(&self) -> Result<(usize, usize), String> {
        match &self.crop_size {
            SizeSpec::Int(n) => Ok((*n, *n)),
            SizeSpec::Map(m) => match (m.get("height"), m.get("width")) {
                (Some(&h), Some(&w)) => Ok((h, w)),
                _ => Err("crop_size needs height and width".into()),
            },
        }
    }

    /// `CLIPImageProcessor.preprocess` of one RGB image → planar (3, crop_h, crop_w) f32.
    pub fn preprocess(&self, frame: &Frame) -> Result<Planar, ScoreError> {
        let n = self.shortest_edge().map_err(ScoreError::Options)?;
        let (ch, cw) = self.crop().map_err(ScoreError::Options)?;
        let (rh, rw) = transforms::resize_shorter_size(frame.height, frame.width, n);
        let resized;
        let img = if (rh, rw) == (frame.height, frame.width) {
            frame
        } else {
            resized = transforms::pil_resize_bicubic(frame, rw, rh);
            &resized
        };
        if rh < ch || rw < cw {
            return Err(ScoreError::Options(format!(
                "image resized to {rw}x{rh} is smaller than the {cw}x{ch} crop"
            )));
        }
        // transformers image_transforms.center_crop: integer floor division
        let (top, left) = ((rh - ch) / 2, (rw - cw) / 2);
        let plane = ch * cw;
        let mut data = vec![0f32; 3 * plane];
        for y in 0..ch {
            for x in 0..cw {
                let px = img.pixel(top + y, left + x);
                for k in 0..3 {
                    let v = (px[k] as f64 * self.rescale_factor) as f32;
                    data[k * plane + y * cw + x] = (v - self.image_mean[k]) / self.image_std[k];
                }
            }
        }
        Ok(Planar {
            height: ch,
            width: cw,
            data,
        })
    }
}

fn to_tensor(p: &Planar, dev: &candle_core::Device) -> candle_core::Result<Tensor> {
    Tensor::from_slice(&p.data, (1, 3, p.height, p.width), dev)
}

fn l2(x: &Tensor) -> candle_core::Result<Tensor> {
    vbench_models::pickscore::l2_normalize(&x.to_dtype(DType::F32)?)
}

fn scalar(x: &Tensor) -> candle_core::Result<f64> {
    Ok(x.flatten_all()?.to_vec1::<f32>()?[0] as f64)
}

/// A metric that will not be computed, and why (missing weights, with the fetch command).
#[derive(Debug, Clone, serde::Serialize, PartialEq)]
pub struct SkippedMetric {
    pub metric: String,
    pub reason: String,
}

/// Text embeddings of one prompt, computed once for all images.
pub struct PromptEmbeddings {
    clip: Option<Tensor>,
    pick: Option<Tensor>,
    /// The prompt was longer than 77 CLIP tokens and was truncated.
    pub truncated: bool,
}

impl PromptEmbeddings {
    /// No text metric (a run without network scores).
    pub fn empty() -> Self {
        Self {
            clip: None,
            pick: None,
            truncated: false,
        }
    }
}

/// The loaded networks of the requested metrics.
pub struct ImageScorer {
    clip: Option<Arc<ClipWithText>>,
    aesthetic: Option<Arc<AestheticNets>>,
    pick: Option<Arc<PickScoreNets>>,
    device: candle_core::Device,
    /// Requested metrics whose weights are missing.
    pub skipped: Vec<SkippedMetric>,
}

impl ImageScorer {
    /// Loads the networks of `metrics` (names from [`METRICS`]). A metric whose files are missing
    /// is listed in [`ImageScorer::skipped`] with the resolver's message (where it looked, how to
    /// fetch); a file that is present but broken is an error.
    pub fn load(hub: &ModelHub, metrics: &[&str]) -> Result<Self, ScoreError> {
        let mut s = Self {
            clip: None,
            aesthetic: None,
            pick: None,
            device: hub.runtime.device.clone(),
            skipped: Vec::new(),
        };
        for &m in metrics {
            if !METRICS.contains(&m) {
                return Err(ScoreError::Options(format!(
                    "unknown image metric `{m}` (known: {})",
                    METRICS.join(", ")
                )));
            }
            if let Err(reason) = files_present(hub, m) {
                s.skipped.push(SkippedMetric {
                    metric: m.to_string(),
                    reason,
                });
                continue;
            }
            match m {
                CLIP_SIMILARITY => s.clip = Some(hub.clip_b32()?),
                AESTHETIC => s.aesthetic = Some(hub.aesthetic()?),
                _ => s.pick = Some(hub.pickscore()?),
            }
        }
        Ok(s)
    }

    /// The metrics this scorer computes, in [`METRICS`] order.
    pub fn available(&self) -> Vec<&'static str> {
        METRICS
            .iter()
            .copied()
            .filter(|m| match *m {
                CLIP_SIMILARITY => self.clip.is_some(),
                AESTHETIC => self.aesthetic.is_some(),
                _ => self.pick.is_some(),
            })
            .collect()
    }

    /// Encodes the prompt for the text-dependent metrics.
    pub fn prompt(&self, prompt: &str) -> Result<PromptEmbeddings, ScoreError> {
        let mut truncated = false;
        let clip = match &self.clip {
            Some(c) => {
                let tok = c.tokenizer.tokenize(prompt, CONTEXT)?;
                truncated |= tok.truncated;
                let ids = Tensor::from_slice(&tok.ids, (1, CONTEXT), &self.device)?;
                Some(l2(&c.model.text_features(&ids)?)?)
            }
            None => None,
        };
        let pick = match &self.pick {
            Some(p) => {
                let tok = p.tokenizer.tokenize(prompt, CONTEXT)?;
                truncated |= tok.truncated;
                // up to and including EOT: what transformers sees with padding=True for one text
                let end = tok
                    .ids
                    .iter()
                    .position(|&i| i == crate::text::EOT)
                    .map_or(tok.ids.len(), |i| i + 1);
                let ids = Tensor::from_slice(&tok.ids[..end], (1, end), &self.device)?;
                Some(p.model.text_features(&ids)?)
            }
            None => None,
        };
        Ok(PromptEmbeddings {
            clip,
            pick,
            truncated,
        })
    }

    /// All available metrics of one image (metric → value).
    pub fn score(
        &self,
        prompt: &PromptEmbeddings,
        image: &Frame,
    ) -> Result<BTreeMap<String, f64>, ScoreError> {
        let mut out = BTreeMap::new();
        let openai = if self.clip.is_some() || self.aesthetic.is_some() {
            Some(to_tensor(
                &transforms::clip_transform_pil(image, 224),
                &self.device,
            )?)
        } else {
            None
        };
        if let (Some(c), Some(t), Some(x)) = (&self.clip, &prompt.clip, &openai) {
            let img = l2(&c.model.image_features(x)?)?;
            out.insert(CLIP_SIMILARITY.to_string(), scalar(&img.matmul(&t.t()?)?)?);
        }
        if let (Some(a), Some(x)) = (&self.aesthetic, &openai) {
            let emb = l2(&a.clip.image_features(x)?)?;
            out.insert(AESTHETIC.to_string(), scalar(&a.head.forward(&emb)?)?);
        }
        if let (Some(p), Some(t)) = (&self.pick, &prompt.pick) {
            let x = to_tensor(&p.processor.preprocess(image)?, &self.device)?;
            let img = p.model.image_features(&x)?;
            out.insert(PICKSCORE.to_string(), scalar(&p.model.score(t, &img)?)?);
        }
        Ok(out)
    }
}

/// `Err` = the resolver's message for the first missing file of `metric`.
fn files_present(hub: &ModelHub, metric: &str) -> Result<(), String> {
    for (entry, file) in metric_files(metric) {
        let e = hub
            .resolver
            .manifest
            .entry(entry)
            .map_err(|e| e.to_string())?;
        // the fetch hint names a tag `vbench-score weights download` knows: `pickscore`, or the
        // VBench dimension the shared CLIP / aesthetic entries belong to
        let tag = (metric == PICKSCORE).then_some(PICKSCORE);
        hub.resolver
            .require_for(e, file, tag)
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(w: usize, h: usize) -> Frame {
        Frame {
            width: w,
            height: h,
            data: (0..w * h * 3).map(|i| (i * 7 % 251) as u8).collect(),
        }
    }

    #[test]
    fn processor_crop_is_floor_and_rejects_other_resampling() {
        let cfg: ImageProcessorConfig = serde_json::from_str(
            r#"{"crop_size":{"height":4,"width":4},"size":{"shortest_edge":4},
                "image_mean":[0,0,0],"image_std":[1,1,1],"rescale_factor":1.0}"#,
        )
        .unwrap();
        // 7x4 (w x h): no resize, crop offset (7-4)//2 = 1 (torchvision would round 1.5 to 2)
        let f = frame(7, 4);
        let p = cfg.preprocess(&f).unwrap();
        assert_eq!((p.height, p.width), (4, 4));
        assert_eq!(p.data[0], f.pixel(0, 1)[0] as f32);
        let bad: ImageProcessorConfig = serde_json::from_str(
            r#"{"crop_size":224,"size":224,"resample":2,"image_mean":[0,0,0],"image_std":[1,1,1]}"#,
        )
        .unwrap();
        assert!(bad.validate().unwrap_err().contains("bicubic"));
    }

    #[test]
    fn every_metric_names_manifest_files() {
        let m = vbench_weights::Manifest::builtin();
        for metric in METRICS {
            for (entry, file) in metric_files(metric) {
                let e = m.entry(entry).unwrap();
                assert!(e.file(file).is_some(), "{entry}/{file}");
            }
        }
        assert_eq!(
            m.for_dimensions(&[PICKSCORE]).len(),
            2,
            "pickscore entries are tagged"
        );
    }

    #[test]
    fn decode_drops_alpha() {
        let mut png = Vec::new();
        let img = image::RgbaImage::from_raw(1, 1, vec![10, 20, 30, 0]).unwrap();
        image::DynamicImage::ImageRgba8(img)
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        let f = decode_image(&png).unwrap();
        assert_eq!(f.data, vec![10, 20, 30]);
        assert!(decode_image(b"not an image").is_err());
    }
}
