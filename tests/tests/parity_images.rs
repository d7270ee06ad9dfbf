//! Parity of the `generate-images` scores (PickScore, CLIP similarity, LAION aesthetic) with the
//! reference libraries (`tools/parity/make_fixtures_images.py`: transformers 4.46.3 CLIPModel and
//! CLIPProcessor as PickScore's model card uses them, OpenAI `clip` preprocessing).

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};
use vbench_scorer::image_scores::{self, ImageScorer, METRICS};
use vbench_scorer::{ModelHub, Runtime};
use vbench_tests::images::{fixtures, image_weights_dir, ImageWeights};

/// The contract for the score values.
const SCORE_TOL: f64 = 1e-4;
/// Preprocessed pixels: float rounding only (the resize is integer Pillow arithmetic).
const PIXEL_TOL: f32 = 1e-5;

fn hub_at(weights: &Path, scratch: &Path) -> ModelHub {
    let mut opts = vbench_weights::ResolverOptions::from_env(Some(weights.to_path_buf()));
    opts.offline = true;
    opts.hf_cache = scratch.join("no-hf-cache");
    opts.download_dir = scratch.join("no-downloads");
    let resolver = vbench_weights::Resolver::new(vbench_weights::Manifest::builtin(), opts);
    ModelHub::new(resolver, Runtime::cpu(4))
}

fn expected() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fixtures().join("scores.json")).unwrap()).unwrap()
}

fn tensors() -> HashMap<String, Tensor> {
    candle_core::safetensors::load(fixtures().join("tensors.safetensors"), &Device::Cpu).unwrap()
}

#[test]
fn pickscore_preprocessing_matches_clip_image_processor() {
    let dir = tempfile::tempdir().unwrap();
    image_weights_dir(dir.path(), ImageWeights::ALL).unwrap();
    let hub = hub_at(dir.path(), dir.path());
    let nets = hub.pickscore().unwrap();
    let img = image_scores::load_image(&fixtures().join("images/img_b.png")).unwrap();
    let got = nets.processor.preprocess(&img).unwrap();
    let want: Vec<f32> = tensors()["pickscore/pixel_values/img_b.png"]
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    let d = got
        .data
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    eprintln!("pickscore pixel_values img_b: max abs diff {d:e}");
    assert_eq!(got.data.len(), want.len());
    assert!(d <= PIXEL_TOL, "pixel values differ by {d}");
}

#[test]
fn image_scores_match_reference() {
    let dir = tempfile::tempdir().unwrap();
    image_weights_dir(dir.path(), ImageWeights::ALL).unwrap();
    let hub = hub_at(dir.path(), dir.path());
    let scorer = ImageScorer::load(&hub, &METRICS).unwrap();
    assert!(scorer.skipped.is_empty(), "{:?}", scorer.skipped);
    let exp = expected();
    let prompts: Vec<String> = serde_json::from_value(exp["prompts"].clone()).unwrap();
    let images: Vec<String> = serde_json::from_value(exp["images"].clone()).unwrap();
    let mut worst: HashMap<&str, (f64, f64)> = HashMap::new();
    for prompt in &prompts {
        let emb = scorer.prompt(prompt).unwrap();
        for name in &images {
            let img = image_scores::load_image(&fixtures().join("images").join(name)).unwrap();
            let got = scorer.score(&emb, &img).unwrap();
            for metric in METRICS {
                let want = match metric {
                    image_scores::AESTHETIC => exp["scores"][metric][name].as_f64(),
                    _ => exp["scores"][metric][prompt][name].as_f64(),
                }
                .unwrap();
                let d = (got[metric] - want).abs();
                let w = worst.entry(metric).or_default();
                w.0 = w.0.max(d);
                w.1 = w.1.max(d / want.abs().max(1e-12));
                assert!(
                    d <= SCORE_TOL,
                    "{metric} {name} {prompt:.30}: {} vs {want} (diff {d})",
                    got[metric]
                );
            }
        }
    }
    for (m, (abs, rel)) in &worst {
        eprintln!("{m}: max abs diff {abs:e}, max rel diff {rel:e}");
    }
}

#[test]
fn text_and_image_features_match_transformers() {
    let dir = tempfile::tempdir().unwrap();
    image_weights_dir(dir.path(), ImageWeights::ALL).unwrap();
    let hub = hub_at(dir.path(), dir.path());
    let nets = hub.pickscore().unwrap();
    let t = tensors();
    let exp = expected();
    let prompts: Vec<String> = serde_json::from_value(exp["prompts"].clone()).unwrap();
    for (k, prompt) in prompts.iter().enumerate() {
        let want_ids: Vec<i64> = t[&format!("pickscore/input_ids/{k}")]
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let tok = nets.tokenizer.tokenize(prompt, 77).unwrap();
        let got_ids: Vec<i64> = tok.ids[..want_ids.len()]
            .iter()
            .map(|&i| i as i64)
            .collect();
        assert_eq!(got_ids, want_ids, "ids of prompt {k}");
        let ids = Tensor::new(&tok.ids[..want_ids.len()], &Device::Cpu)
            .unwrap()
            .unsqueeze(0)
            .unwrap();
        let got = nets.model.text_features(&ids).unwrap();
        let want = &t[&format!("pickscore/text_embeds/{k}")];
        let scale = want
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        let d = (got - want)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        eprintln!(
            "pickscore text_embeds {k}: max abs diff {d:e} (rel {:e})",
            d / scale
        );
        assert!(d / scale < 1e-4);
    }
}

#[test]
fn missing_pickscore_weights_are_skipped_with_the_fetch_hint() {
    let dir = tempfile::tempdir().unwrap();
    image_weights_dir(
        dir.path(),
        ImageWeights {
            pickscore: false,
            ..ImageWeights::ALL
        },
    )
    .unwrap();
    let hub = hub_at(dir.path(), dir.path());
    let scorer = ImageScorer::load(&hub, &METRICS).unwrap();
    assert_eq!(scorer.available(), vec!["clip_similarity", "aesthetic"]);
    assert_eq!(scorer.skipped.len(), 1);
    assert_eq!(scorer.skipped[0].metric, "pickscore");
    let reason = &scorer.skipped[0].reason;
    assert!(reason.contains("PickScore_v1"), "{reason}");
    assert!(
        reason.contains("vbench-score weights download pickscore"),
        "{reason}"
    );
}

/// Real PickScore architecture (ViT-H/14) with fixed-seed random weights:
/// `make_fixtures_images.py --full-size DIR`, then
/// `VBENCH_IMAGES_FULLSIZE=DIR cargo test -p vbench-tests --test parity_images -- --ignored --nocapture`.
#[test]
#[ignore = "needs VBENCH_IMAGES_FULLSIZE (make_fixtures_images.py --full-size, ~4 GB)"]
fn full_size_pickscore_random_weights_match() {
    let dir = std::path::PathBuf::from(
        std::env::var("VBENCH_IMAGES_FULLSIZE").expect("VBENCH_IMAGES_FULLSIZE"),
    );
    let scratch = tempfile::tempdir().unwrap();
    let hub = hub_at(&dir, scratch.path());
    let scorer = ImageScorer::load(&hub, &[image_scores::PICKSCORE]).unwrap();
    assert!(scorer.skipped.is_empty(), "{:?}", scorer.skipped);
    let exp: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("scores.json")).unwrap()).unwrap();
    let prompts: Vec<String> = serde_json::from_value(exp["prompts"].clone()).unwrap();
    let images: Vec<String> = serde_json::from_value(exp["images"].clone()).unwrap();
    let (mut worst, mut worst_rel) = (0f64, 0f64);
    for prompt in &prompts {
        let emb = scorer.prompt(prompt).unwrap();
        for name in &images {
            let img = image_scores::load_image(&fixtures().join("images").join(name)).unwrap();
            let got = scorer.score(&emb, &img).unwrap()[image_scores::PICKSCORE];
            let want = exp["pickscore"][prompt][name].as_f64().unwrap();
            eprintln!("{name} {prompt:.30}: {got} vs {want}");
            worst = worst.max((got - want).abs());
            worst_rel = worst_rel.max((got - want).abs() / want.abs().max(1e-12));
        }
    }
    eprintln!("full-size pickscore: max abs diff {worst:e}, max rel diff {worst_rel:e}");
    assert!(worst <= SCORE_TOL, "max abs diff {worst}");
}
