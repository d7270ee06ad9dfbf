//! Parity of RAFT, `dynamic_degree` and the static filter with VBench 0.1.5 on the committed
//! fixtures (`tools/parity/make_fixtures_raft.py`): the real RAFT architecture with fixed random
//! weights saved as a `raft-things.pth`-layout checkpoint (`module.` keys, deflated zip), small
//! clips, VBench's own `DynamicDegree` / `StaticFilter` / `static_filter` code.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use vbench_models::raft;
use vbench_scorer::dimensions::dynamic_degree::{self, PairFlow};
use vbench_scorer::dimensions::VideoInput;
use vbench_scorer::evaluate::{EvalConfig, NoProgress, VideoJob};
use vbench_scorer::static_filter::{self, FilterScope, StaticFilterOptions};
use vbench_scorer::video::{decode_all, Frame, ReaderKind};
use vbench_scorer::{ModelHub, Runtime};

/// Flow fields (pixels): the contract.
const FLOW_TOL: f32 = 1e-3;
/// Pair scores are means of flow magnitudes, so the flow tolerance bounds them too.
const SCORE_TOL: f64 = 1e-3;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/parity_raft")
}

fn results() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir().join("results.json")).unwrap()).unwrap()
}

fn net(file: &str) -> raft::Model {
    static_filter::load_raft(&dir().join(file), &Device::Cpu).unwrap()
}

fn padded(frame: &Frame) -> Tensor {
    let t = Tensor::from_slice(&frame.data, (frame.height, frame.width, 3), &Device::Cpu)
        .unwrap()
        .to_dtype(DType::F32)
        .unwrap()
        .permute((2, 0, 1))
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    raft::pad_replicate(&t).unwrap()
}

fn kept_frames(clip: &str, interval: usize) -> Vec<Frame> {
    decode_all(&dir().join("clips").join(clip), ReaderKind::OpenCv)
        .unwrap()
        .into_iter()
        .step_by(interval)
        .collect()
}

fn vec(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1().unwrap()
}

/// Max |a − b|, NaN positions required to match.
fn max_diff(name: &str, want: &[f32], got: &[f32]) -> f32 {
    assert_eq!(want.len(), got.len(), "{name}: sizes");
    let mut d = 0f32;
    for (i, (a, b)) in want.iter().zip(got).enumerate() {
        assert_eq!(a.is_nan(), b.is_nan(), "{name}[{i}]: {a} vs {b}");
        if !a.is_nan() {
            d = d.max((a - b).abs());
        }
    }
    d
}

/// RAFT costs ~1–2 s per 160×128 pair on 2 cores in the test profile, so the default tests
/// use a subset of the fixture clips; `all_fixture_clips_match_vbench` (ignored) runs all.
const FLOW_CLIPS: &[&str] = &["raft_a.mp4", "raft_d.mp4"];
const SCORE_CLIPS: &[&str] = &["raft_b.mp4", "raft_c.mp4", "raft_d.mp4", "raft_e.mp4"];
const RECORD_CLIPS: &[&str] = &["raft_c.mp4", "raft_d.mp4", "raft_e.mp4"];
const STATIC_CLIPS: &[&str] = &["raft_f.mp4"];
const ALL: &[&str] = &[
    "raft_a.mp4",
    "raft_b.mp4",
    "raft_c.mp4",
    "raft_d.mp4",
    "raft_e.mp4",
    "raft_f.mp4",
];

#[test]
fn raft_flows_match_vbench() {
    flows_match(FLOW_CLIPS);
}

#[test]
fn dynamic_degree_pair_scores_and_booleans_match_vbench() {
    pair_scores_match(SCORE_CLIPS);
}

#[test]
fn dynamic_degree_records_and_aggregate_match_vbench() {
    records_match(RECORD_CLIPS);
}

#[test]
fn static_filter_matches_vbench() {
    static_match(STATIC_CLIPS);
}

#[test]
#[ignore = "slow (~1 min of RAFT on 2 cores): every fixture clip"]
fn all_fixture_clips_match_vbench() {
    flows_match(ALL);
    pair_scores_match(ALL);
    records_match(ALL);
    static_match(&["raft_c.mp4", "raft_f.mp4"]);
}

fn flows_match(clips: &[&str]) {
    let t = candle_core::safetensors::load(dir().join("raft.safetensors"), &Device::Cpu).unwrap();
    let r = results();
    let m = net("raft_random.pth");
    for (clip, rec) in r["dynamic_degree"].as_object().unwrap() {
        if rec["padded_hw"].is_null() || !clips.contains(&clip.as_str()) {
            continue;
        }
        let kept = kept_frames(clip, rec["interval"].as_u64().unwrap() as usize);
        let (i1, i2) = (padded(&kept[0]), padded(&kept[1]));
        let want_img = t[&format!("image1_u8/{clip}")]
            .to_dtype(DType::F32)
            .unwrap();
        assert_eq!(want_img.dims(), i1.dims(), "{clip}: padded size");
        assert_eq!(
            max_diff(clip, &vec(&want_img), &vec(&i1)),
            0.0,
            "{clip}: padded image1 (OpenCV decode + replicate padding)"
        );
        let (low, up) = m.forward(&i1, &i2).unwrap();
        let d_low = max_diff(clip, &vec(&t[&format!("flow_low/{clip}")]), &vec(&low));
        let mut msg = format!("{clip}: flow_low max |Δ| {d_low:.2e} px");
        assert!(d_low <= FLOW_TOL, "{msg}");
        if let Some(want_up) = t.get(&format!("flow_up/{clip}")) {
            let d_up = max_diff(clip, &vec(want_up), &vec(&up));
            msg.push_str(&format!(", flow_up max |Δ| {d_up:.2e} px"));
            assert!(d_up <= FLOW_TOL, "{msg}");
        }
        println!("{msg}");
    }
}

/// Every pair score and boolean of `DynamicDegree.infer`, through the scorer's own streaming
/// pair runner, thresholds and count rule.
fn pair_scores_match(clips: &[&str]) {
    let r = results();
    let m = net("raft_random.pth");
    let mut worst = 0f64;
    for (clip, rec) in r["dynamic_degree"].as_object().unwrap() {
        if !clips.contains(&clip.as_str()) {
            continue;
        }
        let interval = rec["interval"].as_u64().unwrap() as usize;
        assert_eq!(
            dynamic_degree::frame_interval(rec["fps"].as_f64().unwrap()),
            interval,
            "{clip}: interval"
        );
        let kept = kept_frames(clip, interval);
        let mut pf = PairFlow::new(&m, Device::Cpu, 0.05, 3);
        for f in &kept {
            pf.push(f).unwrap();
        }
        pf.flush().unwrap();
        let want: Vec<Option<f64>> = rec["pair_scores"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64())
            .collect();
        assert_eq!(want.len(), pf.scores.len(), "{clip}: pairs");
        for (k, (w, g)) in want.iter().zip(&pf.scores).enumerate() {
            match w {
                None => assert!(g.is_nan(), "{clip} pair {k}: want NaN, got {g}"),
                Some(w) => {
                    let d = (w - *g as f64).abs();
                    worst = worst.max(d);
                    assert!(d <= SCORE_TOL, "{clip} pair {k}: {w} vs {g}");
                }
            }
        }
        let (h, w) = (kept[0].height, kept[0].width);
        let (thres, count_num) = dynamic_degree::params(h, w, kept.len());
        assert_eq!(thres, rec["thres"].as_f64().unwrap(), "{clip}: thres");
        assert_eq!(
            count_num as u64,
            rec["count_num"].as_u64().unwrap(),
            "{clip}"
        );
        let scores: Vec<f64> = pf.scores.iter().map(|&s| s as f64).collect();
        assert_eq!(
            dynamic_degree::check_move(&scores, thres, count_num),
            rec["video_results"].as_bool().unwrap(),
            "{clip}: moving"
        );
    }
    println!("dynamic_degree pair scores: max |Δ| {worst:.2e}");
}

/// The whole scorer (`vbench-score` path: probe, OpenCV fps, streaming, records, aggregate) on
/// the clips VBench does not crash on, with the checkpoint found as `--weights-dir`
/// `princeton-vl/RAFT/raft-things.pth`. The aggregate is compared with the mean of VBench's
/// records of the same clips (VBench's own aggregate when all clips are scored).
fn records_match(clips: &[&str]) {
    let r = results();
    let want = &r["dynamic_degree_run"];
    let want_records: Vec<serde_json::Value> = want["video_results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|rec| {
            let vp = rec["video_path"].as_str().unwrap();
            clips.iter().any(|c| vp.ends_with(c))
        })
        .cloned()
        .collect();
    let want_agg = if want_records.len() == want["video_results"].as_array().unwrap().len() {
        want["aggregate"].as_f64().unwrap()
    } else {
        let n = want_records.len() as f64;
        want_records
            .iter()
            .filter(|r| r["video_results"].as_bool().unwrap())
            .count() as f64
            / n
    };
    let scratch = tempfile::tempdir().unwrap();
    let wdir = scratch.path().join("weights/princeton-vl/RAFT");
    std::fs::create_dir_all(&wdir).unwrap();
    std::os::unix::fs::symlink(dir().join("raft_random.pth"), wdir.join("raft-things.pth"))
        .unwrap();
    let mut opts = vbench_weights::ResolverOptions::from_env(Some(scratch.path().join("weights")));
    opts.offline = true;
    opts.hf_cache = scratch.path().join("no-hf-cache");
    opts.download_dir = scratch.path().join("no-downloads");
    let resolver = vbench_weights::Resolver::new(vbench_weights::Manifest::builtin(), opts);
    let hub = ModelHub::new(resolver, Runtime::cpu(4));
    let jobs: Vec<VideoJob> = want_records
        .iter()
        .map(|rec| {
            let vp = rec["video_path"].as_str().unwrap();
            VideoJob {
                path: dir().join(vp),
                input: VideoInput {
                    display_path: vp.to_string(),
                    ..Default::default()
                },
                dimensions: vec!["dynamic_degree".into()],
            }
        })
        .collect();
    let cfg = EvalConfig {
        output_dir: scratch.path().join("out"),
        name: "raft".into(),
        dimensions: vec!["dynamic_degree".into()],
        resume: false,
        shard: None,
    };
    let summary = vbench_scorer::run(&hub, &jobs, &cfg, &NoProgress).unwrap();
    assert!(summary.failures.is_empty(), "{:?}", summary.failures);
    let got = summary.eval_results.to_serde();
    let got = &got["dynamic_degree"];
    assert_eq!(
        got[1],
        serde_json::Value::Array(want_records),
        "per-video records"
    );
    let agg = got[0].as_f64().unwrap();
    assert!((agg - want_agg).abs() < 1e-12, "{agg} vs {want_agg}");
}

fn copies(dst: &Path, names: &serde_json::Value, clips: &[&str]) {
    std::fs::create_dir_all(dst).unwrap();
    for (clip, name) in names.as_object().unwrap() {
        if !clips.contains(&clip.as_str()) {
            continue;
        }
        std::fs::copy(
            dir().join("clips").join(clip),
            dst.join(name.as_str().unwrap()),
        )
        .unwrap();
    }
}

/// `StaticFilter.infer` scores and verdicts, and the JSON + copies `static_filter(args)`
/// writes, for a run where nothing is static (the random RAFT) and one where everything is
/// (a zero flow head). Only `clips` are copied; the JSON is compared on their prompts.
fn static_match(clips: &[&str]) {
    let r = results();
    for (per_key, cmd_key, file) in [
        ("static_filter", "static_filter_command", "raft_random.pth"),
        (
            "static_filter_still",
            "static_filter_still_command",
            "raft_random_still.pth",
        ),
    ] {
        let cmd = &r[cmd_key];
        let tmp = tempfile::tempdir().unwrap();
        let vdir = tmp.path().join("videos");
        copies(&vdir, &cmd["file_names"], clips);
        let prompts: Vec<String> = cmd["file_names"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(c, _)| clips.contains(&c.as_str()))
            .map(|(_, n)| {
                vbench_scorer::prompts::prompt_from_filename(Path::new(n.as_str().unwrap()))
            })
            .collect();
        let opts = StaticFilterOptions {
            videos_path: vdir.clone(),
            result_path: tmp.path().join("results"),
            store_name: "filtered_static_video.json".into(),
            scope: FilterScope::All,
            batch_size: 4,
        };
        let m = net(file);
        let report = static_filter::run(&m, &Device::Cpu, &opts, |_| {}).unwrap();
        let mut worst = 0f64;
        for v in &report.verdicts {
            let base = Path::new(&v.path)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let want = &r[per_key][&base];
            assert_eq!(v.result, Ok(want["static"].as_bool().unwrap()), "{base}");
            let ws = want["scores"].as_array().unwrap();
            assert_eq!(ws.len(), v.scores.len(), "{base}: pairs");
            for (w, g) in ws.iter().zip(&v.scores) {
                let d = (w.as_f64().unwrap() - *g as f64).abs();
                worst = worst.max(d);
                assert!(d <= SCORE_TOL, "{base}: {w} vs {g}");
            }
        }
        assert_eq!(report.verdicts.len(), prompts.len());
        println!("{per_key}: pair scores max |Δ| {worst:.2e}");
        // the JSON: same structure (paths compared by file name), Python's exact formatting
        let want_text = cmd["json_text"].as_str().unwrap();
        let want_json: serde_json::Value = serde_json::from_str(want_text).unwrap();
        let want_entries: Vec<(String, Vec<String>)> = want_json
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| {
                let paths = v["static_path"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p.as_str().unwrap().to_string())
                    .collect();
                (k.clone(), paths)
            })
            .collect();
        assert_eq!(static_filter::to_json(&want_entries), want_text);
        let got_text = std::fs::read_to_string(&report.json_path).unwrap();
        let base = |p: &String| {
            Path::new(p)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        };
        let strip = |e: &[(String, Vec<String>)]| -> Vec<(String, Vec<String>)> {
            e.iter()
                .map(|(k, v)| (k.clone(), v.iter().map(base).collect()))
                .collect()
        };
        let want_here: Vec<(String, Vec<String>)> = want_entries
            .iter()
            .filter(|(p, _)| prompts.contains(p))
            .cloned()
            .collect();
        assert_eq!(strip(&report.entries), strip(&want_here));
        assert_eq!(got_text, static_filter::to_json(&report.entries));
        let mut copied: Vec<String> = std::fs::read_dir(&report.filtered_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        copied.sort();
        let want_copied: Vec<String> = cmd["filtered_videos"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .filter(|v| {
                prompts.contains(&vbench_scorer::prompts::prompt_from_filename(Path::new(v)))
            })
            .collect();
        assert_eq!(copied, want_copied);
    }
}

/// A frame too small for RAFT's pyramid is a per-video error (VBench raises), not a panic.
#[test]
fn too_small_frames_are_a_video_error() {
    let m = net("raft_random.pth");
    let mut pf = PairFlow::new(&m, Device::Cpu, 0.05, 2);
    let f = Frame {
        width: 64,
        height: 48,
        data: vec![0; 64 * 48 * 3],
    };
    let e = pf.push(&f).unwrap_err();
    assert!(e.to_string().contains("too small"), "{e}");
}

/// Frames whose correlation pyramid would exceed `MAX_CORR_BYTES` (2560x1440: 13.3 GB; 4K: 89 GB)
/// are refused with a per-video error before anything is allocated; 1080p (5.6 GB) is accepted.
#[test]
fn too_large_frames_are_a_video_error() {
    let m = net("raft_random.pth");
    for (w, h) in [(3840usize, 2160usize), (2560, 1440)] {
        let mut pf = PairFlow::new(&m, Device::Cpu, 0.05, 2);
        let f = Frame {
            width: w,
            height: h,
            data: vec![0; w * h * 3],
        };
        let e = pf.push(&f).unwrap_err();
        assert!(e.to_string().contains("GiB"), "{e}");
    }
    let cfg = m.config();
    assert!(cfg.corr_pyramid_bytes(1088, 1920) <= dynamic_degree::MAX_CORR_BYTES);
}

/// Real-size run with plain random weights (`make_fixtures_raft.py --full-size DIR`, not
/// committed): `VBENCH_RAFT_FULLSIZE=DIR cargo test --release -p vbench-tests --test parity_raft
/// -- --ignored --nocapture`.
#[test]
#[ignore = "needs VBENCH_RAFT_FULLSIZE (make_fixtures_raft.py --full-size)"]
fn full_size_random_weights_match_vbench() {
    let root = PathBuf::from(std::env::var("VBENCH_RAFT_FULLSIZE").expect("VBENCH_RAFT_FULLSIZE"));
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("results.json")).unwrap()).unwrap();
    let t: HashMap<String, Tensor> =
        candle_core::safetensors::load(root.join("raft.safetensors"), &Device::Cpu).unwrap();
    let m = static_filter::load_raft(
        &root.join("princeton-vl/RAFT/raft-things.pth"),
        &Device::Cpu,
    )
    .unwrap();
    let mut worst_flow = 0f32;
    let mut worst_score = 0f64;
    for (clip, rec) in r["dynamic_degree"].as_object().unwrap() {
        let interval = rec["interval"].as_u64().unwrap() as usize;
        let kept: Vec<Frame> = decode_all(&root.join("clips").join(clip), ReaderKind::OpenCv)
            .unwrap()
            .into_iter()
            .step_by(interval)
            .collect();
        let (low, up) = m.forward(&padded(&kept[0]), &padded(&kept[1])).unwrap();
        let dl = max_diff(clip, &vec(&t[&format!("flow_low/{clip}")]), &vec(&low));
        worst_flow = worst_flow.max(dl);
        if let Some(w) = t.get(&format!("flow_up/{clip}")) {
            worst_flow = worst_flow.max(max_diff(clip, &vec(w), &vec(&up)));
        }
        let mut pf = PairFlow::new(&m, Device::Cpu, 0.05, 2);
        for f in &kept {
            pf.push(f).unwrap();
        }
        pf.flush().unwrap();
        for (w, g) in rec["pair_scores"]
            .as_array()
            .unwrap()
            .iter()
            .zip(&pf.scores)
        {
            worst_score = worst_score.max((w.as_f64().unwrap() - *g as f64).abs());
        }
        let (thres, count_num) = dynamic_degree::params(kept[0].height, kept[0].width, kept.len());
        let scores: Vec<f64> = pf.scores.iter().map(|&s| s as f64).collect();
        assert_eq!(
            dynamic_degree::check_move(&scores, thres, count_num),
            rec["video_results"].as_bool().unwrap(),
            "{clip}"
        );
        println!("{clip}: flow_low max |Δ| {dl:.2e}");
    }
    println!("full size: flow max |Δ| {worst_flow:.2e} px, pair score max |Δ| {worst_score:.2e}");
    assert!(worst_flow <= FLOW_TOL * 10.0 && worst_score <= SCORE_TOL * 10.0);
}
