//! `generate-images` (epic 9, the Story 8.2 image-generation stage): N variations of one prompt
//! on an image model (FLUX / SDXL through the provider, with the fallback chain, retries and
//! `--max-cost` of [`crate::attempt`]), each scored in process
//! ([`vbench_scorer::image_scores`]: PickScore, CLIP similarity, LAION aesthetic; VQAScore when a
//! vision LLM is configured), ranked, and renamed so that `image_001.png` is the best.
//!
//! Run folder (`<output-dir>/<YYYYmmdd_HHMMSS>/`):
//! * `image_001.png`, `image_002.png`, … by rank (variations that failed to score follow, in
//!   generation order); every output is stored as PNG (a WebP/JPEG output is decoded and
//!   re-encoded losslessly);
//! * `image_NNN_metadata.json`: scores, rank, prompt, model, settings, seed, timestamps, cost;
//! * `generation_trace.json`: prompts, every variation with every prediction (fallbacks, HTTP
//!   tries), scores, skipped metrics, costs, timings; rewritten as each variation finishes;
//! * `index.html`: the ranked thumbnails with per-metric bars.
//!
//! **Ranking rule** ([`RANKING_RULE`]): for each metric computed for every scored image, images
//! get competition ranks (1 = highest value; ties share the better rank); an image's
//! `combined_rank` is the mean of its ranks. Order: `combined_rank` ascending, then PickScore,
//! then CLIP similarity (both descending), then generation order. Rank aggregation needs no
//! scale conversion between metrics whose ranges differ (cosine ≈ 0.3, LAION ≈ 5, PickScore ≈
//! 20, VQAScore in [0, 1]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;
use serde_json::{json, Value};
use vbench_scorer::image_scores::{self, ImageScorer, SkippedMetric};

use crate::attempt::{self, AttemptOptions, Budget, ModelTry};
use crate::models::{GenericInput, ModelTable};
use crate::prices::PriceTable;
use crate::provider::{is_cancelled, CancelFlag, Provider};
use crate::report::escape;
use crate::videos::{
    hook_run_dir, stage_finished, write_atomic, GenerationProgress, Hooks, RunError, Ui,
};

pub const TRACE_FILE: &str = "generation_trace.json";
pub const DEFAULT_MODEL: &str = "black-forest-labs/flux-schnell";
pub const RANKING_RULE: &str = "combined_rank = mean over the metrics scored for every image of the image's competition rank (1 = highest value); ascending, ties broken by pickscore, then clip_similarity (descending), then generation order";

/// A VQAScore backend (an OpenAI-compatible vision model), see `vbench_prompt::vqa`.
#[allow(async_fn_in_trait)]
pub trait Vqa {
    /// The model name for the trace.
    fn model(&self) -> String;
    /// P("yes") that the PNG shows the prompt, and how it was obtained.
    async fn score(&self, prompt: &str, png: &[u8]) -> Result<(f64, String), String>;
}

/// No VQA backend: reported as "not configured".
pub struct NoVqa;

impl Vqa for NoVqa {
    fn model(&self) -> String {
        String::new()
    }
    async fn score(&self, _: &str, _: &[u8]) -> Result<(f64, String), String> {
        Err("not configured".into())
    }
}

/// VQAScore on an OpenAI-compatible vision model ([`vbench_prompt::vqa`]).
pub struct HttpVqa {
    pub llm: vbench_prompt::llm::HttpLlm,
    pub model: String,
}

impl Vqa for HttpVqa {
    fn model(&self) -> String {
        self.model.clone()
    }
    async fn score(&self, prompt: &str, png: &[u8]) -> Result<(f64, String), String> {
        vbench_prompt::vqa::score(&self.llm, &self.model, prompt, png)
            .await
            .map(|(v, m)| (v, m.to_string()))
            .map_err(|e| e.to_string())
    }
}

#[derive(Debug, Clone)]
pub struct Options {
    pub prompt: String,
    pub prompt_file: Option<PathBuf>,
    pub variations: u32,
    pub negative_prompt: Option<String>,
    pub output_dir: PathBuf,
    pub model: String,
    pub fallback_models: Vec<String>,
    pub aspect_ratio: Option<String>,
    /// Variation `i` (1-based) uses `seed + i - 1`.
    pub seed: Option<u64>,
    pub max_cost: Option<f64>,
    pub attempt: AttemptOptions,
    pub provider_name: String,
    pub api_base: String,
    /// Options as given, for the trace.
    pub settings: Value,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct ImageEntry {
    pub variation: u32,
    pub rank: Option<u32>,
    /// Relative to the run folder.
    pub file: Option<String>,
    pub metadata_file: Option<String>,
    /// `generating`, `downloaded`, `scored`, `unscored`, `failed`.
    pub status: String,
    pub error: Option<String>,
    pub model: Option<String>,
    pub prediction_id: Option<String>,
    pub fallback_used: bool,
    pub output_url: Option<String>,
    pub bytes: Option<u64>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub seed: Option<u64>,
    pub scores: BTreeMap<String, f64>,
    pub score_errors: BTreeMap<String, String>,
    /// How the VQAScore was read (`logprobs` or `answer`), when computed.
    pub vqa_method: Option<String>,
    pub combined_rank: Option<f64>,
    pub cost_usd: f64,
    pub system_selected_best: bool,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub generation_seconds: f64,
    pub scoring_seconds: f64,
    pub generation: Vec<ModelTry>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Trace {
    pub tool: String,
    pub version: String,
    /// `running`, `completed`, `partial`, `failed`, `interrupted`, `stopped_max_cost`.
    pub status: String,
    pub created_at: String,
    pub updated_at: String,
    pub run_dir: String,
    pub prompt_file: Option<String>,
    pub prompts: Value,
    pub negative_prompt: Option<String>,
    pub model: String,
    pub fallback_models: Vec<String>,
    pub provider: Value,
    pub settings: Value,
    pub scoring: Value,
    pub images: Vec<ImageEntry>,
    pub best: Option<String>,
    pub costs: Value,
    pub timings: Value,
    pub failures: Vec<Value>,
    pub notes: Vec<String>,
}

pub struct Outcome {
    pub run_dir: PathBuf,
    pub trace: Trace,
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn werr(path: &Path, e: impl std::fmt::Display) -> RunError {
    RunError::Write {
        path: path.into(),
        reason: e.to_string(),
    }
}

fn write_json(path: &Path, v: &impl Serialize) -> Result<(), RunError> {
    let text = serde_json::to_string_pretty(v).map_err(|e| werr(path, e))?;
    write_atomic(path, &(text + "\n"))
}

/// Competition ranks (1 = largest; equal values share the better rank).
fn competition_ranks(values: &[f64]) -> Vec<u32> {
    values
        .iter()
        .map(|v| 1 + values.iter().filter(|w| *w > v).count() as u32)
        .collect()
}

/// The order of `scores` (one map per image, in generation order) under [`RANKING_RULE`], and
/// each image's combined rank (`None` for images without scores, which go last).
pub fn rank(scores: &[Option<&BTreeMap<String, f64>>]) -> (Vec<usize>, Vec<Option<f64>>) {
    let scored: Vec<usize> = (0..scores.len()).filter(|&i| scores[i].is_some()).collect();
    let mut metrics: Vec<&String> = Vec::new();
    if let Some(&first) = scored.first() {
        for k in scores[first].expect("scored").keys() {
            if scored
                .iter()
                .all(|&i| scores[i].expect("scored").contains_key(k))
            {
                metrics.push(k);
            }
        }
    }
    let mut combined: Vec<Option<f64>> = vec![None; scores.len()];
    if !metrics.is_empty() {
        let mut sums = vec![0f64; scored.len()];
        for m in &metrics {
            let vals: Vec<f64> = scored
                .iter()
                .map(|&i| scores[i].expect("scored")[*m])
                .collect();
            for (s, r) in sums.iter_mut().zip(competition_ranks(&vals)) {
                *s += r as f64;
            }
        }
        for (k, &i) in scored.iter().enumerate() {
            combined[i] = Some(sums[k] / metrics.len() as f64);
        }
    }
    let get = |i: usize, m: &str| scores[i].and_then(|s| s.get(m)).copied();
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| {
        let key = |i: usize| combined[i].unwrap_or(f64::INFINITY);
        key(a)
            .total_cmp(&key(b))
            .then_with(|| {
                let (x, y) = (
                    get(a, image_scores::PICKSCORE),
                    get(b, image_scores::PICKSCORE),
                );
                y.unwrap_or(f64::NEG_INFINITY)
                    .total_cmp(&x.unwrap_or(f64::NEG_INFINITY))
            })
            .then_with(|| {
                let (x, y) = (
                    get(a, image_scores::CLIP_SIMILARITY),
                    get(b, image_scores::CLIP_SIMILARITY),
                );
                y.unwrap_or(f64::NEG_INFINITY)
                    .total_cmp(&x.unwrap_or(f64::NEG_INFINITY))
            })
            .then(a.cmp(&b))
    });
    (order, combined)
}

/// Reads a downloaded output, checks it is an image and stores it as PNG at `dest`.
pub(crate) fn to_png(src: &Path, dest: &Path) -> Result<(u32, u32), String> {
    let bytes = std::fs::read(src).map_err(|e| e.to_string())?;
    let img = image::load_from_memory(&bytes).map_err(|e| format!("not an image: {e}"))?;
    let is_png = bytes.starts_with(b"\x89PNG\r\n\x1a\n");
    if is_png {
        if src != dest {
            std::fs::rename(src, dest).map_err(|e| e.to_string())?;
        }
    } else {
        img.save_with_format(dest, image::ImageFormat::Png)
            .map_err(|e| e.to_string())?;
        let _ = std::fs::remove_file(src);
    }
    Ok((img.width(), img.height()))
}

struct Ctx<'a, V: Vqa> {
    scorer: Option<&'a ImageScorer>,
    vqa: Option<&'a V>,
    opts: &'a Options,
    ui: &'a dyn Ui,
    run_dir: PathBuf,
    trace: Trace,
    budget: Budget,
    started: Instant,
    generation_seconds: f64,
    scoring_seconds: f64,
}

impl<V: Vqa> Ctx<'_, V> {
    fn save(&mut self) -> Result<(), RunError> {
        let mut total = 0.0;
        let mut preds = 0;
        let mut ok = 0;
        let mut unpriced: Vec<String> = Vec::new();
        let mut per = Vec::new();
        for v in &self.trace.images {
            for t in &v.generation {
                preds += 1;
                ok += usize::from(t.status == "succeeded");
                total += t.cost.usd;
                if t.cost.unpriced && !unpriced.contains(&t.model) {
                    unpriced.push(t.model.clone());
                }
            }
            per.push(json!({"variation": v.variation, "cost_usd": v.cost_usd, "predictions": v.generation.len()}));
        }
        self.trace.costs = json!({"total_usd": total, "max_cost_usd": self.opts.max_cost,
            "predictions": preds, "succeeded": ok, "unpriced_models": unpriced, "per_variation": per});
        self.trace.timings = json!({"generation_seconds": self.generation_seconds,
            "scoring_seconds": self.scoring_seconds, "total_seconds": self.started.elapsed().as_secs_f64()});
        self.trace.updated_at = now();
        write_json(&self.run_dir.join(TRACE_FILE), &self.trace)
    }

    fn chain(&self) -> Vec<String> {
        let mut c = vec![self.opts.model.clone()];
        for m in &self.opts.fallback_models {
            if !c.contains(m) {
                c.push(m.clone());
            }
        }
        c
    }

    async fn score_one(
        &self,
        prompt: &vbench_scorer::image_scores::PromptEmbeddings,
        entry: &mut ImageEntry,
    ) {
        let Some(file) = entry.file.clone() else {
            return;
        };
        let path = self.run_dir.join(&file);
        let t = Instant::now();
        if let Some(scorer) = self.scorer {
            match image_scores::load_image(&path).and_then(|img| scorer.score(prompt, &img)) {
                Ok(s) => entry.scores.extend(s),
                Err(e) => {
                    entry.score_errors.insert("networks".into(), e.to_string());
                }
            }
        }
        if let Some(vqa) = self.vqa {
            match std::fs::read(&path) {
                Ok(png) => match vqa.score(&self.opts.prompt, &png).await {
                    Ok((v, method)) => {
                        entry.scores.insert("vqascore".into(), v);
                        entry.vqa_method = Some(method);
                    }
                    Err(e) => {
                        entry.score_errors.insert("vqascore".into(), e);
                    }
                },
                Err(e) => {
                    entry.score_errors.insert("vqascore".into(), e.to_string());
                }
            }
        }
        entry.scoring_seconds = t.elapsed().as_secs_f64();
        entry.status = if entry.scores.is_empty() {
            "unscored".into()
        } else {
            "scored".into()
        };
    }

    fn metadata(&self, v: &ImageEntry) -> Value {
        let last = v.generation.last();
        json!({
            "file_path": v.file,
            "rank": v.rank,
            "system_selected_best": v.system_selected_best,
            "variation": v.variation,
            "scores": v.scores,
            "combined_rank": v.combined_rank,
            "scoring": {
                "ranking_rule": RANKING_RULE,
                "errors": v.score_errors,
                "vqa_method": v.vqa_method,
                "skipped_metrics": self.trace.scoring.get("skipped_metrics"),
                "seconds": v.scoring_seconds,
            },
            "generation_params": {
                "prompt": self.opts.prompt,
                "negative_prompt": self.opts.negative_prompt,
                "model": v.model,
                "requested_model": self.opts.model,
                "fallback_used": v.fallback_used,
                "settings": {
                    "input": last.map(|t| &t.input),
                    "dropped_inputs": last.map(|t| &t.dropped_inputs),
                    "aspect_ratio": self.opts.aspect_ratio,
                },
                "seed": v.seed,
                "timestamp": v.finished_at,
                "started_at": v.started_at,
                "cost": {"usd": v.cost_usd, "unit": last.and_then(|t| t.cost.unit), "predictions": v.generation.len()},
            },
            "prediction_id": v.prediction_id,
            "output_url": v.output_url,
            "width": v.width,
            "height": v.height,
            "bytes": v.bytes,
            "generation_seconds": v.generation_seconds,
        })
    }

    /// Renames by rank (two passes through temporary names) and writes the metadata files.
    fn rank_and_rename(&mut self) -> Result<(), RunError> {
        let have: Vec<usize> = (0..self.trace.images.len())
            .filter(|&i| self.trace.images[i].file.is_some())
            .collect();
        let scores: Vec<Option<&BTreeMap<String, f64>>> = have
            .iter()
            .map(|&i| {
                let v = &self.trace.images[i];
                (!v.scores.is_empty()).then_some(&v.scores)
            })
            .collect();
        let (order, combined) = rank(&scores);
        for (k, &i) in have.iter().enumerate() {
            self.trace.images[i].combined_rank = combined[k];
        }
        for &i in &have {
            let v = &self.trace.images[i];
            let from = self.run_dir.join(v.file.as_deref().expect("filtered"));
            let tmp = self
                .run_dir
                .join(format!(".ranking_{:03}.png", v.variation));
            std::fs::rename(&from, &tmp).map_err(|e| werr(&from, e))?;
        }
        self.trace.best = None;
        for (r, &k) in order.iter().enumerate() {
            let i = have[k];
            let rank = r as u32 + 1;
            let name = format!("image_{rank:03}.png");
            let tmp = self.run_dir.join(format!(
                ".ranking_{:03}.png",
                self.trace.images[i].variation
            ));
            let dest = self.run_dir.join(&name);
            std::fs::rename(&tmp, &dest).map_err(|e| werr(&dest, e))?;
            let best = rank == 1 && !self.trace.images[i].scores.is_empty();
            let v = &mut self.trace.images[i];
            v.rank = Some(rank);
            v.file = Some(name.clone());
            v.system_selected_best = best;
            v.metadata_file = Some(format!("image_{rank:03}_metadata.json"));
            if best {
                self.trace.best = Some(name);
            }
        }
        for &i in &have {
            let meta = self.metadata(&self.trace.images[i]);
            let mf = self.trace.images[i]
                .metadata_file
                .clone()
                .expect("set above");
            write_json(&self.run_dir.join(mf), &meta)?;
        }
        Ok(())
    }
}

/// Generates, scores and ranks `opts.variations` images. Per-variation failures are recorded
/// and the others go on; the error is only for what stops the run before it starts.
#[allow(clippy::too_many_arguments)]
pub async fn run<P: Provider, V: Vqa>(
    provider: &P,
    scorer: Option<&ImageScorer>,
    skipped: &[SkippedMetric],
    vqa: Option<&V>,
    opts: &Options,
    prices: &PriceTable,
    table: &ModelTable,
    cancel: &CancelFlag,
    ui: &dyn Ui,
) -> Result<Outcome, RunError> {
    run_with(
        provider,
        scorer,
        skipped,
        vqa,
        opts,
        prices,
        table,
        cancel,
        ui,
        &Hooks::default(),
    )
    .await
}

/// [`run`] with [`Hooks`] (a fixed folder; resume reuses the variations an interrupted run of
/// that folder finished, without creating or charging them again; progress calls).
#[allow(clippy::too_many_arguments)]
pub async fn run_with<P: Provider, V: Vqa>(
    provider: &P,
    scorer: Option<&ImageScorer>,
    skipped: &[SkippedMetric],
    vqa: Option<&V>,
    opts: &Options,
    prices: &PriceTable,
    table: &ModelTable,
    cancel: &CancelFlag,
    ui: &dyn Ui,
    hooks: &Hooks<'_>,
) -> Result<Outcome, RunError> {
    if opts.variations == 0 {
        return Err(RunError::Input(
            "--num-variations must be at least 1".into(),
        ));
    }
    if opts.prompt.trim().is_empty() {
        return Err(RunError::Input("the prompt is empty".into()));
    }
    let run_dir = hook_run_dir(hooks.run_dir.as_deref(), &opts.output_dir)?;
    let mut reuse: std::collections::HashMap<(String, u32), ImageEntry> = if hooks.resume {
        let previous: Vec<Value> = std::fs::read_to_string(run_dir.join(TRACE_FILE))
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .and_then(|v| v.get("images").and_then(Value::as_array).cloned())
            .unwrap_or_default();
        stage_finished(
            &run_dir,
            vec![(String::new(), String::new(), previous)],
            "variation",
            "png",
        )?
    } else {
        Default::default()
    };
    let reused_usd: f64 = reuse.values().map(|v| v.cost_usd).sum();
    let mut skipped_metrics: Vec<Value> = skipped
        .iter()
        .map(|s| json!({"metric": s.metric, "reason": s.reason}))
        .collect();
    let vqa_model = vqa.map(|v| v.model());
    if vqa.is_none() {
        skipped_metrics.push(json!({"metric": "vqascore", "reason": "not configured (give --vqa-model with an OpenAI-compatible vision endpoint)"}));
    }
    let metrics: Vec<String> = scorer
        .map(|s| {
            s.available()
                .iter()
                .map(|m| m.to_string())
                .collect::<Vec<String>>()
        })
        .unwrap_or_default()
        .into_iter()
        .chain(vqa.map(|_| "vqascore".to_string()))
        .collect();
    let trace = Trace {
        tool: "generate-images".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        status: "running".into(),
        created_at: now(),
        updated_at: now(),
        run_dir: run_dir.display().to_string(),
        prompt_file: opts.prompt_file.as_ref().map(|p| p.display().to_string()),
        prompts: json!({"original": opts.prompt}),
        negative_prompt: opts.negative_prompt.clone(),
        model: opts.model.clone(),
        fallback_models: opts.fallback_models.clone(),
        provider: json!({"name": opts.provider_name, "api_base": opts.api_base}),
        settings: opts.settings.clone(),
        scoring: json!({"metrics": metrics, "skipped_metrics": skipped_metrics,
            "vqa_model": vqa_model, "ranking_rule": RANKING_RULE,
            "device": scorer.map(|_| "see settings.device")}),
        images: Vec::new(),
        best: None,
        costs: json!({}),
        timings: json!({}),
        failures: Vec::new(),
        notes: Vec::new(),
    };
    let mut cx = Ctx {
        scorer,
        vqa,
        opts,
        ui,
        run_dir,
        trace,
        budget: Budget {
            max_usd: opts.max_cost,
            spent_usd: reused_usd,
        },
        started: Instant::now(),
        generation_seconds: 0.0,
        scoring_seconds: 0.0,
    };
    for s in skipped {
        ui.notice(&format!("{} skipped: {}", s.metric, s.reason));
    }
    if vqa.is_none() {
        ui.notice("vqascore skipped: not configured (--vqa-model)");
    }
    let embeddings = match scorer.map(|s| s.prompt(&opts.prompt)).transpose() {
        Ok(e) => e,
        Err(e) => return Err(RunError::Input(format!("encoding the prompt: {e}"))),
    };
    if embeddings.as_ref().is_some_and(|e| e.truncated) {
        cx.trace.notes.push(
            "the prompt is longer than 77 CLIP tokens: the text scores see its first 75".into(),
        );
    }
    cx.save()?;
    let chain = cx.chain();
    let mut stop: Option<String> = None;
    for variation in 1..=opts.variations {
        if is_cancelled(cancel) {
            stop = Some("interrupted".into());
            break;
        }
        let seed = opts.seed.map(|s| s + variation as u64 - 1);
        if let Some(mut prev) = reuse.remove(&(String::new(), variation)) {
            let staged = cx.run_dir.join(format!(".resume_{variation:03}.png"));
            let name = format!("variation_{variation:03}.png");
            std::fs::rename(&staged, cx.run_dir.join(&name)).map_err(|e| werr(&staged, e))?;
            prev.file = Some(name);
            prev.rank = None;
            prev.system_selected_best = false;
            prev.metadata_file = None;
            if prev.scores.is_empty() {
                let empty = vbench_scorer::image_scores::PromptEmbeddings::empty();
                cx.score_one(embeddings.as_ref().unwrap_or(&empty), &mut prev)
                    .await;
            }
            ui.notice(&format!(
                "variation {variation}: reusing the image the interrupted run finished (not generated again)"
            ));
            cx.trace.notes.push(format!(
                "variation {variation}: reused from the interrupted run; its cost ({:.4} USD) was paid once",
                prev.cost_usd
            ));
            cx.trace.images.push(prev);
            cx.save()?;
            progress(&cx, hooks);
            continue;
        }
        ui.notice(&format!(
            "variation {variation}/{}: generating with {}",
            opts.variations, chain[0]
        ));
        let mut entry = ImageEntry {
            variation,
            rank: None,
            file: None,
            metadata_file: None,
            status: "generating".into(),
            error: None,
            model: None,
            prediction_id: None,
            fallback_used: false,
            output_url: None,
            bytes: None,
            width: None,
            height: None,
            seed,
            scores: BTreeMap::new(),
            score_errors: BTreeMap::new(),
            vqa_method: None,
            combined_rank: None,
            cost_usd: 0.0,
            system_selected_best: false,
            started_at: now(),
            finished_at: None,
            generation_seconds: 0.0,
            scoring_seconds: 0.0,
            generation: Vec::new(),
        };
        let generic = GenericInput {
            prompt: opts.prompt.clone(),
            negative_prompt: opts.negative_prompt.clone(),
            aspect_ratio: opts.aspect_ratio.clone(),
            seed,
            ..GenericInput::default()
        };
        let dl = cx.run_dir.join(format!(".download_{variation:03}"));
        let t = Instant::now();
        let (tries, result) = attempt::generate(
            provider,
            &chain,
            table,
            prices,
            &generic,
            &dl,
            opts.attempt,
            &mut cx.budget,
            cancel,
            &|_| None,
        )
        .await;
        entry.generation_seconds = t.elapsed().as_secs_f64();
        cx.generation_seconds += entry.generation_seconds;
        entry.cost_usd = tries.iter().map(|t| t.cost.usd).sum();
        entry.generation = tries;
        match result {
            Ok(g) => {
                entry.model = Some(g.model.clone());
                entry.prediction_id = Some(g.prediction_id.clone());
                entry.fallback_used = g.fallback_used;
                entry.output_url = Some(g.output_url.clone());
                entry.bytes = Some(g.bytes);
                let name = format!("variation_{variation:03}.png");
                match to_png(&g.file, &cx.run_dir.join(&name)) {
                    Ok((w, h)) => {
                        entry.width = Some(w);
                        entry.height = Some(h);
                        entry.file = Some(name);
                        entry.status = "downloaded".into();
                    }
                    Err(e) => {
                        let _ = std::fs::remove_file(&g.file);
                        entry.status = "failed".into();
                        entry.error = Some(format!("the output is unusable: {e}"));
                    }
                }
            }
            Err(e) => {
                entry.status = "failed".into();
                entry.error = Some(e.to_string());
                match e {
                    attempt::AttemptError::Budget { .. } => stop = Some("stopped_max_cost".into()),
                    attempt::AttemptError::Interrupted => stop = Some("interrupted".into()),
                    _ => {}
                }
            }
        }
        if entry.file.is_some() {
            if let Some(emb) = &embeddings {
                cx.score_one(emb, &mut entry).await;
            } else {
                cx.score_one(
                    &vbench_scorer::image_scores::PromptEmbeddings::empty(),
                    &mut entry,
                )
                .await;
            }
            cx.scoring_seconds += entry.scoring_seconds;
        }
        entry.finished_at = Some(now());
        if let Some(err) = &entry.error {
            ui.notice(&format!("variation {variation} failed: {err}"));
            cx.trace
                .failures
                .push(json!({"variation": variation, "error": err}));
        }
        cx.trace.images.push(entry);
        cx.save()?;
        progress(&cx, hooks);
        if stop.is_some() {
            break;
        }
    }
    cx.rank_and_rename()?;
    let ok = cx.trace.images.iter().filter(|v| v.file.is_some()).count();
    cx.trace.status = match &stop {
        Some(s) => s.clone(),
        None if ok == 0 => "failed".into(),
        None if ok < opts.variations as usize || !cx.trace.failures.is_empty() => "partial".into(),
        None => "completed".into(),
    };
    write_report(&cx.run_dir, &cx.trace)?;
    cx.save()?;
    let ui = cx.ui;
    ui.print(&console_table(&cx.trace));
    Ok(Outcome {
        run_dir: cx.run_dir,
        trace: cx.trace,
    })
}

fn progress<V: Vqa>(cx: &Ctx<'_, V>, hooks: &Hooks<'_>) {
    if let Some(f) = hooks.on_progress {
        f(&GenerationProgress {
            finished: cx.trace.images.len(),
            succeeded: cx.trace.images.iter().filter(|v| v.file.is_some()).count(),
            cost_usd: cx.trace.images.iter().map(|v| v.cost_usd).sum(),
        });
    }
}

/// The ranked table printed at the end.
pub fn console_table(t: &Trace) -> String {
    let metrics: Vec<String> = t.scoring["metrics"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|m| m.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let mut s = format!("\nRanked images ({}):\n", t.run_dir);
    s.push_str(&format!("{:<5} {:<15}", "rank", "file"));
    for m in &metrics {
        s.push_str(&format!(" {m:>15}"));
    }
    s.push_str(&format!(" {:>9} {:>9}\n", "combined", "cost_usd"));
    let mut rows: Vec<&ImageEntry> = t.images.iter().filter(|v| v.rank.is_some()).collect();
    rows.sort_by_key(|v| v.rank);
    for v in rows {
        s.push_str(&format!(
            "{:<5} {:<15}",
            v.rank.unwrap_or(0),
            v.file.as_deref().unwrap_or("-")
        ));
        for m in &metrics {
            match v.scores.get(m) {
                Some(x) => s.push_str(&format!(" {x:>15.4}")),
                None => s.push_str(&format!(" {:>15}", "-")),
            }
        }
        s.push_str(&format!(
            " {:>9} {:>9.4}",
            v.combined_rank.map_or("-".into(), |c| format!("{c:.2}")),
            v.cost_usd
        ));
        if v.system_selected_best {
            s.push_str("  <- system-selected best");
        }
        s.push('\n');
    }
    for v in t.images.iter().filter(|v| v.file.is_none()) {
        s.push_str(&format!(
            "variation {} failed: {}\n",
            v.variation,
            v.error.as_deref().unwrap_or("?")
        ));
    }
    s.push_str(&format!(
        "Cost: {:.4} USD over {} predictions. Times: generation {:.1}s, scoring {:.1}s, total {:.1}s\n",
        t.costs["total_usd"].as_f64().unwrap_or(0.0),
        t.costs["predictions"].as_u64().unwrap_or(0),
        t.timings["generation_seconds"].as_f64().unwrap_or(0.0),
        t.timings["scoring_seconds"].as_f64().unwrap_or(0.0),
        t.timings["total_seconds"].as_f64().unwrap_or(0.0),
    ));
    s.push_str(&format!("Trace: {}/{TRACE_FILE}\n", t.run_dir));
    s
}

/// `index.html`: ranked thumbnails, per-metric bars (scaled to the run's range), prompt, cost.
pub fn write_report(run_dir: &Path, t: &Trace) -> Result<PathBuf, RunError> {
    let metrics: Vec<String> = t.scoring["metrics"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|m| m.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let range = |m: &str| {
        let vals: Vec<f64> = t
            .images
            .iter()
            .filter_map(|v| v.scores.get(m))
            .copied()
            .collect();
        let lo = vals.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (lo, hi)
    };
    let mut rows: Vec<&ImageEntry> = t.images.iter().filter(|v| v.rank.is_some()).collect();
    rows.sort_by_key(|v| v.rank);
    let mut h = String::from("<!doctype html><html><head><meta charset=\"utf-8\"><title>generate-images</title><style>body{font-family:sans-serif;margin:1em}.card{display:inline-block;vertical-align:top;width:260px;margin:6px;padding:6px;border:1px solid #ccc}.best{border:3px solid #2a7}.card img{width:256px}.bar{height:8px;background:#49c}.m{font-size:12px}</style></head><body>");
    h.push_str(&format!(
        "<h1>generate-images</h1><p class=\"prompt\">{}</p><p>model {} · status {} · cost {:.4} USD</p>",
        escape(t.prompts["original"].as_str().unwrap_or_default()),
        escape(&t.model),
        escape(&t.status),
        t.costs["total_usd"].as_f64().unwrap_or(0.0)
    ));
    for v in rows {
        let file = v.file.as_deref().unwrap_or_default();
        h.push_str(&format!(
            "<div class=\"card{}\" data-rank=\"{}\"><div>#{} {}</div><a href=\"{f}\"><img src=\"{f}\" alt=\"{f}\"></a>",
            if v.system_selected_best { " best" } else { "" },
            v.rank.unwrap_or(0),
            v.rank.unwrap_or(0),
            if v.system_selected_best { "system-selected best" } else { "" },
            f = escape(file)
        ));
        for m in &metrics {
            if let Some(x) = v.scores.get(m) {
                let (lo, hi) = range(m);
                let w = if hi > lo {
                    10.0 + 90.0 * (x - lo) / (hi - lo)
                } else {
                    100.0
                };
                h.push_str(&format!(
                    "<div class=\"m\">{} {x:.4}<svg width=\"100%\" height=\"8\"><rect class=\"bar\" width=\"{w:.0}%\" height=\"8\" fill=\"#49c\"/></svg></div>",
                    escape(m)
                ));
            }
        }
        h.push_str(&format!(
            "<div class=\"m\">{} · {:.4} USD</div></div>",
            escape(v.model.as_deref().unwrap_or("")),
            v.cost_usd
        ));
    }
    h.push_str("</body></html>\n");
    let p = run_dir.join("index.html");
    write_atomic(&p, &h)?;
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: f64, c: f64, a: f64) -> BTreeMap<String, f64> {
        BTreeMap::from([
            ("pickscore".to_string(), p),
            ("clip_similarity".to_string(), c),
            ("aesthetic".to_string(), a),
        ])
    }

    #[test]
    fn ranking_is_mean_rank_with_tie_breaks() {
        let a = m(20.0, 0.30, 5.0); // ranks 2,1,3 -> 2.0
        let b = m(21.0, 0.20, 6.0); // ranks 1,3,1 -> 1.67
        let c = m(19.0, 0.25, 5.5); // ranks 3,2,2 -> 2.33
        let (order, comb) = rank(&[Some(&a), None, Some(&b), Some(&c)]);
        assert_eq!(order, vec![2, 0, 3, 1]);
        assert_eq!(comb[1], None);
        assert!((comb[2].unwrap() - 5.0 / 3.0).abs() < 1e-12);
        // equal combined ranks: pickscore decides
        let x = m(20.0, 0.2, 5.0);
        let y = m(21.0, 0.1, 5.0);
        let (order, _) = rank(&[Some(&x), Some(&y)]);
        assert_eq!(order, vec![1, 0]);
    }

    #[test]
    fn competition_ranks_share_ties() {
        assert_eq!(competition_ranks(&[1.0, 3.0, 3.0, 2.0]), vec![4, 1, 1, 3]);
    }
}
