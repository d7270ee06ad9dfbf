//! Trace folders. Every file is written as soon as its step finishes.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::PromptError;

#[derive(Debug, Clone)]
pub struct TraceDir {
    root: PathBuf,
}

impl TraceDir {
    /// Creates `<parent>/<YYYYmmdd_HHMMSS>` (with `_2`, `_3`, ... if it exists).
    pub fn create_timestamped(parent: &Path) -> Result<Self, PromptError> {
        std::fs::create_dir_all(parent).map_err(|e| PromptError::OutputDir {
            path: parent.into(),
            reason: e.to_string(),
        })?;
        let stamp = chrono::Local::now().format("%Y%m%d_%H%M%S").to_string();
        for n in 1..1000 {
            let name = if n == 1 {
                stamp.clone()
            } else {
                format!("{stamp}_{n}")
            };
            let p = parent.join(name);
            match std::fs::create_dir(&p) {
                Ok(()) => return Ok(Self { root: p }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(PromptError::OutputDir {
                        path: p,
                        reason: e.to_string(),
                    })
                }
            }
        }
        Err(PromptError::OutputDir {
            path: parent.into(),
            reason: "too many runs in the same second".into(),
        })
    }

    /// A sub-folder (name chosen by us, never from user data).
    pub fn subdir(&self, name: &str) -> Result<Self, PromptError> {
        let p = self.root.join(name);
        std::fs::create_dir(&p).map_err(|e| PromptError::OutputDir {
            path: p.clone(),
            reason: e.to_string(),
        })?;
        Ok(Self { root: p })
    }

    pub fn path(&self) -> &Path {
        &self.root
    }

    pub fn write_text(&self, name: &str, text: &str) -> Result<PathBuf, PromptError> {
        let p = self.root.join(name);
        let mut body = text.to_string();
        if !body.ends_with('\n') {
            body.push('\n');
        }
        std::fs::write(&p, body).map_err(|e| PromptError::Write {
            path: p.clone(),
            source: e,
        })?;
        Ok(p)
    }

    pub fn write_json<T: Serialize>(&self, name: &str, value: &T) -> Result<PathBuf, PromptError> {
        let text = serde_json::to_string_pretty(value)
            .expect("trace values serialise (no non-string map keys)");
        self.write_text(name, &text)
    }
}
