//! Finding a checkpoint file: `--weights-dir DIR/<org>/<repo>/<file>` first, then the Hugging
//! Face cache (`models--<org>--<repo>/snapshots/<rev>/<file>`, read without any network), then
//! our own download folder, and only then a download (hf-hub for hub entries, reqwest for URL
//! entries), unless offline.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::hash::HashCache;
use crate::manifest::{Entry, FileSpec, Manifest, Source};
use crate::WeightsError;

/// Where the resolver looks and whether it may download.
#[derive(Debug, Clone)]
pub struct ResolverOptions {
    /// `--weights-dir` / `VBENCH_WEIGHTS_DIR`.
    pub weights_dir: Option<PathBuf>,
    /// The hub cache folder (`HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`).
    pub hf_cache: PathBuf,
    /// Where URL entries are downloaded (`~/.cache/vbench-rs/weights`).
    pub download_dir: PathBuf,
    /// `HF_HUB_OFFLINE=1`: never touch the network.
    pub offline: bool,
    /// `HF_ENDPOINT`, for mirrors and tests.
    pub hf_endpoint: Option<String>,
    /// Show download progress bars.
    pub progress: bool,
}

fn home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

fn env_truthy(name: &str) -> bool {
    std::env::var(name)
        .map(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on"))
        .unwrap_or(false)
}

impl ResolverOptions {
    /// Options from the environment, the way the hub's own clients read it.
    pub fn from_env(weights_dir: Option<PathBuf>) -> Self {
        let hf_cache = env_path("HF_HUB_CACHE")
            .or_else(|| env_path("HF_HOME").map(|h| h.join("hub")))
            .unwrap_or_else(|| home().join(".cache/huggingface/hub"));
        let cache_root = env_path("XDG_CACHE_HOME").unwrap_or_else(|| home().join(".cache"));
        Self {
            weights_dir: weights_dir.or_else(|| env_path("VBENCH_WEIGHTS_DIR")),
            hf_cache,
            download_dir: cache_root.join("vbench-rs/weights"),
            offline: env_truthy("HF_HUB_OFFLINE"),
            hf_endpoint: std::env::var("HF_ENDPOINT").ok().filter(|s| !s.is_empty()),
            progress: true,
        }
    }

    /// The sha256 cache beside the download folder.
    pub fn hash_cache(&self) -> HashCache {
        HashCache::new(Some(self.download_dir.join("../sha256-cache.json")))
    }
}

/// Which of the places in the lookup order a file came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Location {
    WeightsDir,
    HfCache,
    DownloadDir,
    Downloaded,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Location::WeightsDir => "weights dir",
            Location::HfCache => "HF cache",
            Location::DownloadDir => "download dir",
            Location::Downloaded => "downloaded",
        })
    }
}

#[derive(Debug, Clone)]
pub struct Found {
    pub path: PathBuf,
    pub location: Location,
}

/// The outcome of comparing a file with the manifest's sha256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashCheck {
    /// The manifest records no hash for this file.
    Unknown {
        actual: String,
    },
    Match {
        actual: String,
    },
    Mismatch {
        expected: String,
        actual: String,
    },
}

impl HashCheck {
    pub fn actual(&self) -> &str {
        match self {
            HashCheck::Unknown { actual }
            | HashCheck::Match { actual }
            | HashCheck::Mismatch { actual, .. } => actual,
        }
    }
}

pub struct Resolver {
    pub manifest: Manifest,
    pub options: ResolverOptions,
    hashes: HashCache,
}

impl Resolver {
    pub fn new(manifest: Manifest, options: ResolverOptions) -> Self {
        let hashes = options.hash_cache();
        Self {
            manifest,
            options,
            hashes,
        }
    }

    fn hf_cache_path(&self, entry: &Entry, file: &str) -> Option<PathBuf> {
        let repo = self
            .options
            .hf_cache
            .join(format!("models--{}", entry.dir.replace('/', "--")));
        let rev = &entry.revision;
        let commit = if rev.len() == 40 && rev.chars().all(|c| c.is_ascii_hexdigit()) {
            rev.clone()
        } else {
            // hf-hub 0.4 misses refs written with a trailing newline; trim them.
            std::fs::read_to_string(repo.join("refs").join(rev))
                .ok()?
                .trim()
                .to_string()
        };
        let p = repo.join("snapshots").join(commit).join(file);
        p.is_file().then_some(p)
    }

    /// The places searched for `file`, in order, for messages.
    pub fn candidates(&self, entry: &Entry, file: &str) -> Vec<String> {
        let mut v = Vec::new();
        match &self.options.weights_dir {
            Some(d) => v.push(d.join(&entry.dir).join(file).display().to_string()),
            None => v.push("--weights-dir / VBENCH_WEIGHTS_DIR (not set)".to_string()),
        }
        if entry.source == Source::Hf {
            v.push(format!(
                "{} (revision {})",
                self.options
                    .hf_cache
                    .join(format!("models--{}", entry.dir.replace('/', "--")))
                    .join("snapshots/<rev>")
                    .join(file)
                    .display(),
                entry.revision
            ));
        }
        v.push(
            self.options
                .download_dir
                .join(&entry.dir)
                .join(file)
                .display()
                .to_string(),
        );
        v
    }

    /// Finds a file without any network access.
    pub fn locate(&self, entry: &Entry, file: &str) -> Option<Found> {
        if let Some(d) = &self.options.weights_dir {
            let p = d.join(&entry.dir).join(file);
            if p.is_file() {
                return Some(Found {
                    path: p,
                    location: Location::WeightsDir,
                });
            }
        }
        if entry.source == Source::Hf {
            if let Some(p) = self.hf_cache_path(entry, file) {
                return Some(Found {
                    path: p,
                    location: Location::HfCache,
                });
            }
        }
        let p = self.options.download_dir.join(&entry.dir).join(file);
        p.is_file().then_some(Found {
            path: p,
            location: Location::DownloadDir,
        })
    }

    /// The command that fetches this entry, named by the dimension that needs it (the entry's
    /// first dimension when none is given).
    pub fn fetch_command(&self, entry: &Entry, dimension: Option<&str>) -> String {
        let dim = dimension
            .or_else(|| entry.dimensions.first().map(String::as_str))
            .unwrap_or_default();
        let mut cmd = format!("vbench-score weights download {dim}");
        if self.options.offline {
            cmd = format!("HF_HUB_OFFLINE=0 {cmd}");
        }
        if let Some(d) = &self.options.weights_dir {
            cmd.push_str(&format!(
                "   (or put the file at {})",
                d.join(&entry.dir).display()
            ));
        }
        cmd
    }

    /// Finds a file locally, or fails with the message that names where it looked and how to
    /// fetch it.
    pub fn require(&self, entry: &Entry, file: &str) -> Result<Found, WeightsError> {
        self.require_for(entry, file, None)
    }

    /// [`Resolver::require`] on behalf of `dimension`, which the fetch command then names.
    pub fn require_for(
        &self,
        entry: &Entry,
        file: &str,
        dimension: Option<&str>,
    ) -> Result<Found, WeightsError> {
        self.locate(entry, file)
            .ok_or_else(|| WeightsError::NotFound {
                entry: entry.id.clone(),
                file: file.to_string(),
                tried: self.candidates(entry, file),
                fetch_cmd: self.fetch_command(entry, dimension),
            })
    }

    /// Compares a found file with the manifest hash. Files found in the user's weights dir
    /// are the user's choice: a mismatch there is reported, not fatal (the caller warns).
    pub fn check_hash(&self, spec: &FileSpec, path: &Path) -> Result<HashCheck, WeightsError> {
        let actual = self.hashes.sha256(path)?;
        Ok(match &spec.sha256 {
            None => HashCheck::Unknown { actual },
            Some(e) if e.eq_ignore_ascii_case(&actual) => HashCheck::Match { actual },
            Some(e) => HashCheck::Mismatch {
                expected: e.clone(),
                actual,
            },
        })
    }

    /// Finds a file locally, or downloads it (unless offline).
    pub fn fetch(&self, entry: &Entry, file: &str) -> Result<Found, WeightsError> {
        if let Some(f) = self.locate(entry, file) {
            return Ok(f);
        }
        if self.options.offline {
            return Err(WeightsError::Offline {
                what: format!("`{file}` of `{}`", entry.id),
            });
        }
        let spec = entry.file(file).ok_or_else(|| {
            WeightsError::Manifest(format!("`{}` has no file `{file}`", entry.id))
        })?;
        let path = match entry.source {
            Source::Hf => self.download_hf(entry, file)?,
            Source::Url => self.download_url(entry, spec)?,
        };
        if let HashCheck::Mismatch { expected, actual } = self.check_hash(spec, &path)? {
            // A download that does not match is discarded; the caller may try once more.
            let _ = std::fs::remove_file(&path);
            return Err(WeightsError::HashMismatch {
                path,
                expected,
                actual,
            });
        }
        Ok(Found {
            path,
            location: Location::Downloaded,
        })
    }

    fn download_hf(&self, entry: &Entry, file: &str) -> Result<PathBuf, WeightsError> {
        let mut b = hf_hub::api::sync::ApiBuilder::new()
            .with_cache_dir(self.options.hf_cache.clone())
            .with_progress(self.options.progress);
        if let Some(ep) = &self.options.hf_endpoint {
            b = b.with_endpoint(ep.clone());
        }
        let url = format!("hf://{}/{}", entry.dir, file);
        let api = b.build().map_err(|e| WeightsError::Download {
            url: url.clone(),
            reason: e.to_string(),
        })?;
        let repo = hf_hub::Repo::with_revision(
            entry.dir.clone(),
            hf_hub::RepoType::Model,
            entry.revision.clone(),
        );
        api.repo(repo)
            .get(file)
            .map_err(|e| WeightsError::Download {
                url,
                reason: e.to_string(),
            })
    }

    fn download_url(&self, entry: &Entry, spec: &FileSpec) -> Result<PathBuf, WeightsError> {
        let url = spec.url.clone().unwrap_or_default();
        let dest_dir = self.options.download_dir.join(&entry.dir);
        std::fs::create_dir_all(&dest_dir).map_err(|e| WeightsError::io(&dest_dir, e))?;
        let dest = dest_dir.join(&spec.name);
        let part = dest_dir.join(format!("{}.part", spec.name));
        let derr = |reason: String| WeightsError::Download {
            url: url.clone(),
            reason,
        };
        let resp = reqwest::blocking::Client::builder()
            .timeout(None)
            .connect_timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|e| derr(e.to_string()))?
            .get(&url)
            .send()
            .and_then(|r| r.error_for_status())
            .map_err(|e| derr(e.to_string()))?;
        let total = resp.content_length();
        let bar = if self.options.progress {
            let b = indicatif::ProgressBar::new(total.unwrap_or(0));
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            b.set_message(spec.name.clone());
            b
        } else {
            indicatif::ProgressBar::hidden()
        };
        let mut out = std::fs::File::create(&part).map_err(|e| WeightsError::io(&part, e))?;
        let mut reader = resp;
        let mut buf = vec![0u8; 1 << 16];
        let mut got = 0u64;
        loop {
            let n = reader.read(&mut buf).map_err(|e| derr(e.to_string()))?;
            if n == 0 {
                break;
            }
            out.write_all(&buf[..n])
                .map_err(|e| WeightsError::io(&part, e))?;
            got += n as u64;
            bar.set_position(got);
        }
        bar.finish_and_clear();
        drop(out);
        if let Some(t) = total {
            if got != t {
                let _ = std::fs::remove_file(&part);
                return Err(derr(format!("truncated: got {got} of {t} bytes")));
            }
        }
        match &spec.archive_member {
            Some(member) => {
                extract_zip_member(&part, member, &dest)?;
                let _ = std::fs::remove_file(&part);
            }
            None => std::fs::rename(&part, &dest).map_err(|e| WeightsError::io(&dest, e))?,
        }
        Ok(dest)
    }
}

fn extract_zip_member(zip_path: &Path, member: &str, dest: &Path) -> Result<(), WeightsError> {
    let f = std::fs::File::open(zip_path).map_err(|e| WeightsError::io(zip_path, e))?;
    let mut z = zip::ZipArchive::new(f).map_err(|e| WeightsError::Download {
        url: zip_path.display().to_string(),
        reason: format!("not a zip archive: {e}"),
    })?;
    let mut m = z.by_name(member).map_err(|e| WeightsError::Download {
        url: zip_path.display().to_string(),
        reason: format!("archive has no `{member}`: {e}"),
    })?;
    let tmp = dest.with_extension("extract");
    let mut out = std::fs::File::create(&tmp).map_err(|e| WeightsError::io(&tmp, e))?;
    std::io::copy(&mut m, &mut out).map_err(|e| WeightsError::io(&tmp, e))?;
    std::fs::rename(&tmp, dest).map_err(|e| WeightsError::io(dest, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(root: &Path) -> ResolverOptions {
        ResolverOptions {
            weights_dir: None,
            hf_cache: root.join("hub"),
            download_dir: root.join("dl"),
            offline: true,
            hf_endpoint: Some("http://127.0.0.1:9".into()),
            progress: false,
        }
    }

    #[test]
    fn weights_dir_wins_over_hf_cache() {
        let t = tempfile::tempdir().unwrap();
        let m = Manifest::builtin();
        let mut o = opts(t.path());
        let wd = t.path().join("w");
        std::fs::create_dir_all(wd.join("facebook/dino-vitb16")).unwrap();
        std::fs::write(wd.join("facebook/dino-vitb16/config.json"), "{}").unwrap();
        o.weights_dir = Some(wd.clone());
        let snap = t
            .path()
            .join("hub/models--facebook--dino-vitb16/snapshots/abc");
        std::fs::create_dir_all(&snap).unwrap();
        std::fs::write(snap.join("config.json"), "{}").unwrap();
        std::fs::write(snap.join("model.safetensors"), "x").unwrap();
        std::fs::create_dir_all(t.path().join("hub/models--facebook--dino-vitb16/refs")).unwrap();
        // a trailing newline, as some tools write it
        std::fs::write(
            t.path().join("hub/models--facebook--dino-vitb16/refs/main"),
            "abc\n",
        )
        .unwrap();
        let r = Resolver::new(m, o);
        let e = r.manifest.entry("dino-vitb16").unwrap().clone();
        let f = r.locate(&e, "config.json").unwrap();
        assert_eq!(f.location, Location::WeightsDir);
        let f = r.locate(&e, "model.safetensors").unwrap();
        assert_eq!(f.location, Location::HfCache);
        assert_eq!(f.path, snap.join("model.safetensors"));
    }

    #[test]
    fn missing_file_message_names_places_and_command() {
        let t = tempfile::tempdir().unwrap();
        let r = Resolver::new(Manifest::builtin(), opts(t.path()));
        let e = r.manifest.entry("clip-vit-large-patch14").unwrap().clone();
        let err = r.require(&e, "model.safetensors").unwrap_err().to_string();
        assert!(err.contains("model.safetensors"), "{err}");
        assert!(
            err.contains("models--openai--clip-vit-large-patch14"),
            "{err}"
        );
        assert!(
            err.contains("vbench-score weights download aesthetic_quality"),
            "{err}"
        );
        let fetched = r.fetch(&e, "model.safetensors").unwrap_err();
        assert!(matches!(fetched, WeightsError::Offline { .. }));
    }

    #[test]
    fn hash_mismatch_is_reported() {
        let t = tempfile::tempdir().unwrap();
        let r = Resolver::new(Manifest::builtin(), opts(t.path()));
        let f = t.path().join("f");
        std::fs::write(&f, b"abc").unwrap();
        let spec = FileSpec {
            name: "f".into(),
            url: None,
            archive_member: None,
            sha256: Some("00".repeat(32)),
            size: None,
        };
        match r.check_hash(&spec, &f).unwrap() {
            HashCheck::Mismatch { actual, .. } => assert!(actual.starts_with("ba7816bf")),
            other => panic!("{other:?}"),
        }
    }
}
