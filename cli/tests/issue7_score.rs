//! `vbench-score` end to end on issue 7's dimensions with the tiny parity networks: the values
//! must equal the fixtures' VBench values (overall_consistency / temporal_style from
//! `tests/fixtures/parity_viclip`, imaging_quality modes and human_action on GIF/PNG from
//! `tests/fixtures/parity_issue7`).

use std::path::{Path, PathBuf};

#[allow(dead_code)] // make_clip is for the other end-to-end tests
mod score_support;
use score_support::{bin, stderr};
use vbench_tests::issue7;

const TOL: f64 = 1e-4;

fn read_json(p: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap().replace("NaN", "null")).unwrap()
}

fn eval_results(dir: &Path, name: &str) -> serde_json::Value {
    read_json(&dir.join(format!("{name}_eval_results.json")))
}

fn file_name(v: &serde_json::Value) -> String {
    Path::new(v["video_path"].as_str().unwrap())
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// VBench's value for `clip` in the ViCLIP fixture's `dim` records.
fn viclip_want(dim: &str, clip: &str) -> f64 {
    let s = read_json(&issue7::viclip_fixtures().join("scores.json"));
    s[dim][1]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| file_name(r) == clip)
        .unwrap()["video_results"]
        .as_f64()
        .unwrap()
}

fn viclip_prompt(dim: &str, clip: &str) -> String {
    read_json(&issue7::viclip_fixtures().join("inputs.json"))["prompts"][dim][clip]
        .as_str()
        .unwrap()
        .to_string()
}

const CLIPS: [&str; 5] = [
    "clip_a.mp4",
    "clip_b.mp4",
    "clip_c.mp4",
    "clip_d.mp4",
    "clip_e.mp4",
];

#[test]
fn prompts_file_and_prompt_give_vbench_values_and_a_missing_prompt_fails_that_video_only() {
    let t = tempfile::tempdir().unwrap();
    let w = t.path().join("w");
    issue7::viclip_weights_dir(&w).unwrap();
    let clips: Vec<PathBuf> = CLIPS.iter().map(|c| issue7::viclip_clip(c)).collect();
    // --prompts: every clip but clip_e
    let map: serde_json::Map<String, serde_json::Value> = CLIPS[..4]
        .iter()
        .zip(&clips)
        .map(|(c, p)| {
            (
                p.to_string_lossy().into_owned(),
                viclip_prompt("overall_consistency", c).into(),
            )
        })
        .collect();
    let prompts = t.path().join("prompts.json");
    std::fs::write(&prompts, serde_json::to_string(&map).unwrap()).unwrap();
    let out = t.path().join("out");
    let o = bin()
        .args(&clips)
        .args(["-d", "overall_consistency", "--quiet", "--name", "oc"])
        .arg("--prompts")
        .arg(&prompts)
        .arg("--weights-dir")
        .arg(&w)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    let e = stderr(&o);
    // one video failed: exit 1, the reason names it and how to give a prompt
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(e.contains("clip_e.mp4 is not in the prompts file"), "{e}");
    let line = e
        .lines()
        .find(|l| l.contains("clip_e.mp4 [overall_consistency]"))
        .unwrap_or_else(|| panic!("no failure line for clip_e: {e}"));
    assert!(line.contains("--prompt"), "{line}");
    let r = eval_results(&out, "oc");
    let recs = r["overall_consistency"][1].as_array().unwrap();
    assert_eq!(recs.len(), 4);
    let mut sum = 0.0;
    for rec in recs {
        let c = file_name(rec);
        let (got, want) = (
            rec["video_results"].as_f64().unwrap(),
            viclip_want("overall_consistency", &c),
        );
        assert!((got - want).abs() <= TOL, "{c}: {got} vs VBench {want}");
        sum += want;
    }
    let agg = r["overall_consistency"][0].as_f64().unwrap();
    assert!((agg - sum / 4.0).abs() <= TOL, "aggregate {agg}");

    // --prompt: one prompt for the video
    let o = bin()
        .arg(&clips[1])
        .args(["-d", "temporal_style", "--quiet", "--name", "ts"])
        .arg("--prompt")
        .arg(viclip_prompt("temporal_style", "clip_b.mp4"))
        .arg("--weights-dir")
        .arg(&w)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let r = eval_results(&out, "ts");
    let got = r["temporal_style"][1][0]["video_results"].as_f64().unwrap();
    let want = viclip_want("temporal_style", "clip_b.mp4");
    assert!((got - want).abs() <= TOL, "{got} vs VBench {want}");
}

#[test]
fn full_info_scores_each_video_on_its_own_dimension_with_its_prompt() {
    let t = tempfile::tempdir().unwrap();
    let w = t.path().join("w");
    issue7::viclip_weights_dir(&w).unwrap();
    let vids = t.path().join("v");
    std::fs::create_dir(&vids).unwrap();
    let oc = viclip_prompt("overall_consistency", "clip_b.mp4");
    let ts = viclip_prompt("temporal_style", "clip_c.mp4");
    // VBench's standard naming: {prompt_en}-{i}.mp4
    std::fs::copy(
        issue7::viclip_clip("clip_b.mp4"),
        vids.join(format!("{oc}-0.mp4")),
    )
    .unwrap();
    std::fs::copy(
        issue7::viclip_clip("clip_c.mp4"),
        vids.join(format!("{ts}-0.mp4")),
    )
    .unwrap();
    let info = t.path().join("full_info.json");
    std::fs::write(
        &info,
        serde_json::json!([
            {"prompt_en": oc, "dimension": ["overall_consistency"]},
            {"prompt_en": ts, "dimension": ["temporal_style"]},
        ])
        .to_string(),
    )
    .unwrap();
    let out = t.path().join("out");
    let o = bin()
        .arg(&vids)
        .args([
            "-d",
            "overall_consistency,temporal_style",
            "--quiet",
            "--name",
            "fi",
        ])
        .arg("--full-info")
        .arg(&info)
        .arg("--weights-dir")
        .arg(&w)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let r = eval_results(&out, "fi");
    for (dim, clip, prompt) in [
        ("overall_consistency", "clip_b.mp4", &oc),
        ("temporal_style", "clip_c.mp4", &ts),
    ] {
        let recs = r[dim][1].as_array().unwrap();
        assert_eq!(recs.len(), 1, "{dim}: {recs:?}");
        assert_eq!(file_name(&recs[0]), format!("{prompt}-0.mp4"));
        let got = recs[0]["video_results"].as_f64().unwrap();
        let want = viclip_want(dim, clip);
        assert!((got - want).abs() <= TOL, "{dim}: {got} vs VBench {want}");
        assert!((r[dim][0].as_f64().unwrap() - want).abs() <= TOL);
    }
}

#[test]
fn imaging_quality_mode_flag_selects_vbenchs_preprocessing() {
    let t = tempfile::tempdir().unwrap();
    let w = t.path().join("w");
    issue7::musiq_weights_dir(&w).unwrap();
    let clip = issue7::fixtures().join("clips/clip_big.mp4");
    let expected = read_json(&issue7::fixtures().join("scores.json"));
    let out = t.path().join("out");
    let mut values = Vec::new();
    for mode in ["longer", "shorter", "shorter_centercrop", "None"] {
        let name = format!("iq_{mode}");
        let o = bin()
            .arg(&clip)
            .args(["-d", "imaging_quality", "--quiet", "--name", &name])
            .args(["--imaging-quality-mode", mode])
            .arg("--weights-dir")
            .arg(&w)
            .arg("-o")
            .arg(&out)
            .output()
            .unwrap();
        assert!(o.status.success(), "{mode}: {}", stderr(&o));
        let got = eval_results(&out, &name)["imaging_quality"][1][0]["video_results"]
            .as_f64()
            .unwrap();
        let want = expected["imaging_quality"][mode][1][0]["video_results"]
            .as_f64()
            .unwrap();
        assert!((got - want).abs() <= TOL, "{mode}: {got} vs VBench {want}");
        values.push(got);
    }
    // the default is VBench's 'longer'
    let o = bin()
        .arg(&clip)
        .args(["-d", "imaging_quality", "--quiet", "--name", "iq_default"])
        .arg("--weights-dir")
        .arg(&w)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let got = eval_results(&out, "iq_default")["imaging_quality"][1][0]["video_results"]
        .as_f64()
        .unwrap();
    assert_eq!(got, values[0]);
    assert!(values[1] != values[0] && values[2] != values[1] && values[3] != values[2]);
    // an unknown mode is an option error (exit 2) naming the choices
    let o = bin()
        .arg(&clip)
        .args(["-d", "imaging_quality", "--imaging-quality-mode", "widest"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("shorter_centercrop"), "{}", stderr(&o));
    // documented in --help
    let o = bin().arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&o.stdout);
    assert!(help.contains("--imaging-quality-mode"), "{help}");
}

#[test]
fn human_action_scores_gif_and_png_like_vbench() {
    let t = tempfile::tempdir().unwrap();
    let w = t.path().join("w");
    issue7::umt_weights_dir(&w).unwrap();
    let vids = t.path().join("clips");
    std::fs::create_dir(&vids).unwrap();
    let expected = read_json(&issue7::fixtures().join("scores.json"));
    let want = expected["human_action"][1].as_array().unwrap();
    for r in want {
        let f = file_name(r);
        std::fs::copy(issue7::fixtures().join("clips").join(&f), vids.join(&f)).unwrap();
    }
    let out = t.path().join("out");
    let o = bin()
        .arg(&vids)
        .args(["-d", "human_action", "--quiet", "--name", "ha"])
        .arg("--weights-dir")
        .arg(&w)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let r = eval_results(&out, "ha");
    let got = r["human_action"][1].as_array().unwrap();
    assert_eq!(got.len(), want.len(), "the directory's .gif and .png files");
    for g in got {
        let f = file_name(g);
        let wr = want.iter().find(|x| file_name(x) == f).unwrap();
        assert_eq!(g["video_results"], wr["video_results"], "{f}");
        assert_eq!(g["cor_num_per_video"], wr["cor_num_per_video"], "{f}");
    }
    assert_eq!(r["human_action"][0], expected["human_action"][0]);
}
