//! `vbench-score` with the four GRiT dimensions end to end, against VBench 0.1.5's own
//! `object_class`, `multiple_objects`, `color` and `spatial_relationship` run on the same clips
//! with the same tiny GRiT (`tests/fixtures/parity_grit/dimension_<dim>.json`, written by
//! `tools/parity/make_fixtures_grit.py`): decode, frame sampling, GRiT, BERT decode, matching
//! rules, per-video records and aggregates, from a `--full-info` file and a weights dir.

#[allow(dead_code)]
mod score_support;

use std::path::{Path, PathBuf};

use score_support::{bin, stderr};
use serde_json::Value;

fn fixture() -> PathBuf {
    vbench_tests::grit::fixtures()
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A `--weights-dir` with the tiny GRiT under its real file name and the fixture's tokenizer.
fn weights() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let g = d.path().join("OpenGVLab/VBench_Used_Models");
    std::fs::create_dir_all(&g).unwrap();
    std::os::unix::fs::symlink(
        fixture().join("model.safetensors"),
        g.join("grit_b_densecap_objectdet.pth"),
    )
    .unwrap();
    std::fs::write(
        g.join("grit_b_densecap_objectdet.config.json"),
        serde_json::to_string(&vbench_tests::grit::tiny_config()).unwrap(),
    )
    .unwrap();
    let b = d.path().join("google-bert/bert-base-uncased");
    std::fs::create_dir_all(&b).unwrap();
    for f in ["tokenizer.json", "vocab.txt"] {
        std::os::unix::fs::symlink(fixture().join(f), b.join(f)).unwrap();
    }
    d
}

/// Runs one dimension on the fixture's records, named `{prompt}-{i}.mp4` as VBench's standard
/// mode names them, and returns (exit code, our `[aggregate, records]`, VBench's, the video
/// name each VBench record stands for).
fn run(dim: &str) -> (Option<i32>, Value, Value, Vec<String>, String) {
    let fx = json(&fixture().join(format!("dimension_{dim}.json")));
    let t = tempfile::tempdir().unwrap();
    let vids = t.path().join("v");
    std::fs::create_dir(&vids).unwrap();
    let mut names = Vec::new();
    for rec in fx["records"].as_array().unwrap() {
        let prompt = rec["prompt_en"].as_str().unwrap();
        for (i, v) in rec["video_list"].as_array().unwrap().iter().enumerate() {
            let name = format!("{prompt}-{i}.mp4");
            std::fs::copy(fixture().join(v.as_str().unwrap()), vids.join(&name)).unwrap();
            names.push(name);
        }
    }
    let info = t.path().join("full_info.json");
    std::fs::write(&info, fx["records"].to_string()).unwrap();
    let w = weights();
    let out = t.path().join("out");
    let o = bin()
        .arg(&vids)
        .args(["-d", dim, "--device", "cpu", "--quiet", "--name", "g"])
        .arg("--full-info")
        .arg(&info)
        .arg("--weights-dir")
        .arg(w.path())
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    let err = stderr(&o);
    assert!(!err.contains(&format!("skipped {dim}")), "{err}");
    let ours = json(&out.join("g_eval_results.json"))[dim].clone();
    eprintln!("{err}");
    (o.status.code(), ours, fx[dim].clone(), names, err)
}

/// Our record for the video `name`.
fn ours_for<'a>(ours: &'a Value, name: &str) -> &'a Value {
    ours[1]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| {
            Path::new(r["video_path"].as_str().unwrap())
                .file_name()
                .is_some_and(|f| f == name)
        })
        .unwrap_or_else(|| panic!("no record for {name} in {ours}"))
}

fn assert_close(a: &Value, b: &Value, what: &str) {
    let (x, y) = (a.as_f64().unwrap(), b.as_f64().unwrap());
    assert!((x - y).abs() <= 1e-12, "{what}: {x} vs {y}");
}

fn check_frame_counting(dim: &str) {
    let (code, ours, vbench, names, _) = run(dim);
    assert_eq!(code, Some(0), "{dim}");
    let recs = vbench[1].as_array().unwrap();
    assert_eq!(recs.len(), names.len());
    for (want, name) in recs.iter().zip(&names) {
        let got = ours_for(&ours, name);
        assert_close(&got["video_results"], &want["video_results"], name);
        assert_eq!(
            got["success_frame_count"], want["success_frame_count"],
            "{name}"
        );
        assert_eq!(got["frame_count"], want["frame_count"], "{name}");
    }
    assert_close(&ours[0], &vbench[0], &format!("{dim} aggregate"));
}

#[test]
fn object_class_equals_vbench() {
    check_frame_counting("object_class");
}

#[test]
fn multiple_objects_equals_vbench() {
    check_frame_counting("multiple_objects");
}

#[test]
fn spatial_relationship_equals_vbench() {
    let (code, ours, vbench, names, _) = run("spatial_relationship");
    assert_eq!(code, Some(0));
    for (want, name) in vbench[1].as_array().unwrap().iter().zip(&names) {
        let got = ours_for(&ours, name);
        assert_close(&got["video_results"], &want["video_results"], name);
        let (g, w) = (
            got["frame_results"].as_array().unwrap(),
            want["frame_results"].as_array().unwrap(),
        );
        assert_eq!(g.len(), w.len());
        for (a, b) in g.iter().zip(w) {
            // Python's int 0 / 1 stays an int, a ratio a float
            assert_eq!(a.is_i64(), b.is_i64(), "{name}: {a} vs {b}");
            assert_close(a, b, name);
        }
    }
    assert_close(&ours[0], &vbench[0], "spatial_relationship aggregate");
}

/// VBench raises ZeroDivisionError on these clips: no frame's instance 0 is the prompt's
/// object, so every video is omitted and no mean exists. We give each video that reason and
/// no aggregate, instead of a crash or a number.
#[test]
fn color_with_no_qualifying_frame_gives_no_number() {
    let (code, ours, vbench, names, err) = run("color");
    assert!(vbench["error"]
        .as_str()
        .unwrap()
        .contains("ZeroDivisionError"));
    assert_eq!(code, Some(1), "{err}");
    assert!(!ours[0].is_number(), "no aggregate expected, got {ours}");
    assert!(ours[1].as_array().is_none_or(|r| r.is_empty()), "{ours}");
    assert_eq!(names.len(), 8);
    assert_eq!(
        err.matches("so VBench leaves this video out of color's results and mean")
            .count(),
        8,
        "{err}"
    );
}
