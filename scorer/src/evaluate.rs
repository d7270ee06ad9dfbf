//! A scoring run: each video is decoded once and its frames stream through every requested
//! dimension; each finished video is appended to `<name>_per_video.jsonl` at once (a crash
//! loses nothing, `--resume` skips what is there); at the end the VBench-shaped
//! `<name>_eval_results.json` and our `<name>_summary.json` (scores, failures, environment
//! stamp) are written atomically.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::dimensions::{self, AggPart, Dimension, Outcome, VideoInput};
use crate::error::{ScoreError, VideoErrorKind};
use crate::hub::{ModelHub, UsedFile};
use crate::pyjson::PyJson;
use crate::scores::{self, FinalScores};
use crate::shard::{ManifestVideo, Shard, ShardManifest};
use crate::video::{self, ReaderKind};

/// One video to score and what applies to it.
#[derive(Debug, Clone)]
pub struct VideoJob {
    pub path: PathBuf,
    pub input: VideoInput,
    /// The requested dimensions that apply to this video (all of them, unless a full-info
    /// record restricts them).
    pub dimensions: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct EvalConfig {
    pub output_dir: PathBuf,
    pub name: String,
    /// Requested dimensions, in output order.
    pub dimensions: Vec<String>,
    pub resume: bool,
    /// Score only this shard's videos (see [`crate::shard`]); files are named
    /// `<name>-shard-K-of-N_*`.
    pub shard: Option<Shard>,
}

impl EvalConfig {
    /// The prefix of this run's files.
    pub fn file_name(&self) -> String {
        match &self.shard {
            Some(s) => s.run_name(&self.name),
            None => self.name.clone(),
        }
    }
}

/// Progress callbacks; the binary decides how to show them.
pub trait Progress: Sync {
    /// `per_dimension`: each loaded dimension and the number of videos it will score.
    fn run_started(&self, _videos: usize, _per_dimension: &[(String, usize)]) {}
    fn video_started(&self, _index: usize, _path: &Path) {}
    fn frame_done(&self) {}
    fn video_finished(&self, _index: usize, _line: &VideoLine) {}
    fn message(&self, _msg: &str) {}
}

pub struct NoProgress;
impl Progress for NoProgress {}

/// One dimension's result for one video, as stored in the JSON-lines file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum DimResult {
    Ok {
        record: serde_json::Value,
        agg: AggPart,
    },
    Err {
        error: String,
    },
}

/// One line of `<name>_per_video.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VideoLine {
    pub video_path: String,
    pub results: BTreeMap<String, DimResult>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Environment {
    pub tool: String,
    pub version: String,
    pub device: String,
    pub dtype: String,
    /// `fp32` (VBench on CPU) or `vbench-cuda-fp16` (CLIP towers in fp16; not CPU-compatible).
    pub precision: String,
    pub weights: Vec<UsedFile>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub video_path: String,
    pub dimension: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct DimensionSummary {
    pub dimension: String,
    pub aggregate: f64,
    pub videos: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct VideoSummary {
    pub video_path: String,
    pub scores: BTreeMap<String, f64>,
    pub total: Option<f64>,
}

/// Everything a run produced.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub name: String,
    pub eval_results_path: PathBuf,
    pub per_video_path: PathBuf,
    pub dimensions: Vec<DimensionSummary>,
    pub scores: FinalScores,
    pub videos: Vec<VideoSummary>,
    pub failures: Vec<Failure>,
    /// Dimensions not computed at all, with the reason and the fix.
    pub skipped_dimensions: Vec<(String, String)>,
    pub environment: Environment,
    pub warnings: Vec<String>,
    #[serde(skip)]
    pub eval_results: PyJson,
}

pub fn per_video_path(cfg: &EvalConfig) -> PathBuf {
    cfg.output_dir
        .join(format!("{}_per_video.jsonl", cfg.file_name()))
}

/// Reads a JSON-lines file back; lines cut by a crash are ignored. Later lines for the same
/// video override earlier ones per dimension.
pub fn read_lines(path: &Path) -> Result<Vec<VideoLine>, ScoreError> {
    let f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(ScoreError::io(path, e)),
    };
    let mut order: Vec<String> = Vec::new();
    let mut map: HashMap<String, VideoLine> = HashMap::new();
    for line in std::io::BufReader::new(f).lines() {
        let line = line.map_err(|e| ScoreError::io(path, e))?;
        let Ok(v) = serde_json::from_str::<VideoLine>(&line) else {
            continue;
        };
        match map.get_mut(&v.video_path) {
            Some(existing) => existing.results.extend(v.results),
            None => {
                order.push(v.video_path.clone());
                map.insert(v.video_path.clone(), v);
            }
        }
    }
    Ok(order.into_iter().filter_map(|k| map.remove(&k)).collect())
}

fn write_atomic(path: &Path, text: &str) -> Result<(), ScoreError> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, text).map_err(|e| ScoreError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| ScoreError::io(path, e))
}

/// Scores one video on the given dimensions with a single decode.
pub fn score_video(
    job: &VideoJob,
    dims: &[&dyn Dimension],
    progress: &dyn Progress,
) -> BTreeMap<String, DimResult> {
    let mut results = BTreeMap::new();
    let count_packets = dims.iter().any(|d| d.needs_packet_count());
    let input = match video::probe(&job.path, count_packets) {
        Ok(meta) => VideoInput {
            meta: Some(meta),
            ..job.input.clone()
        },
        Err(e) => {
            for d in dims {
                results.insert(
                    d.name().to_string(),
                    DimResult::Err {
                        error: e.to_string(),
                    },
                );
            }
            return results;
        }
    };
    let mut scorers = Vec::new();
    for d in dims {
        match d.start(&input) {
            Ok(s) => scorers.push((d.name(), d.reader(), Some(s))),
            Err(e) => {
                results.insert(
                    d.name().to_string(),
                    DimResult::Err {
                        error: e.to_string(),
                    },
                );
            }
        }
    }
    if scorers.is_empty() {
        return results;
    }
    let mut kinds: Vec<ReaderKind> = scorers.iter().map(|s| s.1).collect();
    kinds.sort();
    kinds.dedup();
    let mut errors: BTreeMap<&str, VideoErrorKind> = BTreeMap::new();
    let decoded = video::for_each_frame(&job.path, &kinds, |_, frames| {
        for (name, kind, scorer) in scorers.iter_mut() {
            let Some(s) = scorer else { continue };
            let frame = frames
                .iter()
                .find(|(k, _)| k == kind)
                .map(|(_, f)| *f)
                .expect("every requested reader kind is converted");
            if let Err(e) = s.push(frame) {
                errors.insert(name, e);
                *scorer = None;
            }
        }
        progress.frame_done();
        Ok(())
    });
    match decoded {
        Err(e) => {
            for (name, _, _) in &scorers {
                results.insert(
                    name.to_string(),
                    DimResult::Err {
                        error: e.to_string(),
                    },
                );
            }
        }
        Ok(_) => {
            for (name, _, scorer) in scorers {
                let r = match (scorer, errors.remove(name)) {
                    (_, Some(e)) => Err(e),
                    (Some(s), None) => s.finish(),
                    (None, None) => Err(VideoErrorKind::Decode("scorer stopped".into())),
                };
                results.insert(
                    name.to_string(),
                    match r {
                        Ok(Outcome { record, agg }) => DimResult::Ok {
                            record: record.to_serde(),
                            agg,
                        },
                        Err(e) => DimResult::Err {
                            error: e.to_string(),
                        },
                    },
                );
            }
        }
    }
    results
}

fn environment(hub: &ModelHub) -> Environment {
    Environment {
        tool: "vbench-rs".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        device: hub.runtime.device_name(),
        dtype: format!("{:?}", hub.runtime.dtype).to_lowercase(),
        precision: match hub.runtime.precision() {
            crate::runtime::Precision::Fp32 => "fp32",
            crate::runtime::Precision::VbenchCudaFp16 => "vbench-cuda-fp16",
        }
        .into(),
        weights: hub.used_files(),
    }
}

/// Runs the whole evaluation.
pub fn run(
    hub: &ModelHub,
    jobs: &[VideoJob],
    cfg: &EvalConfig,
    progress: &dyn Progress,
) -> Result<RunSummary, ScoreError> {
    std::fs::create_dir_all(&cfg.output_dir).map_err(|e| ScoreError::io(&cfg.output_dir, e))?;
    // Load each requested dimension once; a dimension whose weights are missing is skipped
    // with the message that says how to fetch them.
    let mut loaded: Vec<Box<dyn Dimension>> = Vec::new();
    let mut skipped = Vec::new();
    for d in &cfg.dimensions {
        if !dimensions::ALL.contains(&d.as_str()) {
            return Err(ScoreError::UnknownDimension(d.clone()));
        }
        let r = hub
            .check_available(d)
            .and_then(|_| dimensions::load(d, hub));
        match r {
            Ok(dim) => loaded.push(dim),
            Err(e) => skipped.push((d.clone(), e.to_string())),
        }
    }
    let environment_now = environment(hub);
    if let Some(shard) = cfg.shard {
        let manifest = ShardManifest {
            tool: environment_now.tool.clone(),
            version: environment_now.version.clone(),
            name: cfg.name.clone(),
            shard,
            dimensions: cfg.dimensions.clone(),
            skipped_dimensions: skipped.clone(),
            weights: environment_now
                .weights
                .iter()
                .map(|w| (w.entry.clone(), w.file.clone(), w.sha256.clone()))
                .collect(),
            videos: jobs
                .iter()
                .map(|j| ManifestVideo {
                    video_path: j.input.display_path.clone(),
                    dimensions: j.dimensions.clone(),
                })
                .collect(),
            per_video: format!("{}_per_video.jsonl", cfg.file_name()),
            environment: serde_json::to_value(&environment_now)
                .map_err(|e| ScoreError::Options(e.to_string()))?,
        };
        let text = serde_json::to_string_pretty(&manifest)
            .map_err(|e| ScoreError::Options(e.to_string()))?;
        write_atomic(
            &ShardManifest::path(&cfg.output_dir, &cfg.file_name()),
            &text,
        )?;
    }
    let all_jobs = jobs;
    let jobs: Vec<&VideoJob> = all_jobs
        .iter()
        .filter(|j| cfg.shard.is_none_or(|s| s.contains(&j.input.display_path)))
        .collect();
    let jsonl = per_video_path(cfg);
    let previous: HashMap<String, VideoLine> = if cfg.resume {
        read_lines(&jsonl)?
            .into_iter()
            .map(|l| (l.video_path.clone(), l))
            .collect()
    } else {
        if jsonl.exists() {
            std::fs::remove_file(&jsonl).map_err(|e| ScoreError::io(&jsonl, e))?;
        }
        HashMap::new()
    };
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&jsonl)
        .map_err(|e| ScoreError::io(&jsonl, e))?;
    // every session of a run starts with the environment it ran in (readers skip this line)
    let header =
        serde_json::json!({ "environment": environment_now, "dimensions": cfg.dimensions });
    writeln!(out, "{header}")
        .and_then(|_| out.flush())
        .map_err(|e| ScoreError::io(&jsonl, e))?;
    let per_dimension: Vec<(String, usize)> = loaded
        .iter()
        .map(|d| {
            let n = jobs
                .iter()
                .filter(|j| j.dimensions.iter().any(|x| x == d.name()))
                .count();
            (d.name().to_string(), n)
        })
        .collect();
    progress.run_started(jobs.len(), &per_dimension);
    let mut lines: Vec<VideoLine> = Vec::with_capacity(jobs.len());
    for (i, job) in jobs.iter().enumerate() {
        let key = job.input.display_path.clone();
        let mut line = previous.get(&key).cloned().unwrap_or(VideoLine {
            video_path: key.clone(),
            results: BTreeMap::new(),
        });
        let todo: Vec<&dyn Dimension> = loaded
            .iter()
            .filter(|d| job.dimensions.iter().any(|x| x == d.name()))
            .filter(|d| !line.results.contains_key(d.name()))
            .map(|d| d.as_ref())
            .collect();
        if !todo.is_empty() {
            progress.video_started(i, &job.path);
            let fresh = score_video(job, &todo, progress);
            let new_line = VideoLine {
                video_path: key.clone(),
                results: fresh.clone(),
            };
            let text = serde_json::to_string(&new_line)
                .map_err(|e| ScoreError::Options(format!("cannot serialise results: {e}")))?;
            writeln!(out, "{text}")
                .and_then(|_| out.flush())
                .map_err(|e| ScoreError::io(&jsonl, e))?;
            line.results.extend(fresh);
        }
        progress.video_finished(i, &line);
        lines.push(line);
    }
    drop(out);
    let active: Vec<String> = loaded.iter().map(|d| d.name().to_string()).collect();
    finish(
        &cfg.output_dir,
        &cfg.file_name(),
        &cfg.dimensions,
        &active,
        skipped,
        lines,
        environment(hub),
        hub.take_warnings(),
    )
}

/// Merges the shards in `dirs` (see [`crate::shard`]) into `<name>_eval_results.json` and
/// `<name>_summary.json` in `output_dir`, byte-identical to what one process writes.
pub fn merge(
    dirs: &[PathBuf],
    output_dir: &Path,
    name: Option<&str>,
) -> Result<RunSummary, ScoreError> {
    let m = crate::shard::collect(dirs)?;
    std::fs::create_dir_all(output_dir).map_err(|e| ScoreError::io(output_dir, e))?;
    let active: Vec<String> = m
        .manifest
        .dimensions
        .iter()
        .filter(|d| !m.manifest.skipped_dimensions.iter().any(|(s, _)| s == *d))
        .cloned()
        .collect();
    let environment: Environment = serde_json::from_value(m.manifest.environment.clone())
        .map_err(|e| ScoreError::Options(format!("shard manifest environment: {e}")))?;
    let name = name.unwrap_or(&m.manifest.name);
    // the merged per-video lines, in input order, as one process would have written them
    let mut text =
        serde_json::json!({ "environment": environment, "dimensions": m.manifest.dimensions })
            .to_string();
    text.push('\n');
    for l in &m.lines {
        text.push_str(
            &serde_json::to_string(l)
                .map_err(|e| ScoreError::Options(format!("cannot serialise results: {e}")))?,
        );
        text.push('\n');
    }
    write_atomic(&output_dir.join(format!("{name}_per_video.jsonl")), &text)?;
    finish(
        output_dir,
        name,
        &m.manifest.dimensions,
        &active,
        m.manifest.skipped_dimensions.clone(),
        m.lines,
        environment,
        Vec::new(),
    )
}

#[allow(clippy::too_many_arguments)]
fn finish(
    output_dir: &Path,
    name: &str,
    dimensions: &[String],
    active: &[String],
    skipped: Vec<(String, String)>,
    lines: Vec<VideoLine>,
    environment: Environment,
    warnings: Vec<String>,
) -> Result<RunSummary, ScoreError> {
    let mut eval = Vec::new();
    let mut dim_summaries = Vec::new();
    let mut failures = Vec::new();
    let mut per_video: Vec<VideoSummary> = lines
        .iter()
        .map(|l| VideoSummary {
            video_path: l.video_path.clone(),
            scores: BTreeMap::new(),
            total: None,
        })
        .collect();
    for d in dimensions {
        if !active.contains(d) {
            continue;
        }
        let mut records = Vec::new();
        let mut parts = Vec::new();
        for (line, vs) in lines.iter().zip(per_video.iter_mut()) {
            match line.results.get(d) {
                Some(DimResult::Ok { record, agg }) => {
                    let rec = PyJson::from_serde(record);
                    if let Some(v) = rec.get("video_results").and_then(|v| v.as_f64()) {
                        vs.scores.insert(d.clone(), v);
                    }
                    records.push(rec);
                    parts.push(*agg);
                }
                Some(DimResult::Err { error }) => failures.push(Failure {
                    video_path: line.video_path.clone(),
                    dimension: d.clone(),
                    reason: error.clone(),
                }),
                None => {}
            }
        }
        if records.is_empty() {
            continue;
        }
        let agg = dimensions::aggregate(d, &parts);
        dim_summaries.push(DimensionSummary {
            dimension: d.clone(),
            aggregate: agg,
            videos: records.len(),
        });
        eval.push((
            d.clone(),
            PyJson::List(vec![PyJson::Float(agg), PyJson::List(records)]),
        ));
    }
    for vs in per_video.iter_mut() {
        let vals: Vec<(&str, f64)> = vs.scores.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        vs.total = scores::per_video_total(&vals);
    }
    let aggs: Vec<(&str, f64)> = dim_summaries
        .iter()
        .map(|d| (d.dimension.as_str(), d.aggregate))
        .collect();
    let final_scores = scores::final_scores(&aggs);
    let eval_results = PyJson::Dict(eval);
    let eval_path = output_dir.join(format!("{name}_eval_results.json"));
    write_atomic(&eval_path, &eval_results.to_python_string())?;
    let summary = RunSummary {
        name: name.to_string(),
        eval_results_path: eval_path,
        per_video_path: output_dir.join(format!("{name}_per_video.jsonl")),
        dimensions: dim_summaries,
        scores: final_scores,
        videos: per_video,
        failures,
        skipped_dimensions: skipped,
        environment,
        warnings,
        eval_results,
    };
    let summary_path = output_dir.join(format!("{name}_summary.json"));
    let text = serde_json::to_string_pretty(&summary)
        .map_err(|e| ScoreError::Options(format!("cannot serialise summary: {e}")))?;
    write_atomic(&summary_path, &text)?;
    Ok(summary)
}
