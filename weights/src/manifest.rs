//! The checkpoint manifest: data, not code (`data/manifest.json`, compiled in; a user file
//! given with `--weights-manifest` replaces it).

use serde::{Deserialize, Serialize};

use crate::WeightsError;

const BUILTIN: &str = include_str!("../data/manifest.json");

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// A Hugging Face model repository; `dir` is its id.
    Hf,
    /// A direct URL per file (checkpoints that are not on the hub).
    Url,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileSpec {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// For URL entries that point at an archive: the member to extract.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive_member: Option<String>,
    #[serde(default)]
    pub sha256: Option<String>,
    #[serde(default)]
    pub size: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    pub id: String,
    pub network: String,
    pub dimensions: Vec<String>,
    pub source: Source,
    /// `<org>/<repo>`: the folder under `--weights-dir`, and the hub repo id for `hf` entries.
    pub dir: String,
    #[serde(default = "default_revision")]
    pub revision: String,
    /// Key under which a PyTorch checkpoint nests its state dict (`state_dict`, `model`).
    #[serde(default)]
    pub nested_key: Option<String>,
    pub files: Vec<FileSpec>,
}

fn default_revision() -> String {
    "main".to_string()
}

impl Entry {
    pub fn file(&self, name: &str) -> Option<&FileSpec> {
        self.files.iter().find(|f| f.name == name)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub version: u32,
    #[serde(default)]
    pub comment: Option<String>,
    pub entries: Vec<Entry>,
}

impl Manifest {
    /// The manifest shipped with this build.
    pub fn builtin() -> Self {
        Self::from_json(BUILTIN).expect("the built-in manifest is valid JSON (checked by a test)")
    }

    pub fn from_json(text: &str) -> Result<Self, WeightsError> {
        let m: Manifest =
            serde_json::from_str(text).map_err(|e| WeightsError::Manifest(e.to_string()))?;
        m.validate()?;
        Ok(m)
    }

    fn validate(&self) -> Result<(), WeightsError> {
        let mut ids = std::collections::HashSet::new();
        for e in &self.entries {
            if !ids.insert(e.id.as_str()) {
                return Err(WeightsError::Manifest(format!("duplicate id `{}`", e.id)));
            }
            if e.dir.split('/').count() != 2 || e.dir.contains("..") {
                return Err(WeightsError::Manifest(format!(
                    "`{}`: dir must be <org>/<repo>, got `{}`",
                    e.id, e.dir
                )));
            }
            for f in &e.files {
                if f.name.contains("..") || f.name.starts_with('/') {
                    return Err(WeightsError::Manifest(format!(
                        "`{}`: bad file name `{}`",
                        e.id, f.name
                    )));
                }
                if e.source == Source::Url && f.url.is_none() {
                    return Err(WeightsError::Manifest(format!(
                        "`{}`: url entry without a url for `{}`",
                        e.id, f.name
                    )));
                }
            }
        }
        Ok(())
    }

    pub fn entry(&self, id: &str) -> Result<&Entry, WeightsError> {
        self.entries
            .iter()
            .find(|e| e.id == id)
            .ok_or_else(|| WeightsError::UnknownEntry(id.to_string()))
    }

    /// Entries needed by any of `dims`, in manifest order.
    pub fn for_dimensions<'a>(&'a self, dims: &[&str]) -> Vec<&'a Entry> {
        self.entries
            .iter()
            .filter(|e| e.dimensions.iter().any(|d| dims.contains(&d.as_str())))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_manifest_parses_and_covers_weights_md() {
        let m = Manifest::builtin();
        let dino = m.entry("dino-vitb16").unwrap();
        assert_eq!(dino.dir, "facebook/dino-vitb16");
        assert!(dino.file("model.safetensors").is_some());
        let head = m.entry("laion-aesthetic-head").unwrap();
        assert_eq!(head.source, Source::Url);
        assert_eq!(head.dir, "laion/aesthetic-predictor");
        let ids: Vec<_> = m
            .for_dimensions(&["aesthetic_quality"])
            .iter()
            .map(|e| e.id.as_str())
            .collect();
        assert_eq!(ids, ["clip-vit-large-patch14", "laion-aesthetic-head"]);
    }

    #[test]
    fn manifest_rejects_path_escapes() {
        let bad = r#"{"version":1,"entries":[{"id":"x","network":"n","dimensions":[],"source":"hf","dir":"a/../b","files":[]}]}"#;
        assert!(Manifest::from_json(bad).is_err());
        let bad = r#"{"version":1,"entries":[{"id":"x","network":"n","dimensions":[],"source":"hf","dir":"a/b","files":[{"name":"../x"}]}]}"#;
        assert!(Manifest::from_json(bad).is_err());
    }
}
