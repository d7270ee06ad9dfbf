//! Issue 7 leftovers against VBench 0.1.5 (`tools/parity/make_fixtures_issue7.py`):
//! `.gif`/`.png` inputs of `human_action` (VBench's `load_video` reads them with PIL, every frame
//! `.convert('RGB')`) and imaging_quality in each `--imaging_quality_preprocessing_mode`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use candle_core::{Device, Tensor};
use vbench_scorer::dimensions::human_action;
use vbench_scorer::dimensions::imaging_quality::{ImagingQuality, PreprocessMode};
use vbench_scorer::dimensions::VideoInput;
use vbench_scorer::evaluate::{EvalConfig, NoProgress, VideoJob};
use vbench_scorer::sampling::middle_indices;
use vbench_scorer::video::{decode_all, probe, Frame, ReaderKind};
use vbench_scorer::{ModelHub, Runtime};
use vbench_tests::issue7::{fixtures, musiq_weights_dir, umt_weights_dir};

/// Logits, relative to the largest magnitude (as parity_umt).
const LOGIT_REL_TOL: f32 = 1e-4;
/// Per-video imaging_quality values (0–100 scale) and aggregates.
const SCORE_TOL: f64 = 1e-4;

const FILES: [&str; 4] = [
    "A person is riding a bike-0.gif",
    "A person is marching-1.gif",
    "A person is riding a bike-2.png",
    "A person is marching-3.png",
];

fn read_json(p: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn load(p: &Path) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(p, &Device::Cpu).unwrap()
}

fn hub(weights: &Path, scratch: &Path, rt: Runtime) -> ModelHub {
    let mut opts = vbench_weights::ResolverOptions::from_env(Some(weights.to_path_buf()));
    opts.offline = true;
    opts.hf_cache = scratch.join("no-hf-cache");
    opts.download_dir = scratch.join("no-downloads");
    ModelHub::new(
        vbench_weights::Resolver::new(vbench_weights::Manifest::builtin(), opts),
        rt,
    )
}

/// Our decode of a GIF/PNG (the decord reader path every `load_video` dimension uses) equals
/// PIL's `convert('RGB')` frames byte for byte, frame count included.
#[test]
fn gif_and_png_frames_equal_pil() {
    let pil = load(&fixtures().join("pil_frames.safetensors"));
    for f in FILES {
        let path = fixtures().join("clips").join(f);
        let ours = decode_all(&path, ReaderKind::Decord).unwrap();
        let want = &pil[&format!("pil/{f}")];
        let (t, h, w, _) = want.dims4().unwrap();
        assert_eq!(ours.len(), t, "{f}: frame count");
        // human_action samples over decord's len(vr): the packet count must equal PIL's frames
        let packets = probe(&path, true).unwrap().packets.unwrap() as usize;
        assert_eq!(packets, t, "{f}: packet count");
        let want: Vec<u8> = want.flatten_all().unwrap().to_vec1().unwrap();
        for (i, fr) in ours.iter().enumerate() {
            assert_eq!((fr.height, fr.width), (h, w), "{f}: size");
            let plane = &want[i * h * w * 3..(i + 1) * h * w * 3];
            let bad = fr.data.iter().zip(plane).filter(|(a, b)| a != b).count();
            assert_eq!(bad, 0, "{f} frame {i}: {bad} bytes differ from PIL");
        }
        println!("{f}: {t} frames {w}x{h} equal PIL");
    }
}

fn sampled(path: &Path) -> Vec<Frame> {
    let packets = probe(path, true).unwrap().packets.unwrap() as usize;
    let frames = decode_all(path, ReaderKind::Decord).unwrap();
    middle_indices(human_action::NUM_FRAMES, packets)
        .into_iter()
        .map(|i| frames[i].clone())
        .collect()
}

#[test]
fn human_action_on_gif_and_png_equals_vbench() {
    let scratch = tempfile::tempdir().unwrap();
    let w = scratch.path().join("w");
    umt_weights_dir(&w).unwrap();
    let hub = hub(&w, scratch.path(), Runtime::cpu(1));
    // logits of VBench's model on the 16 sampled frames
    let t = load(&fixtures().join("tensors.safetensors"));
    let dim = human_action::HumanAction::load(&hub).unwrap();
    for f in FILES {
        let crops: Vec<Frame> = sampled(&fixtures().join("clips").join(f))
            .iter()
            .map(human_action::resize_and_crop)
            .collect();
        let got = dim.logits(human_action::clip_to_tensor(&crops)).unwrap();
        let want: Vec<f32> = t[&format!("logits/{f}")]
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
        let d = want
            .iter()
            .zip(&got)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max)
            / scale;
        println!("{f}: logits relative max diff {d:.3e}");
        assert!(d <= LOGIT_REL_TOL, "{f}: logits differ by {d} (relative)");
    }
    // records through the scorer, as VBench writes them
    let out = tempfile::tempdir().unwrap();
    let jobs: Vec<VideoJob> = FILES
        .iter()
        .map(|f| VideoJob {
            path: fixtures().join("clips").join(f),
            input: VideoInput {
                display_path: format!("clips/{f}"),
                ..VideoInput::default()
            },
            dimensions: vec![human_action::NAME.into()],
        })
        .collect();
    let cfg = EvalConfig {
        output_dir: out.path().to_path_buf(),
        name: "gif_png".into(),
        dimensions: vec![human_action::NAME.into()],
        resume: false,
        shard: None,
    };
    let summary = vbench_scorer::run(&hub, &jobs, &cfg, &NoProgress).unwrap();
    assert!(summary.failures.is_empty(), "{:?}", summary.failures);
    let written = read_json(&summary.eval_results_path);
    let want = &read_json(&fixtures().join("scores.json"))[human_action::NAME];
    assert_eq!(want[1], written[human_action::NAME][1]);
    assert_eq!(want[0], written[human_action::NAME][0]);
    // the fixture is not trivially all-false
    assert_eq!(want[1][0]["video_results"], true);
}

#[test]
fn imaging_quality_every_preprocessing_mode_equals_vbench() {
    let scratch = tempfile::tempdir().unwrap();
    let w = scratch.path().join("w");
    musiq_weights_dir(&w).unwrap();
    let hub = hub(&w, scratch.path(), Runtime::cpu(2));
    let net = hub.musiq().unwrap();
    let expected = read_json(&fixtures().join("scores.json"));
    let root = fixtures().join("..");
    let mut seen = Vec::new();
    for (mode_name, want) in expected["imaging_quality"].as_object().unwrap() {
        let mode: PreprocessMode = mode_name.parse().unwrap();
        let dim = ImagingQuality::new(Arc::clone(&net), Runtime::cpu(2)).with_mode(mode);
        let mut sum = 0f64;
        let recs = want[1].as_array().unwrap();
        for r in recs {
            let rel = r["video_path"].as_str().unwrap();
            let path = root.join(rel);
            let input = VideoInput {
                display_path: rel.to_string(),
                meta: Some(probe(&path, false).unwrap()),
                ..VideoInput::default()
            };
            let mut s = vbench_scorer::dimensions::Dimension::start(&dim, &input).unwrap();
            for f in decode_all(&path, ReaderKind::Decord).unwrap() {
                s.push(&f).unwrap();
            }
            let out = s.finish().unwrap();
            let got = out.agg.sum;
            let v = r["video_results"].as_f64().unwrap();
            println!("{mode_name:<20} {rel}: {got} (VBench {v})");
            assert!(
                (got - v).abs() <= SCORE_TOL,
                "{mode_name} {rel}: {got} vs {v}"
            );
            sum += got;
        }
        let agg = sum / recs.len() as f64 / 100.0;
        assert!((agg - want[0].as_f64().unwrap()).abs() <= SCORE_TOL / 100.0);
        seen.push(mode);
    }
    assert_eq!(seen.len(), 4, "all four modes are in the fixture");
    // and they really differ on clip_big (both sides > 512)
    let v = |m: &str| {
        expected["imaging_quality"][m][1][0]["video_results"]
            .as_f64()
            .unwrap()
    };
    assert!(v("longer") != v("shorter") && v("shorter") != v("None"));
}
