//! `vbench-score` end to end on clips the tests make with the ffmpeg CLI.

use std::path::{Path, PathBuf};
use std::process::Command;

mod score_support;
use score_support::{bin, make_clip, stderr};

fn eval_results(dir: &Path, name: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join(format!("{name}_eval_results.json"))).unwrap();
    serde_json::from_str(&text.replace("NaN", "null")).unwrap()
}

fn weights() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    vbench_tests::fixture_weights_dir(d.path()).unwrap();
    d
}

#[test]
fn flickering_needs_no_weights_and_writes_vbench_shape() {
    let t = tempfile::tempdir().unwrap();
    let vids = t.path().join("v");
    std::fs::create_dir(&vids).unwrap();
    make_clip(&vids.join("a dog-0.mp4"), 6, "64x48", "testsrc2");
    make_clip(&vids.join("a dog-1.mp4"), 5, "64x48", "mandelbrot");
    let out = t.path().join("out");
    let o = bin()
        .arg(&vids)
        .args([
            "-d",
            "temporal_flickering",
            "--name",
            "run",
            "--quiet",
            "--json",
            "-o",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let r = eval_results(&out, "run");
    let dim = &r["temporal_flickering"];
    let agg = dim[0].as_f64().unwrap();
    assert!(agg > 0.0 && agg <= 1.0);
    let recs = dim[1].as_array().unwrap();
    assert_eq!(recs.len(), 2);
    assert!(recs[0]["video_path"]
        .as_str()
        .unwrap()
        .ends_with("a dog-0.mp4"));
    assert!(recs[0]["video_results"].as_f64().is_some());
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(json["dimensions"][0]["dimension"], "temporal_flickering");
    assert!(stderr(&o).contains("temporal_flickering"));
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("run_summary.json")).unwrap())
            .unwrap();
    assert_eq!(s["environment"]["tool"], "vbench-rs");
}

#[test]
fn all_five_dimensions_with_weights_and_missing_weights_are_skipped_with_a_command() {
    let t = tempfile::tempdir().unwrap();
    let clip = t.path().join("a beach, oil painting-0.mp4");
    make_clip(&clip, 4, "96x64", "testsrc2");
    let w = weights();
    let out = t.path().join("out");
    let o = bin()
        .arg(&clip)
        .args([
            "--name",
            "all",
            "--quiet",
            "--batch-size",
            "3",
            "--weights-dir",
        ])
        .arg(w.path())
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let r = eval_results(&out, "all");
    for d in [
        "subject_consistency",
        "background_consistency",
        "aesthetic_quality",
        "appearance_style",
        "temporal_flickering",
    ] {
        assert_eq!(r[d][1].as_array().unwrap().len(), 1, "{d}");
    }
    // the style came from the prompt in the file name
    assert_eq!(
        r["appearance_style"][1][0]["frame_results"]
            .as_array()
            .unwrap()
            .len(),
        4
    );

    // without weights: skipped, named, with the fetch command; flickering still scored
    let o = bin()
        .arg(&clip)
        .args(["--name", "now", "--quiet", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("skipped subject_consistency"), "{e}");
    assert!(
        e.contains("vbench-score weights download subject_consistency"),
        "{e}"
    );
    let r = eval_results(&out, "now");
    assert!(r.get("temporal_flickering").is_some());
    assert!(r.get("subject_consistency").is_none());
}

#[test]
fn bad_inputs_get_one_line_reasons_and_others_are_still_scored() {
    let t = tempfile::tempdir().unwrap();
    let good = t.path().join("good-0.mp4");
    make_clip(&good, 4, "64x48", "testsrc2");
    let one = t.path().join("one-0.mp4");
    make_clip(&one, 1, "64x48", "testsrc2");
    let empty = t.path().join("empty.mp4");
    std::fs::write(&empty, b"").unwrap();
    let truncated = t.path().join("truncated.mp4");
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 3]).unwrap();
    let audio = t.path().join("audio.mp4");
    let st = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "sine=duration=0.5",
            "-c:a",
            "aac",
        ])
        .arg(&audio)
        .status()
        .unwrap();
    assert!(st.success());
    let missing = t.path().join("missing.mp4");
    let w = weights();
    let out = t.path().join("out");
    let o = bin()
        .args([&good, &one, &empty, &truncated, &audio, &missing])
        .args([
            "-d",
            "subject_consistency,temporal_flickering,appearance_style",
            "--quiet",
            "--name",
            "bad",
            "--weights-dir",
        ])
        .arg(w.path())
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("empty.mp4 [subject_consistency]: empty file"),
        "{e}"
    );
    assert!(
        e.contains("missing.mp4 [subject_consistency]: file not found"),
        "{e}"
    );
    assert!(
        e.contains("audio.mp4 [subject_consistency]: no video stream"),
        "{e}"
    );
    assert!(e.contains("truncated.mp4 [subject_consistency]"), "{e}");
    assert!(
        e.contains(
            "one-0.mp4 [subject_consistency]: subject_consistency compares consecutive frames"
        ),
        "{e}"
    );
    assert!(
        e.contains("good-0.mp4 [appearance_style]: appearance_style needs a style phrase"),
        "{e}"
    );
    assert!(!e.contains("panicked"), "{e}");
    let r = eval_results(&out, "bad");
    let subj = r["subject_consistency"][1].as_array().unwrap();
    assert_eq!(subj.len(), 1, "only the good video is in the aggregate");
    // a one-frame video gives NaN in temporal_flickering, as in VBench
    let text = std::fs::read_to_string(out.join("bad_eval_results.json")).unwrap();
    assert!(text.contains("NaN"));
}

#[test]
fn fatal_option_errors_exit_2() {
    let t = tempfile::tempdir().unwrap();
    let clip = t.path().join("x-0.mp4");
    make_clip(&clip, 2, "64x48", "testsrc2");
    let run = |args: &[&str]| bin().arg(&clip).args(args).output().unwrap();
    let o = run(&["-d", "no_such_dim"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("unknown dimension `no_such_dim`"));
    let o = run(&["--prompts", "/nonexistent/prompts.json"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("cannot read prompts file"));
    let bad = t.path().join("p.json");
    std::fs::write(&bad, "[1,2]").unwrap();
    let o = run(&["--prompts", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let emptydir = t.path().join("none");
    std::fs::create_dir(&emptydir).unwrap();
    let o = bin().arg(&emptydir).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no videos in this directory"));
}

#[test]
fn resume_after_a_killed_run_scores_every_video_once() {
    let t = tempfile::tempdir().unwrap();
    let vids = t.path().join("v");
    std::fs::create_dir(&vids).unwrap();
    for i in 0..6 {
        make_clip(
            &vids.join(format!("clip {i}-0.mp4")),
            12,
            "160x96",
            "testsrc2",
        );
    }
    let w = weights();
    let out: PathBuf = t.path().join("out");
    let args = |c: &mut Command| {
        c.arg(&vids)
            .args([
                "-d",
                "subject_consistency,background_consistency,temporal_flickering",
                "--quiet",
                "--name",
                "r",
                "--batch-size",
                "4",
                "--weights-dir",
            ])
            .arg(w.path())
            .arg("-o")
            .arg(&out);
    };
    let mut c = bin();
    args(&mut c);
    let mut child = c
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let jsonl = out.join("r_per_video.jsonl");
    let start = std::time::Instant::now();
    loop {
        // the environment header, then the first finished video
        let lines = std::fs::read_to_string(&jsonl)
            .map(|s| s.lines().count())
            .unwrap_or(0);
        if lines >= 2 || start.elapsed().as_secs() > 120 {
            break;
        }
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let _ = child.kill(); // SIGKILL
    let _ = child.wait();
    let video_lines = |text: &str| {
        text.lines()
            .filter(|l| l.contains("\"video_path\""))
            .count()
    };
    let before = video_lines(&std::fs::read_to_string(&jsonl).unwrap_or_default());
    assert!(
        before < 6,
        "the run was killed before it finished ({before} lines)"
    );
    let mut c = bin();
    args(&mut c);
    let o = c.arg("--resume").output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let r = eval_results(&out, "r");
    for d in [
        "subject_consistency",
        "background_consistency",
        "temporal_flickering",
    ] {
        let recs = r[d][1].as_array().unwrap();
        let mut paths: Vec<&str> = recs
            .iter()
            .map(|x| x["video_path"].as_str().unwrap())
            .collect();
        paths.sort();
        paths.dedup();
        assert_eq!(paths.len(), 6, "{d}: every video exactly once");
        assert_eq!(recs.len(), 6, "{d}");
    }
    let text = std::fs::read_to_string(&jsonl).unwrap();
    assert_eq!(
        video_lines(&text),
        6,
        "videos finished before the kill were not scored again"
    );
    // each session, the killed one and the resumed one, stamped its environment
    assert_eq!(
        text.lines()
            .filter(|l| l.contains("\"environment\"") && !l.contains("\"video_path\""))
            .count(),
        2
    );
}

#[test]
fn full_info_restricts_dimensions_per_video_and_supplies_the_style() {
    let t = tempfile::tempdir().unwrap();
    let vids = t.path().join("v");
    std::fs::create_dir(&vids).unwrap();
    // VBench's standard naming: {prompt_en}-{i}.mp4
    make_clip(&vids.join("A beach at dusk-0.mp4"), 3, "96x64", "testsrc2");
    make_clip(
        &vids.join("A beach at dusk-1.mp4"),
        3,
        "96x64",
        "mandelbrot",
    );
    make_clip(
        &vids.join("In a still frame, a stop sign-0.mp4"),
        3,
        "96x64",
        "testsrc2",
    );
    make_clip(&vids.join("not in the suite-0.mp4"), 3, "96x64", "testsrc2");
    let info = t.path().join("full_info.json");
    std::fs::write(
        &info,
        r#"[
 {"prompt_en": "In a still frame, a stop sign", "dimension": ["temporal_flickering"]},
 {"prompt_en": "A beach at dusk", "dimension": ["appearance_style"],
  "auxiliary_info": {"appearance_style": {"appearance_style": "watercolor painting"}}}
]"#,
    )
    .unwrap();
    let w = weights();
    let out = t.path().join("out");
    let o = bin()
        .arg(&vids)
        .args([
            "-d",
            "appearance_style,temporal_flickering",
            "--quiet",
            "--name",
            "fi",
            "--full-info",
        ])
        .arg(&info)
        .arg("--weights-dir")
        .arg(w.path())
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("not in the suite-0.mp4 matches no record"),
        "{}",
        stderr(&o)
    );
    let r = eval_results(&out, "fi");
    let names = |d: &str| -> Vec<String> {
        r[d][1]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| {
                Path::new(x["video_path"].as_str().unwrap())
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect()
    };
    assert_eq!(
        names("appearance_style"),
        ["A beach at dusk-0.mp4", "A beach at dusk-1.mp4"]
    );
    assert_eq!(
        names("temporal_flickering"),
        ["In a still frame, a stop sign-0.mp4"]
    );
}

#[test]
fn a_users_file_with_another_hash_is_used_with_a_warning() {
    let t = tempfile::tempdir().unwrap();
    let clip = t.path().join("x, oil painting-0.mp4");
    make_clip(&clip, 3, "96x64", "testsrc2");
    // the built-in manifest with a (wrong) sha256 for the aesthetic head
    let mut m: serde_json::Value =
        serde_json::from_str(include_str!("../../weights/data/manifest.json")).unwrap();
    for e in m["entries"].as_array_mut().unwrap() {
        if e["id"] == "laion-aesthetic-head" {
            e["files"][0]["sha256"] = serde_json::Value::String("00".repeat(32));
        }
    }
    let manifest = t.path().join("manifest.json");
    std::fs::write(&manifest, m.to_string()).unwrap();
    let w = weights();
    let out = t.path().join("out");
    let o = bin()
        .arg(&clip)
        .args([
            "-d",
            "aesthetic_quality",
            "--quiet",
            "--name",
            "h",
            "--weights-manifest",
        ])
        .arg(&manifest)
        .arg("--weights-dir")
        .arg(w.path())
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("warning:") && e.contains("differs from the manifest's 0000"),
        "{e}"
    );
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("h_summary.json")).unwrap())
            .unwrap();
    let head = s["environment"]["weights"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["entry"] == "laion-aesthetic-head")
        .unwrap();
    assert_eq!(head["hash_mismatch"], true);
    assert_eq!(head["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(
        eval_results(&out, "h")["aesthetic_quality"][1]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}
