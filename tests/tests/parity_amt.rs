//! Parity of AMT-S and `motion_smoothness` with VBench 0.1.5 (`tools/parity/make_fixtures_amt.py`):
//! the real AMT-S architecture with regenerated pseudo-random weights, run by VBench's
//! `MotionSmoothness` on two small clips.

#[path = "../src/amt_fixtures.rs"]
mod amt_fixtures;

use std::collections::HashMap;
use std::path::Path;

use amt_fixtures::{amt_fixtures, amt_state_dict, amt_weights_dir};
use candle_core::{DType, Device, Tensor};
use vbench_models::amt;
use vbench_scorer::dimensions::motion_smoothness::{
    input_tensor, output_frame, padding, vbench_scale,
};
use vbench_scorer::dimensions::VideoInput;
use vbench_scorer::evaluate::{EvalConfig, NoProgress, VideoJob};
use vbench_scorer::video::{decode_all, ReaderKind};
use vbench_scorer::{ModelHub, Runtime};

/// Flows in pixels (the contract).
const FLOW_TOL: f32 = 1e-3;
/// Interpolated frames in [0, 1] before `tensor2img`, and per-video values.
const FRAME_TOL: f32 = 1e-4;
const SCORE_TOL: f64 = 1e-4;

fn load(name: &str) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(amt_fixtures().join(name), &Device::Cpu)
        .expect("fixture tensors")
}

fn max_abs(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims());
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

fn model() -> amt::Model {
    let vb = candle_nn::VarBuilder::from_tensors(amt_state_dict(), DType::F32, &Device::Cpu);
    amt::Model::new(&amt::Config::amt_s(), vb).unwrap()
}

#[test]
fn amt_flows_and_frame_match_vbench() {
    let t = load("tensors.safetensors");
    let frames = decode_all(&amt_fixtures().join("clips/clip_e.mp4"), ReaderKind::OpenCv).unwrap();
    let (h, w) = (frames[0].height, frames[0].width);
    let (scale, div) = vbench_scale(h, w);
    let pad = padding(h, w, div);
    let i0 = input_tensor(&frames[0], pad, &Device::Cpu).unwrap();
    let i1 = input_tensor(&frames[2], pad, &Device::Cpu).unwrap();
    let out = model().forward(&i0, &i1, 0.5, scale).unwrap();
    for lvl in 0..4 {
        for (dir, got) in [("flow0", &out.flow0[lvl]), ("flow1", &out.flow1[lvl])] {
            let key = format!("clip_e.mp4/{dir}_{}", lvl + 1);
            let d = max_abs(&t[&key], got);
            eprintln!("{key}: max abs diff {d:.3e} px");
            assert!(d <= FLOW_TOL, "{key}: max abs diff {d} px");
        }
    }
    let d = max_abs(&t["clip_e.mp4/imgt_pred"], &out.imgt_pred);
    eprintln!("imgt_pred: max abs diff {d:.3e}");
    assert!(d <= FRAME_TOL, "imgt_pred: max abs diff {d}");
}

#[test]
fn interpolated_u8_frames_match_vbench() {
    let t = load("tensors.safetensors");
    let net = model();
    for clip in ["clip_e.mp4", "clip_f.mp4"] {
        u8_frames_match(&net, &amt_fixtures(), &t, clip);
    }
}

/// Decodes `root/clips/clip` like VBench (OpenCV), interpolates every even-frame pair and compares
/// the unpadded uint8 frames with `{clip}/pred_u8`.
fn u8_frames_match(net: &amt::Model, root: &Path, t: &HashMap<String, Tensor>, clip: &str) {
    let frames = decode_all(&root.join("clips").join(clip), ReaderKind::OpenCv).unwrap();
    let (h, w) = (frames[0].height, frames[0].width);
    let (scale, div) = vbench_scale(h, w);
    let pad = padding(h, w, div);
    let want = &t[&format!("{clip}/pred_u8")];
    let inputs: Vec<_> = frames
        .iter()
        .step_by(2)
        .map(|f| input_tensor(f, pad, &Device::Cpu).unwrap())
        .collect();
    assert_eq!(
        want.dim(0).unwrap(),
        inputs.len() - 1,
        "{clip}: predictions"
    );
    for k in 0..inputs.len() - 1 {
        let pred = net.forward(&inputs[k], &inputs[k + 1], 0.5, scale).unwrap();
        let got = output_frame(&pred.imgt_pred, pad, h, w).unwrap();
        assert_eq!((got.height, got.width), (h, w), "{clip}: cropped back");
        let want: Vec<u8> = want
            .get(k)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let differing = want.iter().zip(&got.data).filter(|(a, b)| a != b).count();
        let maxd = want
            .iter()
            .zip(&got.data)
            .map(|(a, b)| a.abs_diff(*b))
            .max()
            .unwrap();
        eprintln!(
            "{clip} pair {k}: {differing} of {} u8 values differ (max {maxd})",
            want.len()
        );
        // a value can flip by one level where x·255 lands within float rounding of an integer
        assert!(maxd <= 1, "{clip} pair {k}: u8 frames differ by {maxd}");
        assert!(
            differing * 1000 <= want.len(),
            "{clip} pair {k}: {differing} values differ"
        );
    }
}

/// `tests/fixtures/parity_amt/odd` (`tools/parity/make_fixtures_amt_odd.py`): odd frame sizes,
/// padded to a multiple of 16 with the odd remainder right/bottom and cropped back.
fn odd_fixtures() -> std::path::PathBuf {
    amt_fixtures().join("odd")
}

#[test]
fn odd_sizes_pad_crop_and_match_vbench() {
    let root = odd_fixtures();
    let t = candle_core::safetensors::load(root.join("tensors.safetensors"), &Device::Cpu)
        .expect("odd fixture tensors");
    let net = model();
    // 145x133 → 160x144 (left 7, right 8, top 5, bottom 6); 131x129 → 144x144 (6/7, 7/8)
    for (clip, hw, pad) in [
        ("clip_odd_a.mp4", (133, 145), [7, 8, 5, 6]),
        ("clip_odd_b.mp4", (129, 131), [6, 7, 7, 8]),
    ] {
        let frames = decode_all(&root.join("clips").join(clip), ReaderKind::OpenCv).unwrap();
        assert_eq!((frames[0].height, frames[0].width), hw, "{clip}");
        let (_, div) = vbench_scale(hw.0, hw.1);
        assert_eq!(div, 16);
        let p = padding(hw.0, hw.1, div);
        assert_eq!(p, pad, "{clip}");
        u8_frames_match(&net, &root, &t, clip);
    }
    // the padded float prediction of clip a's first pair
    let frames = decode_all(&root.join("clips/clip_odd_a.mp4"), ReaderKind::OpenCv).unwrap();
    let p = padding(133, 145, 16);
    let i0 = input_tensor(&frames[0], p, &Device::Cpu).unwrap();
    let i1 = input_tensor(&frames[2], p, &Device::Cpu).unwrap();
    let out = net.forward(&i0, &i1, 0.5, 1.0).unwrap();
    let d = max_abs(&t["clip_odd_a.mp4/imgt_pred"], &out.imgt_pred);
    eprintln!("clip_odd_a imgt_pred: max abs diff {d:.3e}");
    assert!(d <= FRAME_TOL, "clip_odd_a imgt_pred: max abs diff {d}");
    // 130x97 pads to 144x112, below the 128 minimum: a per-video error here, while VBench on
    // CPU returns a number (small.json; the coarsest correlation level is one pixel wide)
    use vbench_scorer::dimensions::motion_smoothness::MotionSmoothness;
    use vbench_scorer::dimensions::Dimension;
    let small = decode_all(&root.join("clips/clip_odd_small.mp4"), ReaderKind::OpenCv).unwrap();
    assert_eq!((small[0].height, small[0].width), (97, 130));
    let dim = MotionSmoothness::new(std::sync::Arc::new(net), &Runtime::cpu(1));
    let mut s = dim.start(&VideoInput::default()).unwrap();
    let e = s.push(&small[0]).expect_err("padded side 112 < 128");
    assert!(e.to_string().contains("at least 128"), "{e}");
}

#[test]
fn odd_sizes_scores_match_vbench() {
    let dir = tempfile::tempdir().unwrap();
    amt_weights_dir(dir.path());
    let hub = hub_at(dir.path());
    let root = odd_fixtures();
    let worst = scores_match(
        &hub,
        &root,
        &root.join("scores.json"),
        &["clips/clip_odd_a.mp4", "clips/clip_odd_b.mp4"],
    );
    assert!(worst <= SCORE_TOL, "largest difference {worst}");
}

fn hub_at(weights: &Path) -> ModelHub {
    let mut opts = vbench_weights::ResolverOptions::from_env(Some(weights.to_path_buf()));
    opts.offline = true;
    opts.hf_cache = weights.join("no-hf-cache");
    opts.download_dir = weights.join("no-downloads");
    let resolver = vbench_weights::Resolver::new(vbench_weights::Manifest::builtin(), opts);
    ModelHub::new(resolver, Runtime::cpu(1))
}

/// Runs the scorer on `clips` (paths relative to `root`) and compares with `scores.json`.
fn scores_match(hub: &ModelHub, root: &Path, scores: &Path, clips: &[&str]) -> f64 {
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(scores).unwrap()).unwrap();
    let out = tempfile::tempdir().unwrap();
    let jobs: Vec<VideoJob> = clips
        .iter()
        .map(|c| VideoJob {
            path: root.join(c),
            input: VideoInput {
                display_path: c.to_string(),
                ..Default::default()
            },
            dimensions: vec!["motion_smoothness".into()],
        })
        .collect();
    let cfg = EvalConfig {
        output_dir: out.path().to_path_buf(),
        name: "parity_amt".into(),
        dimensions: vec!["motion_smoothness".into()],
        resume: false,
        shard: None,
    };
    let summary = vbench_scorer::run(hub, &jobs, &cfg, &NoProgress).unwrap();
    assert!(summary.failures.is_empty(), "{:?}", summary.failures);
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary.eval_results_path).unwrap())
            .unwrap();
    let (want, got) = (
        &expected["motion_smoothness"],
        &written["motion_smoothness"],
    );
    let mut worst = 0f64;
    let wr = want[1].as_array().unwrap();
    let gr = got[1].as_array().unwrap();
    assert_eq!(wr.len(), gr.len());
    for (a, b) in wr.iter().zip(gr) {
        assert_eq!(a["video_path"], b["video_path"]);
        let d = (a["video_results"].as_f64().unwrap() - b["video_results"].as_f64().unwrap()).abs();
        eprintln!("{}: |diff| {d:.3e}", a["video_path"]);
        worst = worst.max(d);
    }
    let d = (want[0].as_f64().unwrap() - got[0].as_f64().unwrap()).abs();
    eprintln!("aggregate: |diff| {d:.3e}");
    worst.max(d)
}

#[test]
fn motion_smoothness_scores_match_vbench() {
    let dir = tempfile::tempdir().unwrap();
    amt_weights_dir(dir.path());
    let hub = hub_at(dir.path());
    let f = amt_fixtures();
    let worst = scores_match(
        &hub,
        &f,
        &f.join("scores.json"),
        &["clips/clip_e.mp4", "clips/clip_f.mp4"],
    );
    assert!(worst <= SCORE_TOL, "largest difference {worst}");
}

#[test]
fn too_few_frames_and_small_frames_are_per_video_errors() {
    use vbench_scorer::dimensions::motion_smoothness::MotionSmoothness;
    use vbench_scorer::dimensions::Dimension;
    use vbench_scorer::video::Frame;
    let dim = MotionSmoothness::new(std::sync::Arc::new(model()), &Runtime::cpu(1));
    let frame = |w: usize, h: usize| Frame {
        width: w,
        height: h,
        data: vec![128; w * h * 3],
    };
    // two frames: VBench asserts; here a per-video error
    let mut s = dim.start(&VideoInput::default()).unwrap();
    s.push(&frame(128, 128)).unwrap();
    s.push(&frame(128, 128)).unwrap();
    let e = s.finish().expect_err("error for 2 frames");
    assert!(e.to_string().contains("at least 3 frames"), "{e}");
    // 96x64 pads to 96x64: below the 128 minimum
    let mut s = dim.start(&VideoInput::default()).unwrap();
    let e = s.push(&frame(96, 64)).expect_err("error for small frames");
    assert!(e.to_string().contains("at least 128"), "{e}");
    // a 4K frame exceeds the correlation memory limit
    let mut s = dim.start(&VideoInput::default()).unwrap();
    let e = s.push(&frame(3840, 2160)).expect_err("error for 4K");
    assert!(e.to_string().contains("GiB"), "{e}");
    // frames of different sizes
    let mut s = dim.start(&VideoInput::default()).unwrap();
    s.push(&frame(128, 128)).unwrap();
    let e = s.push(&frame(144, 128)).expect_err("size change");
    assert!(e.to_string().contains("one size"), "{e}");
}

#[test]
fn nested_real_layout_pth_loads() {
    // {'state_dict': comb_block.*, 'epoch': 7, 'optimizer': {...}, 'note': str} written by torch.save
    let vb = vbench_weights::open_checkpoint(
        &amt_fixtures().join("amt_nested.pth"),
        Some("state_dict"),
        DType::F32,
        &Device::Cpu,
    )
    .unwrap();
    let sd = amt_state_dict();
    for k in [
        "comb_block.0.weight",
        "comb_block.0.bias",
        "comb_block.1.weight",
        "comb_block.2.weight",
        "comb_block.2.bias",
    ] {
        let want = &sd[k];
        let got = vb.get(want.dims(), k).unwrap();
        assert_eq!(max_abs(want, &got), 0.0, "{k}");
    }
}

/// Real AMT-S with torch's default random init saved as a real `amt-s.pth`
/// (`{'state_dict': ..., 'epoch', 'note'}`) and a 512x320 clip:
/// `make_fixtures_amt.py --full-size DIR`, then `VBENCH_AMT_FULLSIZE=DIR`.
#[test]
#[ignore = "needs VBENCH_AMT_FULLSIZE (make_fixtures_amt.py --full-size DIR)"]
fn full_size_random_weights_match_vbench() {
    let dir = std::path::PathBuf::from(
        std::env::var("VBENCH_AMT_FULLSIZE").expect("VBENCH_AMT_FULLSIZE"),
    );
    let hub = hub_at(&dir);
    let worst = scores_match(&hub, &dir, &dir.join("scores.json"), &["clip_full.mp4"]);
    eprintln!("full-size largest difference {worst:.3e}");
    assert!(worst <= SCORE_TOL, "largest difference {worst}");
}
