//! The four GRiT dimensions (`object_class`, `multiple_objects`, `color`,
//! `spatial_relationship`) against VBench 0.1.5's own per-video code, with a scripted
//! detector (`tools/parity/make_fixtures_semantic.py`): the Python side runs VBench's
//! `object_class` / `multiple_objects` / `color` / `spatial_relationship` functions (and their
//! `get_dect_from_grit`, `check_generate`, `get_position_score`) with `load_video` and the GRiT
//! model replaced by fakes that return the same scripted detections per stream frame.
//!
//! Also: the two resize paths (torchvision's antialiased bilinear on floats, `cv2.resize` on
//! uint8) against torch / cv2 on random sizes and on a real decoded clip with a short side
//! > 768, and one decode feeding the four dimensions through [`CachedDetector`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use vbench_scorer::dimensions::{
    self, color, multiple_objects, object_class, spatial_relationship, Dimension, VideoInput,
};
use vbench_scorer::grit_detect::{
    prepare_frame, CachedDetector, FloatFrameRgb, FrameDetections, ObjectDetector, ResizePath,
    SemanticOptions,
};
use vbench_scorer::pyjson::PyJson;
use vbench_scorer::video::{Frame, VideoMeta};
use vbench_scorer::ScoreError;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/parity_semantic")
}

fn fixture() -> Value {
    let text = std::fs::read_to_string(dir().join("semantic.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Returns the script of one video: pixel (0,0) red = stream index.
struct Scripted {
    frames: HashMap<usize, Vec<(String, String, [f32; 4])>>,
    calls: Mutex<usize>,
}

impl Scripted {
    fn new(video: &Value) -> Self {
        let mut frames = HashMap::new();
        for (k, list) in video["frames"].as_object().unwrap() {
            let inst = list
                .as_array()
                .unwrap()
                .iter()
                .map(|i| {
                    let b: Vec<f32> = i["box"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|v| v.as_f64().unwrap() as f32)
                        .collect();
                    (
                        i["det"].as_str().unwrap().to_string(),
                        i["cap"].as_str().unwrap().to_string(),
                        [b[0], b[1], b[2], b[3]],
                    )
                })
                .collect();
            frames.insert(k.parse().unwrap(), inst);
        }
        Self {
            frames,
            calls: Mutex::new(0),
        }
    }
}

impl ObjectDetector for Scripted {
    fn detect(&self, f: &FloatFrameRgb, dense: bool) -> Result<FrameDetections, ScoreError> {
        *self.calls.lock().unwrap() += 1;
        let idx = f.at(0, 0, 0) as usize;
        let inst = self.frames.get(&idx).cloned().unwrap_or_default();
        Ok(FrameDetections {
            object_det_texts: inst.iter().map(|i| i.0.clone()).collect(),
            boxes: inst.iter().map(|i| i.2).collect(),
            dense_captions: dense.then(|| inst.iter().map(|i| i.1.clone()).collect()),
        })
    }
}

fn meta(vlen: usize) -> VideoMeta {
    VideoMeta {
        path: PathBuf::from("x.mp4"),
        width: 4,
        height: 4,
        avg_fps: 8.0,
        guessed_fps: 8.0,
        declared_frames: vlen as u64,
        packets: Some(vlen as u64),
        rotation: 0,
    }
}

fn frame(idx: usize) -> Frame {
    let mut data = vec![0u8; 4 * 4 * 3];
    data[0] = idx as u8;
    Frame {
        width: 4,
        height: 4,
        data,
    }
}

/// Floats equal to the last bit (the fixture is parsed with serde_json's float_roundtrip),
/// ints as ints, dict entries by key; also returns the largest float difference.
fn same(a: &PyJson, b: &PyJson, worst: &mut f64) -> bool {
    match (a, b) {
        (PyJson::Float(x), PyJson::Float(y)) => {
            *worst = worst.max((x - y).abs());
            x == y
        }
        (PyJson::Int(x), PyJson::Int(y)) => x == y,
        (PyJson::Str(x), PyJson::Str(y)) => x == y,
        (PyJson::List(x), PyJson::List(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q, worst))
        }
        (PyJson::Dict(x), PyJson::Dict(_)) => {
            x.len() == b_len(b)
                && x.iter()
                    .all(|(k, v)| b.get(k).is_some_and(|w| same(v, w, worst)))
        }
        _ => false,
    }
}

fn b_len(b: &PyJson) -> usize {
    match b {
        PyJson::Dict(d) => d.len(),
        _ => 0,
    }
}

fn build(name: &str, det: Arc<dyn ObjectDetector>, corrected: bool) -> Box<dyn Dimension> {
    vbench_scorer::grit_detect::build_dimension(name, det, SemanticOptions { corrected })
        .expect("a GRiT dimension")
}

/// Runs one dimension on every scripted video of the fixture: per-video outcomes in order.
fn run_case(
    name: &str,
    videos: &[Value],
    aux: &Value,
    prompt: &str,
) -> Vec<(String, Result<dimensions::Outcome, String>)> {
    let mut out = Vec::new();
    for v in videos {
        let vlen = v["vlen"].as_u64().unwrap() as usize;
        let det = Arc::new(Scripted::new(v));
        let dim = build(name, det.clone(), false);
        let input = VideoInput {
            display_path: v["path"].as_str().unwrap().to_string(),
            prompt: Some(prompt.to_string()),
            meta: Some(meta(vlen)),
            auxiliary_info: Some(serde_json::json!({ name: aux })),
            ..Default::default()
        };
        let mut s = dim.start(&input).unwrap();
        for i in 0..vlen {
            s.push(&frame(i)).unwrap();
        }
        let r = s.finish().map_err(|e| e.to_string());
        // each distinct sampled frame is detected once
        let distinct: std::collections::BTreeSet<usize> =
            vbench_scorer::sampling::middle_indices(16, vlen)
                .into_iter()
                .collect();
        assert_eq!(*det.calls.lock().unwrap(), distinct.len());
        out.push((input.display_path, r));
    }
    out
}

#[test]
fn four_dimensions_match_vbench_per_video_code() {
    let fx = fixture();
    let videos = fx["videos"].as_array().unwrap().clone();
    let mut worst = 0f64;
    let mut checked = 0;
    for (name, cases) in fx["cases"].as_object().unwrap() {
        for case in cases.as_array().unwrap() {
            let aux = &case["aux"];
            let prompt = case["prompt"].as_str().unwrap_or("p");
            let got = run_case(name, &videos, aux, prompt);
            let want = &case["out"];
            if let Some(err) = want.get("error") {
                // VBench divides by zero: no video qualified
                assert!(got.iter().all(|(_, r)| r.is_err()), "{name} {aux}: {err}");
                let parts: Vec<_> = got
                    .iter()
                    .filter_map(|(_, r)| r.as_ref().ok().map(|o| o.agg))
                    .collect();
                assert!(dimensions::aggregate(name, &parts).is_nan());
                checked += 1;
                continue;
            }
            let want_videos = want["video_results"].as_array().unwrap();
            let ok: Vec<&dimensions::Outcome> =
                got.iter().filter_map(|(_, r)| r.as_ref().ok()).collect();
            // color omits videos with no qualifying frame; the others keep every video
            assert_eq!(ok.len(), want_videos.len(), "{name} {aux}");
            for (o, w) in ok.iter().zip(want_videos) {
                let w = PyJson::from_serde(w);
                assert!(
                    same(&o.record, &w, &mut worst),
                    "{name} {aux}:\n ours   {}\n vbench {}",
                    o.record.to_python_string(),
                    w.to_python_string()
                );
                // VBench's key order
                let keys: Vec<&str> = match &o.record {
                    PyJson::Dict(d) => d.iter().map(|(k, _)| k.as_str()).collect(),
                    _ => unreachable!(),
                };
                let expected: &[&str] = match name.as_str() {
                    "color" => &["video_path", "video_results", "cur_success_frame_rate"],
                    "spatial_relationship" => &["video_path", "video_results", "frame_results"],
                    _ => &[
                        "video_path",
                        "video_results",
                        "success_frame_count",
                        "frame_count",
                    ],
                };
                assert_eq!(keys, expected);
                checked += 1;
            }
            for (path, r) in &got {
                if let Err(e) = r {
                    assert_eq!(name, "color", "{path}: {e}");
                    assert!(
                        !want_videos.iter().any(|w| w["video_path"] == path.as_str()),
                        "{path} was scored by VBench"
                    );
                }
            }
            let parts: Vec<_> = ok.iter().map(|o| o.agg).collect();
            let agg = dimensions::aggregate(name, &parts);
            let wagg = want["aggregate"].as_f64().unwrap();
            worst = worst.max((agg - wagg).abs());
            assert!((agg - wagg).abs() <= 1e-15, "{name} {aux}: {agg} vs {wagg}");
        }
    }
    println!("{checked} per-video records compared; largest |difference| {worst:e}");
    assert!(checked > 100);
}

#[test]
fn position_score_matches_vbench_with_types() {
    let fx = fixture();
    let mut n = 0;
    for c in fx["position_scores"].as_array().unwrap() {
        let b = |k: &str| -> [i64; 4] {
            let v: Vec<i64> = c[k]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_i64().unwrap())
                .collect();
            [v[0], v[1], v[2], v[3]]
        };
        let got =
            spatial_relationship::position_score(c["rel"].as_str().unwrap(), b("b1"), b("b2"));
        match (c["type"].as_str().unwrap(), got) {
            ("ZeroDivisionError", None) => {}
            ("int", Some(spatial_relationship::PyNum::Int(i))) => {
                assert_eq!(i, c["score"].as_i64().unwrap(), "{c}")
            }
            ("float", Some(spatial_relationship::PyNum::Float(f))) => {
                assert_eq!(f, c["score"].as_f64().unwrap(), "{c}")
            }
            (t, g) => panic!("{c}: VBench {t}, ours {g:?}"),
        }
        n += 1;
    }
    assert_eq!(n, 400);
    // the crafted pair with IoU exactly 0.1 scores 0.1/0.1 = 1.0 (a float)
    let p = &fx["iou_01_pair"];
    let b = |v: &Value| -> [i64; 4] {
        let v: Vec<i64> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_i64().unwrap())
            .collect();
        [v[0], v[1], v[2], v[3]]
    };
    assert_eq!(
        spatial_relationship::position_score("on the left of", b(&p[0]), b(&p[1])),
        Some(spatial_relationship::PyNum::Float(1.0))
    );
}

#[test]
fn color_object_is_derived_like_vbench() {
    let fx = fixture();
    for c in fx["color_objects"].as_array().unwrap() {
        assert_eq!(
            color::vbench_object(c["prompt"].as_str().unwrap(), c["color"].as_str().unwrap()),
            c["object"].as_str().unwrap(),
            "{c}"
        );
    }
}

#[test]
fn corrected_variants_differ_where_vbench_is_wrong() {
    // colour: instance 0 is a dog, instance 1 a red car; VBench labels both "dog"
    let det = FrameDetections {
        object_det_texts: vec!["dog".into(), "car".into()],
        boxes: vec![[0.0; 4]; 2],
        dense_captions: Some(vec!["a brown dog".into(), "a red car".into()]),
    };
    let rows = |c| vec![color::frame_rows(&det, c)];
    assert_eq!(color::check_generate("red", "car", &rows(false)), (0, 0));
    assert_eq!(color::check_generate("red", "car", &rows(true)), (1, 1));
    // spatial: the car is right of the dog; "car on the left of dog" scores 1 in VBench, 0
    // when the direction counts
    let det = FrameDetections {
        object_det_texts: vec!["dog".into(), "car".into()],
        boxes: vec![[0.0, 0.0, 10.0, 10.0], [50.0, 0.0, 60.0, 10.0]],
        dense_captions: None,
    };
    let key = vbench_scorer::prompt_info::SpatialInfo {
        object_a: "car".into(),
        object_b: "dog".into(),
        relationship: "on the left of".into(),
    };
    let s = |c| {
        spatial_relationship::frame_score(&key, &det, c)
            .unwrap()
            .value()
    };
    assert_eq!((s(false), s(true)), (1.0, 0.0));
    let key = vbench_scorer::prompt_info::SpatialInfo {
        relationship: "on the right of".into(),
        ..key
    };
    assert_eq!((s_with(&key, &det)), 1.0);
}

fn s_with(key: &vbench_scorer::prompt_info::SpatialInfo, det: &FrameDetections) -> f64 {
    spatial_relationship::frame_score(key, det, true)
        .unwrap()
        .value()
}

#[test]
fn any_prompt_mode_parses_and_skips_with_reasons() {
    let det: Arc<dyn ObjectDetector> = Arc::new(Scripted {
        frames: HashMap::from([(
            0,
            vec![
                (
                    "car".to_string(),
                    "a red car".to_string(),
                    [0.0, 0.0, 10.0, 10.0],
                ),
                (
                    "dog".to_string(),
                    "a dog".to_string(),
                    [40.0, 0.0, 50.0, 10.0],
                ),
            ],
        )]),
        calls: Mutex::new(0),
    });
    let input = |prompt: &str| VideoInput {
        display_path: "v.mp4".into(),
        prompt: Some(prompt.into()),
        meta: Some(meta(1)),
        ..Default::default()
    };
    let run = |name: &str, prompt: &str| -> Result<PyJson, String> {
        let dim = build(name, det.clone(), false);
        let mut s = dim.start(&input(prompt)).map_err(|e| e.to_string())?;
        s.push(&frame(0)).unwrap();
        s.finish().map(|o| o.record).map_err(|e| e.to_string())
    };
    let p = "a red car to the left of a dog";
    let r = run("spatial_relationship", p).unwrap();
    assert_eq!(r.get("video_results"), Some(&PyJson::Float(1.0)));
    let info = r.get("prompt_info").unwrap();
    assert_eq!(info.get("source"), Some(&PyJson::Str("rules".into())));
    let r = run("color", p).unwrap();
    assert_eq!(r.get("video_results"), Some(&PyJson::Float(1.0)));
    let r = run("multiple_objects", p).unwrap();
    assert_eq!(r.get("success_frame_count"), Some(&PyJson::Int(16)));
    // two objects: object_class cannot use it
    let e = run("object_class", p).unwrap_err();
    assert!(e.contains("exactly one object"), "{e}");
    assert_eq!(
        run("object_class", "a dog running on the beach")
            .unwrap()
            .get("video_results"),
        Some(&PyJson::Float(1.0))
    );
    let e = run("color", "a dog running on the beach").unwrap_err();
    assert!(e.contains("colour"), "{e}");
    let e = run("spatial_relationship", "sunset over the ocean").unwrap_err();
    assert!(e.contains("spatial relation"), "{e}");
    // a pre-parsed (LLM) info wins over the rule parser
    let mut with_info = input("whatever the prompt says");
    with_info.prompt_info = vbench_scorer::prompt_info::PromptInfo::from_llm_json(
        r#"{"objects":[{"name":"dog","count":1,"color":null}],"color":null,"spatial":null,"scene":null}"#,
    );
    let dim = build("object_class", det.clone(), false);
    let mut s = dim.start(&with_info).unwrap();
    s.push(&frame(0)).unwrap();
    let rec = s.finish().unwrap().record;
    assert_eq!(
        rec.get("prompt_info").and_then(|i| i.get("source")),
        Some(&PyJson::Str("llm".into()))
    );
}

// ------------------------------------------------------------------ resize paths

#[test]
fn torch_resize_matches_torchvision_on_random_sizes() {
    let bytes = std::fs::read(dir().join("torch_resize.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let rz: Value =
        serde_json::from_str(&std::fs::read_to_string(dir().join("resize.json")).unwrap()).unwrap();
    let f32s = |name: &str| -> Vec<f32> {
        st.tensor(name)
            .unwrap()
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    };
    let mut worst = 0f32;
    let mut differing = 0;
    for (k, s) in rz["torch_cases"].as_array().unwrap().iter().enumerate() {
        let s: Vec<usize> = s
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        let x = f32s(&format!("in_{k}"));
        let want = f32s(&format!("out_{k}"));
        let got = vbench_scorer::torch_resize::resize_bilinear_aa(&x, 3, s[0], s[1], s[2], s[3]);
        assert_eq!(got.len(), want.len());
        let d = got.iter().zip(&want).filter(|(g, w)| g != w).count();
        if d > 0 {
            println!("case {k} {s:?}: {d} values differ");
        }
        for (g, w) in got.iter().zip(&want) {
            worst = worst.max((g - w).abs());
            differing += (g != w) as usize;
        }
    }
    println!("torch Resize: {differing} values differ, max |diff| {worst:e}");
    assert_eq!(differing, 0, "max |diff| {worst:e}");
}

#[test]
fn resize_paths_match_torch_and_cv2_on_a_decoded_clip_over_768() {
    let rz: Value =
        serde_json::from_str(&std::fs::read_to_string(dir().join("resize.json")).unwrap()).unwrap();
    let path = dir().join(rz["clip"].as_str().unwrap());
    let meta = vbench_scorer::video::probe(&path, true).unwrap();
    let idx = vbench_scorer::sampling::middle_indices(16, meta.packets.unwrap() as usize);
    let want_idx: Vec<usize> = rz["indices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    assert_eq!(idx, want_idx);
    let frames =
        vbench_scorer::video::decode_all(&path, vbench_scorer::video::ReaderKind::Decord).unwrap();
    let nh = rz["new_size"][0].as_u64().unwrap() as usize;
    let nw = rz["new_size"][1].as_u64().unwrap() as usize;
    let (mut worst_t, mut worst_c, mut worst_in) = (0f64, 0i64, 0i64);
    for s in rz["frames"].as_array().unwrap() {
        let fi = s["frame"].as_u64().unwrap() as usize;
        let f = &frames[idx[fi]];
        assert_eq!((f.height, f.width), (784, 1040));
        for (p, v) in s["in_pos"]
            .as_array()
            .unwrap()
            .iter()
            .zip(s["decoded"].as_array().unwrap())
        {
            let (y, x, c) = (
                p[0].as_u64().unwrap() as usize,
                p[1].as_u64().unwrap() as usize,
                p[2].as_u64().unwrap() as usize,
            );
            worst_in = worst_in.max((f.pixel(y, x)[c] as i64 - v.as_i64().unwrap()).abs());
        }
        let t = prepare_frame(f, ResizePath::TorchFloat);
        let c = prepare_frame(f, ResizePath::Cv2Uint8);
        assert_eq!((t.height, t.width, c.height, c.width), (nh, nw, nh, nw));
        let pos = s["pos"].as_array().unwrap();
        for ((p, tv), cv) in pos
            .iter()
            .zip(s["torch"].as_array().unwrap())
            .zip(s["cv2"].as_array().unwrap())
        {
            let (y, x, ch) = (
                p[0].as_u64().unwrap() as usize,
                p[1].as_u64().unwrap() as usize,
                p[2].as_u64().unwrap() as usize,
            );
            worst_t = worst_t.max((t.at(ch, y, x) as f64 - tv.as_f64().unwrap()).abs());
            worst_c = worst_c.max((c.at(ch, y, x) as i64 - cv.as_i64().unwrap()).abs());
        }
        let tsum: f64 = t.data.iter().map(|&v| v as f64).sum();
        let csum: i64 = c.data.iter().map(|&v| v as i64).sum();
        assert_eq!(csum, s["cv2_sum"].as_i64().unwrap());
        let ts = s["torch_sum"].as_f64().unwrap();
        assert!((tsum - ts).abs() <= 1e-6 * ts, "{tsum} vs {ts}");
    }
    println!("decoded |diff| {worst_in}, torch Resize |diff| {worst_t:e}, cv2 |diff| {worst_c}");
    assert_eq!(worst_in, 0, "decode differs from decord");
    assert_eq!(worst_t, 0.0);
    assert_eq!(worst_c, 0);
}

/// Counts detector calls per (size, dense) for the one-decode test.
struct Counter(Mutex<Vec<(usize, usize, bool)>>);
impl ObjectDetector for Counter {
    fn detect(&self, f: &FloatFrameRgb, dense: bool) -> Result<FrameDetections, ScoreError> {
        self.0.lock().unwrap().push((f.height, f.width, dense));
        Ok(FrameDetections {
            object_det_texts: vec!["car".into(), "dog".into()],
            boxes: vec![[0.0, 0.0, 10.0, 10.0], [30.0, 0.0, 40.0, 10.0]],
            dense_captions: dense.then(|| vec!["a red car".into(), "a dog".into()]),
        })
    }
}

#[test]
fn one_decode_feeds_the_four_dimensions_and_grit_runs_once_per_frame() {
    for (path, resized) in [
        (vbench_tests_clip("clip_a.mp4"), false),
        (dir().join("big_784.mp4"), true),
    ] {
        let counter = Arc::new(Counter(Mutex::new(Vec::new())));
        let shared: Arc<dyn ObjectDetector> = Arc::new(CachedDetector::new(counter.clone(), true));
        let dims: Vec<Box<dyn Dimension>> = [
            object_class::NAME,
            multiple_objects::NAME,
            color::NAME,
            spatial_relationship::NAME,
        ]
        .iter()
        .map(|n| build(n, shared.clone(), false))
        .collect();
        let refs: Vec<&dyn Dimension> = dims.iter().map(|d| d.as_ref()).collect();
        let job = vbench_scorer::VideoJob {
            path: path.clone(),
            input: VideoInput {
                display_path: "v.mp4".into(),
                prompt: Some("a red car".into()),
                auxiliary_info: Some(serde_json::json!({
                    "object_class": {"object": "car"},
                    "multiple_objects": {"object": "car and dog"},
                    "color": {"color": "red"},
                    "spatial_relationship": {"spatial_relationship": {
                        "object_a": "car", "object_b": "dog", "relationship": "on the left of"}},
                })),
                ..Default::default()
            },
            dimensions: Vec::new(),
        };
        let res =
            vbench_scorer::evaluate::score_video(&job, &refs, &vbench_scorer::evaluate::NoProgress);
        for (name, r) in &res {
            assert!(
                matches!(r, vbench_scorer::evaluate::DimResult::Ok { .. }),
                "{name}: {r:?}"
            );
        }
        let meta = vbench_scorer::video::probe(&path, true).unwrap();
        let distinct: std::collections::BTreeSet<usize> =
            vbench_scorer::sampling::middle_indices(16, meta.packets.unwrap() as usize)
                .into_iter()
                .collect();
        let calls = counter.0.lock().unwrap().clone();
        // ≤ 768 px: one (dense) GRiT run per distinct frame for all four; > 768: the torch and
        // the cv2 frame differ, so two
        let per_frame = if resized { 2 } else { 1 };
        assert_eq!(calls.len(), distinct.len() * per_frame, "{calls:?}");
        assert!(calls.iter().all(|c| c.2));
    }
}

fn vbench_tests_clip(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/parity/clips")
        .join(name)
}
