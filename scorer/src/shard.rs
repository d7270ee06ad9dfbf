//! Splitting a run over several processes (`--shard K/N`, Slurm job arrays, Kubernetes Indexed
//! Jobs) and merging the shards back into the results one process would have written.
//!
//! A video belongs to shard `u64(sha256(video_path)[..8]) mod N`: stable under any reordering
//! of the input list, and the same on every machine for the same paths. Each shard writes its
//! per-video lines and a manifest (`<name>-shard-K-of-N_shard.json`) listing the whole run's
//! inputs, dimensions, weights and version; `merge` checks the shards belong together and writes
//! `<name>_eval_results.json` from the lines in input order, byte-identical to a single run.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::ScoreError;
use crate::evaluate::{read_lines, VideoLine};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// 0-based.
    pub index: usize,
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;
    /// `K/N` with 0 ≤ K < N.
    fn from_str(s: &str) -> Result<Self, String> {
        let (k, n) = s
            .split_once('/')
            .ok_or_else(|| format!("--shard expects K/N (0-based K), got `{s}`"))?;
        let index: usize = k
            .trim()
            .parse()
            .map_err(|_| format!("bad shard index `{k}`"))?;
        let count: usize = n
            .trim()
            .parse()
            .map_err(|_| format!("bad shard count `{n}`"))?;
        Shard::new(index, count)
    }
}

impl Shard {
    pub fn new(index: usize, count: usize) -> Result<Self, String> {
        if count == 0 || index >= count {
            return Err(format!("shard {index}/{count}: need 0 <= K < N"));
        }
        Ok(Self { index, count })
    }

    /// The shard a video belongs to.
    pub fn of(video_path: &str, count: usize) -> usize {
        let h = Sha256::digest(video_path.as_bytes());
        let v = u64::from_be_bytes(h[..8].try_into().expect("8 bytes"));
        (v % count as u64) as usize
    }

    pub fn contains(&self, video_path: &str) -> bool {
        Self::of(video_path, self.count) == self.index
    }

    /// The run name a shard writes under.
    pub fn run_name(&self, base: &str) -> String {
        format!("{base}-shard-{}-of-{}", self.index, self.count)
    }

    /// From the environment of a job array: Slurm (`SLURM_ARRAY_TASK_ID` minus
    /// `SLURM_ARRAY_TASK_MIN`, of `SLURM_ARRAY_TASK_COUNT`) or a Kubernetes Indexed Job
    /// (`JOB_COMPLETION_INDEX`, of `shard_count`).
    pub fn from_env(
        get: impl Fn(&str) -> Option<String>,
        shard_count: Option<usize>,
    ) -> Result<Option<Self>, String> {
        let num = |k: &str| -> Result<Option<usize>, String> {
            get(k)
                .map(|v| {
                    v.trim()
                        .parse::<usize>()
                        .map_err(|_| format!("{k}={v} is not a number"))
                })
                .transpose()
        };
        if let Some(id) = num("SLURM_ARRAY_TASK_ID")? {
            let min = num("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
            let count = match shard_count {
                Some(c) => c,
                None => num("SLURM_ARRAY_TASK_COUNT")?
                    .ok_or("SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not; give --shard-count")?,
            };
            let index = id
                .checked_sub(min)
                .ok_or("SLURM_ARRAY_TASK_ID is below SLURM_ARRAY_TASK_MIN")?;
            return Shard::new(index, count).map(Some);
        }
        if let Some(idx) = num("JOB_COMPLETION_INDEX")? {
            let count = shard_count.ok_or(
                "JOB_COMPLETION_INDEX is set: give --shard-count N (the Job's completions)",
            )?;
            return Shard::new(idx, count).map(Some);
        }
        Ok(None)
    }
}

/// One video of the whole run, as every shard's manifest lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestVideo {
    pub video_path: String,
    pub dimensions: Vec<String>,
}

/// `<name>-shard-K-of-N_shard.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardManifest {
    pub tool: String,
    pub version: String,
    /// The run's base name (without the shard suffix).
    pub name: String,
    pub shard: Shard,
    pub dimensions: Vec<String>,
    pub skipped_dimensions: Vec<(String, String)>,
    /// `(entry, file, sha256)` of every checkpoint used.
    pub weights: Vec<(String, String, String)>,
    pub videos: Vec<ManifestVideo>,
    /// The shard's per-video file, relative to the manifest.
    pub per_video: String,
    pub environment: serde_json::Value,
}

impl ShardManifest {
    pub fn path(dir: &Path, shard_name: &str) -> PathBuf {
        dir.join(format!("{shard_name}_shard.json"))
    }
}

/// What `merge` hands to the writer: the run's manifest and every video's line, in input order.
pub struct Merged {
    pub manifest: ShardManifest,
    pub lines: Vec<VideoLine>,
}

fn read_manifest(p: &Path) -> Result<ShardManifest, ScoreError> {
    let text = std::fs::read_to_string(p).map_err(|e| ScoreError::io(p, e))?;
    serde_json::from_str(&text)
        .map_err(|e| ScoreError::Options(format!("{}: not a shard manifest: {e}", p.display())))
}

/// Reads and checks the shards in `dirs`.
pub fn collect(dirs: &[PathBuf]) -> Result<Merged, ScoreError> {
    let mut found: Vec<(PathBuf, ShardManifest)> = Vec::new();
    for d in dirs {
        let rd = std::fs::read_dir(d).map_err(|e| ScoreError::io(d, e))?;
        let mut here: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.to_string_lossy().ends_with("_shard.json"))
            .collect();
        here.sort();
        for p in here {
            found.push((p.clone(), read_manifest(&p)?));
        }
    }
    let Some((first_path, first)) = found.first().cloned() else {
        return Err(ScoreError::Options(format!(
            "no shard manifests (*_shard.json) in {}",
            dirs.iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    };
    for (p, m) in &found[1..] {
        let differs = |what: &str| {
            ScoreError::Options(format!(
                "shards do not belong to the same run: {what} differs between {} and {}",
                first_path.display(),
                p.display()
            ))
        };
        if m.name != first.name {
            return Err(differs("the run name"));
        }
        if m.shard.count != first.shard.count {
            return Err(differs("the shard count"));
        }
        if m.version != first.version || m.tool != first.tool {
            return Err(differs("the tool version"));
        }
        if m.dimensions != first.dimensions || m.skipped_dimensions != first.skipped_dimensions {
            return Err(differs("the dimensions"));
        }
        if m.videos != first.videos {
            return Err(differs("the input videos"));
        }
        if m.weights != first.weights {
            return Err(differs("the weights (sha256)"));
        }
    }
    let n = first.shard.count;
    let mut by_index: BTreeMap<usize, Vec<&PathBuf>> = BTreeMap::new();
    for (p, m) in &found {
        by_index.entry(m.shard.index).or_default().push(p);
    }
    if let Some((k, ps)) = by_index.iter().find(|(_, ps)| ps.len() > 1) {
        return Err(ScoreError::Options(format!(
            "shard {k}/{n} appears more than once: {}",
            ps.iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let missing: Vec<String> = (0..n)
        .filter(|k| !by_index.contains_key(k))
        .map(|k| format!("{k}/{n}"))
        .collect();
    if !missing.is_empty() {
        return Err(ScoreError::Options(format!(
            "missing shard(s) {} of run `{}`: run `vbench-score --shard K/N --name {} ...` for each (or --resume a shard that died)",
            missing.join(", "),
            first.name,
            first.name
        )));
    }
    let mut lines: HashMap<String, (usize, VideoLine)> = HashMap::new();
    for (p, m) in &found {
        let jsonl = p.parent().unwrap_or(Path::new(".")).join(&m.per_video);
        for l in read_lines(&jsonl)? {
            if let Some((other, _)) = lines.get(&l.video_path) {
                if *other != m.shard.index {
                    return Err(ScoreError::Options(format!(
                        "{} is in shards {other} and {} (duplicate)",
                        l.video_path, m.shard.index
                    )));
                }
            }
            lines.insert(l.video_path.clone(), (m.shard.index, l));
        }
    }
    let active: Vec<&String> = first
        .dimensions
        .iter()
        .filter(|d| !first.skipped_dimensions.iter().any(|(s, _)| s == *d))
        .collect();
    let mut ordered = Vec::with_capacity(first.videos.len());
    for v in &first.videos {
        let k = Shard::of(&v.video_path, n);
        let line = match lines.remove(&v.video_path) {
            Some((_, l)) => l,
            None if v.dimensions.iter().any(|d| active.contains(&d)) => {
                return Err(ScoreError::Options(format!(
                    "{} (shard {k}/{n}) has no results: that shard did not finish; rerun it with --resume",
                    v.video_path
                )))
            }
            None => VideoLine { video_path: v.video_path.clone(), results: BTreeMap::new() },
        };
        if let Some(d) = v
            .dimensions
            .iter()
            .filter(|d| active.contains(d))
            .find(|d| !line.results.contains_key(*d))
        {
            return Err(ScoreError::Options(format!(
                "{} (shard {k}/{n}) has no `{d}` result: that shard did not finish; rerun it with --resume",
                v.video_path
            )));
        }
        ordered.push(line);
    }
    Ok(Merged {
        manifest: first,
        lines: ordered,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_env() {
        assert_eq!(
            "1/3".parse::<Shard>().unwrap(),
            Shard { index: 1, count: 3 }
        );
        assert!("3/3".parse::<Shard>().is_err());
        assert!("x".parse::<Shard>().is_err());
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(a, _)| *a == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let s = Shard::from_env(
            env(&[
                ("SLURM_ARRAY_TASK_ID", "5"),
                ("SLURM_ARRAY_TASK_MIN", "4"),
                ("SLURM_ARRAY_TASK_COUNT", "3"),
            ]),
            None,
        );
        assert_eq!(s.unwrap(), Some(Shard { index: 1, count: 3 }));
        let s = Shard::from_env(env(&[("JOB_COMPLETION_INDEX", "2")]), Some(4));
        assert_eq!(s.unwrap(), Some(Shard { index: 2, count: 4 }));
        assert!(Shard::from_env(env(&[("JOB_COMPLETION_INDEX", "2")]), None).is_err());
        assert_eq!(Shard::from_env(env(&[]), None).unwrap(), None);
    }

    #[test]
    fn split_is_a_partition_independent_of_order() {
        let paths: Vec<String> = (0..50).map(|i| format!("videos/v{i}.mp4")).collect();
        for n in 1..5 {
            let mut seen = 0;
            for k in 0..n {
                let s = Shard::new(k, n).unwrap();
                seen += paths.iter().filter(|p| s.contains(p)).count();
            }
            assert_eq!(seen, paths.len());
        }
        assert_eq!(Shard::of("videos/v7.mp4", 3), Shard::of("videos/v7.mp4", 3));
    }
}
