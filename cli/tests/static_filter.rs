//! `vbench-score filter-static` and `--static-list` end to end.

use std::path::Path;

mod score_support;
use score_support::{bin, make_clip, stderr};

/// The fixture RAFT with a zero flow head: every pair has zero flow, so every video is static.
fn still_model() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/parity_raft/raft_random_still.pth")
}

#[test]
fn filter_static_writes_vbench_json_and_copies() {
    let t = tempfile::tempdir().unwrap();
    let vids = t.path().join("videos");
    std::fs::create_dir(&vids).unwrap();
    make_clip(
        &vids.join("In a still frame, a stop sign-0.mp4"),
        2,
        "128x128",
        "smptehdbars",
    );
    make_clip(&vids.join("tiny-0.mp4"), 2, "64x48", "testsrc2");
    std::fs::write(vids.join("notes.txt"), "not a video").unwrap();
    let res = t.path().join("res");
    let run = |scope: &str| {
        bin()
            .args(["filter-static", "--device", "cpu", "--filter-scope", scope])
            .arg("--videos-path")
            .arg(&vids)
            .arg("--result-path")
            .arg(&res)
            .arg("--model")
            .arg(still_model())
            .output()
            .unwrap()
    };
    // default scope: the 75 temporal_flickering prompts; `tiny` is out of scope (not tested)
    let o = run("temporal_flickering");
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(res.join("filtered_static_video.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v.as_object().unwrap().len(), 75);
    let stop = &v["In a still frame, a stop sign"];
    assert_eq!(stop["static_count"], 1);
    let p = format!("{}/In a still frame, a stop sign-0.mp4", vids.display());
    assert_eq!(stop["static_path"][0], p.as_str());
    assert!(text
        .starts_with(r#"{"In a still frame, a stop sign": {"static_count": 1, "static_path": ["#));
    assert!(res
        .join("filtered_videos/In a still frame, a stop sign-0.mp4")
        .is_file());
    assert!(stderr(&o).contains("has fewer than 5 filter results"));
    // scope `all`: `tiny` is tested and is a per-video error (too small for RAFT), exit 1
    let o = run("all");
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("too small"), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(res.join("filtered_static_video.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(v.as_object().unwrap().len(), 2);
    assert_eq!(v["tiny"]["static_count"], 0);
    // a scope that is neither keyword nor a .json file
    let o = run("nope");
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn static_list_restricts_temporal_flickering() {
    let t = tempfile::tempdir().unwrap();
    let vids = t.path().join("v");
    std::fs::create_dir(&vids).unwrap();
    make_clip(&vids.join("a dog-0.mp4"), 4, "64x48", "testsrc2");
    make_clip(&vids.join("a dog-1.mp4"), 4, "64x48", "mandelbrot");
    let list = t.path().join("filtered_static_video.json");
    std::fs::write(
        &list,
        format!(
            r#"{{"a dog": {{"static_count": 1, "static_path": ["{}/a dog-1.mp4"]}}}}"#,
            vids.display()
        ),
    )
    .unwrap();
    let out = t.path().join("out");
    let o = bin()
        .arg(&vids)
        .args(["-d", "temporal_flickering", "--name", "run", "--quiet"])
        .arg("--static-list")
        .arg(&list)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("run_eval_results.json")).unwrap())
            .unwrap();
    let recs = r["temporal_flickering"][1].as_array().unwrap();
    assert_eq!(recs.len(), 1);
    assert!(recs[0]["video_path"]
        .as_str()
        .unwrap()
        .ends_with("a dog-1.mp4"));
    std::fs::write(&list, "[1, 2]").unwrap();
    let o = bin()
        .arg(&vids)
        .args(["-d", "temporal_flickering", "--quiet", "--static-list"])
        .arg(&list)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}
