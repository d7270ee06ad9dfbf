//! Input mapping per model family, from `data/models.json`: which input name a model uses for
//! the prompt, negative prompt, duration, aspect ratio, start image (image-to-video), end image
//! and seed. Adding a family is a data change, not a code path.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub const BUILTIN_MODELS_JSON: &str = include_str!("../data/models.json");

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Family {
    pub name: String,
    pub kind: String,
    #[serde(default, rename = "match")]
    pub matches: Vec<String>,
    /// Generic field → the model's input name (`null` = not supported).
    pub inputs: BTreeMap<String, Option<String>>,
    #[serde(default)]
    pub defaults: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ModelTable {
    pub default_fallbacks: BTreeMap<String, Vec<String>>,
    pub families: Vec<Family>,
    pub generic: Family,
}

/// The generic request, before mapping.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GenericInput {
    pub prompt: String,
    pub negative_prompt: Option<String>,
    pub duration: Option<f64>,
    pub aspect_ratio: Option<String>,
    /// URL or data URI.
    pub image: Option<String>,
    pub end_image: Option<String>,
    pub seed: Option<u64>,
}

/// A mapped request: the model's input object and the generic fields it could not take.
#[derive(Debug, Clone, Serialize)]
pub struct Mapped {
    pub family: String,
    pub input: Value,
    pub dropped: Vec<String>,
    /// The duration the request asks for (given or the family default), for cost estimates.
    pub duration: Option<f64>,
}

impl ModelTable {
    pub fn builtin() -> Self {
        serde_json::from_str(BUILTIN_MODELS_JSON)
            .expect("data/models.json is checked by a unit test")
    }

    pub fn family(&self, model: &str) -> &Family {
        let base = model
            .split(':')
            .next()
            .unwrap_or(model)
            .to_ascii_lowercase();
        self.families
            .iter()
            .flat_map(|f| f.matches.iter().map(move |m| (f, m)))
            .filter(|(_, m)| base.contains(&m.to_ascii_lowercase()))
            .max_by_key(|(_, m)| m.len())
            .map(|(f, _)| f)
            .unwrap_or(&self.generic)
    }

    pub fn fallbacks(&self, mode: &str) -> Vec<String> {
        self.default_fallbacks
            .get(mode)
            .cloned()
            .unwrap_or_default()
    }

    pub fn map(&self, model: &str, g: &GenericInput) -> Mapped {
        let fam = self.family(model);
        let mut input = Map::new();
        let mut dropped = Vec::new();
        let default = |k: &str| fam.defaults.get(k).cloned();
        let duration = g
            .duration
            .or_else(|| default("duration").and_then(|v| v.as_f64()));
        let fields: [(&str, Option<Value>); 7] = [
            ("prompt", Some(Value::String(g.prompt.clone()))),
            (
                "negative_prompt",
                g.negative_prompt.clone().map(Value::String),
            ),
            (
                "duration",
                g.duration
                    .map(|d| {
                        if d.fract() == 0.0 {
                            Value::from(d as i64)
                        } else {
                            Value::from(d)
                        }
                    })
                    .or_else(|| default("duration")),
            ),
            (
                "aspect_ratio",
                g.aspect_ratio
                    .clone()
                    .map(Value::String)
                    .or_else(|| default("aspect_ratio")),
            ),
            ("image", g.image.clone().map(Value::String)),
            ("end_image", g.end_image.clone().map(Value::String)),
            ("seed", g.seed.map(Value::from)),
        ];
        let user_given = |k: &str| match k {
            "duration" => g.duration.is_some(),
            "aspect_ratio" => g.aspect_ratio.is_some(),
            _ => true,
        };
        for (k, v) in fields {
            let Some(v) = v else { continue };
            match fam.inputs.get(k).cloned().flatten() {
                Some(name) => {
                    input.insert(name, v);
                }
                None if user_given(k) => dropped.push(k.to_string()),
                None => {}
            }
        }
        Mapped {
            family: fam.name.clone(),
            input: Value::Object(input),
            dropped,
            duration: fam
                .inputs
                .get("duration")
                .cloned()
                .flatten()
                .and(duration)
                .or(duration),
        }
    }
}

/// `data:<mime>;base64,<…>` for a local image.
pub fn data_uri(bytes: &[u8], path: &std::path::Path) -> String {
    use base64::Engine;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let mime = match ext.as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "gif" => "image/gif",
        _ => "image/png",
    };
    format!(
        "data:{mime};base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_map_their_inputs() {
        let t = ModelTable::builtin();
        let g = GenericInput {
            prompt: "a cat".into(),
            negative_prompt: Some("blur".into()),
            image: Some("data:image/png;base64,AA==".into()),
            end_image: Some("http://x/e.png".into()),
            seed: Some(7),
            ..Default::default()
        };
        let k = t.map("kwaivgi/kling-v1.6-standard", &g);
        assert_eq!(k.family, "kling");
        assert_eq!(k.input["start_image"], "data:image/png;base64,AA==");
        assert_eq!(k.input["end_image"], "http://x/e.png");
        assert_eq!(k.input["duration"], 5);
        assert_eq!(k.input["aspect_ratio"], "16:9");
        assert_eq!(k.dropped, vec!["seed"]);
        assert_eq!(k.duration, Some(5.0));
        let w = t.map("wavespeedai/wan-2.1-i2v-480p", &g);
        assert_eq!(w.family, "wan");
        assert_eq!(w.input["image"], "data:image/png;base64,AA==");
        assert_eq!(w.input["seed"], 7);
        assert_eq!(w.dropped, vec!["end_image"]);
        let p = t.map("pixverse/pixverse-v4", &g);
        assert_eq!(p.input["last_frame_image"], "http://x/e.png");
        let f = t.map("black-forest-labs/flux-schnell", &g);
        assert_eq!(f.family, "flux");
        assert!(f.input.get("negative_prompt").is_none());
        assert!(f.dropped.contains(&"negative_prompt".to_string()));
        let s = t.map("stability-ai/sdxl:abc", &g);
        assert_eq!(s.family, "sdxl");
        assert_eq!(s.input["negative_prompt"], "blur");
        let x = t.map("someone/model", &g);
        assert_eq!(x.family, "generic");
        assert_eq!(x.input["prompt"], "a cat");
        assert!(!t.fallbacks("text-to-video").is_empty());
    }

    #[test]
    fn data_uris() {
        let u = data_uri(&[0, 1, 2], std::path::Path::new("a.JPG"));
        assert_eq!(u, "data:image/jpeg;base64,AAEC");
    }
}
