//! sha256 of checkpoint files. Hashing a 1.7 GB checkpoint takes seconds, so results are
//! cached in a small JSON file keyed by path, size and modification time.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::WeightsError;

/// Hex sha256 of a file, streamed.
pub fn sha256_file(path: &Path) -> Result<String, WeightsError> {
    let mut f = std::fs::File::open(path).map_err(|e| WeightsError::io(path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| WeightsError::io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct CacheFile {
    files: BTreeMap<String, CachedHash>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct CachedHash {
    size: u64,
    mtime_ns: u128,
    sha256: String,
}

/// A sha256 cache stored at `path` (created on first write). Failures to read or write the
/// cache only cost a re-hash.
pub struct HashCache {
    path: Option<PathBuf>,
}

impl HashCache {
    pub fn new(path: Option<PathBuf>) -> Self {
        Self { path }
    }

    fn load(&self) -> CacheFile {
        self.path
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    }

    pub fn sha256(&self, file: &Path) -> Result<String, WeightsError> {
        let meta = std::fs::metadata(file).map_err(|e| WeightsError::io(file, e))?;
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let key = std::fs::canonicalize(file)
            .unwrap_or_else(|_| file.to_path_buf())
            .display()
            .to_string();
        let mut cache = self.load();
        if let Some(c) = cache.files.get(&key) {
            if c.size == meta.len() && c.mtime_ns == mtime_ns {
                return Ok(c.sha256.clone());
            }
        }
        let sha = sha256_file(file)?;
        if let Some(p) = &self.path {
            cache.files.insert(
                key,
                CachedHash {
                    size: meta.len(),
                    mtime_ns,
                    sha256: sha.clone(),
                },
            );
            if let Some(dir) = p.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            if let Ok(text) = serde_json::to_string_pretty(&cache) {
                let tmp = p.with_extension(format!("tmp{}", std::process::id()));
                if std::fs::write(&tmp, text).is_ok() {
                    let _ = std::fs::rename(&tmp, p);
                }
            }
        }
        Ok(sha)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_known_bytes_and_cache_hit() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("x.bin");
        std::fs::write(&f, b"abc").unwrap();
        let expected = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(sha256_file(&f).unwrap(), expected);
        let cache = HashCache::new(Some(dir.path().join("hashes.json")));
        assert_eq!(cache.sha256(&f).unwrap(), expected);
        assert!(dir.path().join("hashes.json").exists());
        assert_eq!(cache.sha256(&f).unwrap(), expected);
    }
}
