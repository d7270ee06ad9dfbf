//! Drives the real `enhance-video-prompt` binary, offline and against a local chat-completions
//! server (no network).

mod enhance_support;

use std::path::Path;
use std::time::Duration;

use enhance_support::*;

const BIN: &str = env!("CARGO_BIN_EXE_enhance-video-prompt");

fn mock_env(m: &MockLlm) -> Vec<(&'static str, String)> {
    vec![
        ("OPENAI_API_KEY", KEY.to_string()),
        ("OPENAI_BASE_URL", m.base_url.clone()),
    ]
}

fn run_mock(m: &MockLlm, cwd: &Path, args: &[&str], stdin: Option<&[u8]>) -> std::process::Output {
    let env = mock_env(m);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    run_bin(BIN, cwd, args, &env, stdin)
}

#[test]
fn offline_backend_follows_the_guide_and_writes_the_trace() {
    let d = tempfile::tempdir().unwrap();
    let o = run_bin(
        BIN,
        d.path(),
        &["-", "--video-mode"],
        &[],
        Some(b"a cat walks on a beach\n"),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("offline"),
        "notice expected: {}",
        stderr(&o)
    );
    let trace = only_trace(&d.path().join("output/video_prompt_traces"));
    let files = names(&trace);
    for f in [
        "00_original_prompt.txt",
        "01_agent1_iteration_1.txt",
        "02_agent2_iteration_1.txt",
        "05_final_enhanced_prompt.txt",
        "06_videodirectorgpt_plan.json",
        "prompt_trace_summary.json",
    ] {
        assert!(files.contains(&f.to_string()), "{f} missing: {files:?}");
    }
    let fin = std::fs::read_to_string(trace.join("05_final_enhanced_prompt.txt")).unwrap();
    let lower = fin.to_lowercase();
    // one-sentence screenplay: camera, subject/action, setting, style, mood, lighting, palette, lens, continuity
    assert!(
        lower.contains("shot") || lower.contains("close-up"),
        "no framing in {fin}"
    );
    for needle in [
        "a cat walks on a beach",
        "style",
        "mood",
        "palette",
        "depth of field",
        "lens",
        "continuous",
    ] {
        assert!(lower.contains(needle), "{needle:?} not in {fin}");
    }
    let s = summary(&trace);
    assert_eq!(s["status"], "completed");
    assert_eq!(s["backend"], "offline");
    assert_eq!(s["creative_model"], "offline");
    assert!(s["notices"][0].as_str().unwrap().contains("offline"));
    assert_eq!(s["mode"], "text-to-video");
    assert_eq!(s["stop_reason"], "threshold");
    assert_eq!(s["total_iterations"], 1);
    assert!(
        s["initial_assessment"]["scores"]["overall"]
            .as_f64()
            .unwrap()
            < 75.0
    );
    let fs = &s["final_score"];
    for k in VIDEO_KEYS {
        assert!(fs[k].as_f64().is_some(), "final_score.{k}");
    }
    assert!(fs["overall"].as_f64().unwrap() >= 85.0);
    assert_eq!(
        s["iterations"][0]["agent1_output"].as_str().unwrap().trim(),
        fin.trim()
    );
    assert!(!s["videodirectorgpt_plan"]["shots"]
        .as_array()
        .unwrap()
        .is_empty());
    let plan: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(trace.join("06_videodirectorgpt_plan.json")).unwrap(),
    )
    .unwrap();
    assert!(!plan["consistency_groups"].as_array().unwrap().is_empty());
    assert!(plan["scene_dependencies"].is_array());
    assert!(plan["narrative_flow"].is_string());
    assert_eq!(s["cost"]["total_cost_usd"], 0.0);
    let out = stdout(&o);
    assert!(
        out.contains("Final prompt:") && out.contains("Compl") && out.contains("Total:"),
        "{out}"
    );
}

#[test]
fn offline_initial_assessment_skips_a_good_prompt() {
    let d = tempfile::tempdir().unwrap();
    let good = "Wide establishing shot, slow steady tracking shot: a cat walks on a beach, pausing as the moment settles, cinematic film style, serene mood; golden hour backlight with soft rim light, warm amber and teal color palette, shallow depth of field on a 35mm lens, subtle motion, continuous single take with consistent subject and lighting throughout.";
    std::fs::write(d.path().join("p.txt"), good).unwrap();
    let o = run_bin(
        BIN,
        d.path(),
        &["p.txt", "--llm", "offline", "--output-dir", "traces"],
        &[],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let trace = only_trace(&d.path().join("traces"));
    let s = summary(&trace);
    assert_eq!(s["stop_reason"], "initial_assessment");
    assert_eq!(s["total_iterations"], 0);
    assert!(!trace.join("01_agent1_iteration_1.txt").exists());
    assert_eq!(
        std::fs::read_to_string(trace.join("05_final_enhanced_prompt.txt"))
            .unwrap()
            .trim(),
        good
    );
}

#[test]
fn llm_threshold_stop_costs_and_no_key_in_files() {
    let m = MockLlm::start();
    m.push(
        "prompt_engineer",
        [video_critique(70.0), video_critique(90.0)],
    );
    let d = tempfile::tempdir().unwrap();
    let o = run_mock(
        &m,
        d.path(),
        &["-", "--output-dir", "my_traces", "--verbose"],
        Some(b"a cat on a beach"),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let trace = only_trace(&d.path().join("my_traces"));
    let s = summary(&trace);
    assert_eq!(s["backend"], "openai-compatible");
    assert_eq!(s["stop_reason"], "threshold");
    assert_eq!(s["total_iterations"], 2);
    assert_eq!(s["final_score"]["overall"], 90.0);
    for f in [
        "01_agent1_iteration_1.txt",
        "02_agent2_iteration_1.txt",
        "03_agent1_iteration_2.txt",
        "04_agent2_iteration_2.txt",
    ] {
        assert!(trace.join(f).exists(), "{f}");
    }
    assert!(
        std::fs::read_to_string(trace.join("02_agent2_iteration_1.txt"))
            .unwrap()
            .contains("overall (weighted): 70.0")
    );
    assert_eq!(
        std::fs::read_to_string(trace.join("01_agent1_iteration_1.txt"))
            .unwrap()
            .trim(),
        DEFAULT_DIRECTOR
    );
    // 2 director + 2 engineer + 1 plan calls, 1000 in / 500 out each at gpt-4-turbo's $10/$30 per 1M
    assert_eq!(s["cost"]["calls"], 5);
    assert_eq!(s["cost"]["total_tokens"], 7500);
    assert!(
        (s["cost"]["total_cost_usd"].as_f64().unwrap() - 0.125).abs() < 1e-9,
        "{}",
        s["cost"]
    );
    assert!((s["calls"][0]["cost_usd"].as_f64().unwrap() - 0.025).abs() < 1e-9);
    assert!(stdout(&o).contains("$0.125000"), "{}", stdout(&o));
    // the plan came from the LLM and was validated
    assert_eq!(s["videodirectorgpt_plan"]["shots"][1]["shot_id"], "S2");
    // wire protocol: bearer key, JSON mode for the critic, the original prompt sent to the director
    let eng = m.requests_for("prompt_engineer");
    assert_eq!(eng[0].body["response_format"]["type"], "json_object");
    assert_eq!(
        eng[0].authorization.as_deref(),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(eng[0].body["model"], "gpt-4-turbo");
    let dir = m.requests_for("director");
    assert!(dir[0].body["messages"][1]["content"]
        .as_str()
        .unwrap()
        .contains("a cat on a beach"));
    assert!(dir[1].body["messages"][1]["content"]
        .as_str()
        .unwrap()
        .contains("Add lighting and a camera move."));
    assert_key_in_no_file(d.path());
    assert!(!stdout(&o).contains(KEY) && !stderr(&o).contains(KEY));
}

#[test]
fn llm_convergence_stop() {
    let m = MockLlm::start();
    m.push(
        "prompt_engineer",
        [
            video_critique(60.0),
            video_critique(60.5),
            video_critique(99.0),
        ],
    );
    let d = tempfile::tempdir().unwrap();
    let o = run_mock(
        &m,
        d.path(),
        &["-", "--output-dir", "t", "--max-iterations", "3"],
        Some(b"a dog"),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let s = summary(&only_trace(&d.path().join("t")));
    assert_eq!(s["stop_reason"], "converged");
    assert_eq!(s["total_iterations"], 2);
    assert_eq!(s["final_score"]["overall"], 60.5);
}

#[test]
fn llm_max_iterations_and_numbering_beyond_the_spec() {
    let m = MockLlm::start();
    m.push(
        "prompt_engineer",
        [
            video_critique(50.0),
            video_critique(60.0),
            video_critique(70.0),
            video_critique(80.0),
        ],
    );
    m.push(
        "director",
        [
            Reply::Chat("p1".into()),
            Reply::Chat("p2".into()),
            Reply::Chat("p3".into()),
            Reply::Chat("p4".into()),
        ],
    );
    let d = tempfile::tempdir().unwrap();
    let o = run_mock(
        &m,
        d.path(),
        &[
            "-",
            "--output-dir",
            "t",
            "--max-iterations",
            "4",
            "--threshold",
            "95",
        ],
        Some(b"a dog"),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let trace = only_trace(&d.path().join("t"));
    let s = summary(&trace);
    assert_eq!(s["stop_reason"], "max_iterations");
    assert_eq!(s["total_iterations"], 4);
    let files = names(&trace);
    for f in [
        "05_agent1_iteration_3.txt",
        "06_agent2_iteration_3.txt",
        "07_agent1_iteration_4.txt",
        "08_agent2_iteration_4.txt",
        "05_final_enhanced_prompt.txt",
        "06_videodirectorgpt_plan.json",
    ] {
        assert!(files.contains(&f.to_string()), "{f}: {files:?}");
    }
    assert_eq!(
        std::fs::read_to_string(trace.join("05_final_enhanced_prompt.txt"))
            .unwrap()
            .trim(),
        "p4"
    );
}

#[test]
fn retries_429_retry_after_500_and_timeout() {
    let m = MockLlm::start();
    m.push(
        "director",
        [
            Reply::Status {
                code: 429,
                headers: vec![("Retry-After".into(), "1".into())],
                body: r#"{"error":{"message":"slow down","type":"rate_limit_error"}}"#.into(),
            },
            status(500, r#"{"error":{"message":"boom"}}"#),
            Reply::Hang(Duration::from_secs(4)),
        ],
    );
    let d = tempfile::tempdir().unwrap();
    let o = run_mock(
        &m,
        d.path(),
        &[
            "-",
            "--output-dir",
            "t",
            "--llm-timeout",
            "1",
            "--llm-backoff-ms",
            "10",
            "--max-iterations",
            "1",
        ],
        Some(b"a dog"),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let reqs = m.requests_for("director");
    assert_eq!(reqs.len(), 4);
    let gap = reqs[1].at.duration_since(reqs[0].at);
    assert!(
        gap >= Duration::from_millis(950),
        "Retry-After: 1 not honoured, retried after {gap:?}"
    );
    let s = summary(&only_trace(&d.path().join("t")));
    assert_eq!(s["calls"][0]["attempts"], 4);
    assert_eq!(s["calls"][0]["step"], "agent1_iteration_1");
}

#[test]
fn clear_error_after_the_last_retry_keeps_a_failed_summary() {
    let m = MockLlm::start();
    m.push("director", (0..5).map(|_| status(503, "overloaded")));
    let d = tempfile::tempdir().unwrap();
    let o = run_mock(
        &m,
        d.path(),
        &[
            "-",
            "--output-dir",
            "t",
            "--llm-retries",
            "2",
            "--llm-backoff-ms",
            "1",
        ],
        Some(b"a dog"),
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("gave up after 3 attempt(s)") && err.contains("HTTP 503"),
        "{err}"
    );
    assert_eq!(m.requests_for("director").len(), 3);
    let trace = only_trace(&d.path().join("t"));
    let s = summary(&trace);
    assert_eq!(s["status"], "failed");
    assert!(s["error"].as_str().unwrap().contains("gave up"));
    assert!(trace.join("00_original_prompt.txt").exists());
    assert_key_in_no_file(d.path());
}

#[test]
fn unauthorized_is_not_retried() {
    let m = MockLlm::start();
    m.push(
        "director",
        [status(401, r#"{"error":{"message":"bad key"}}"#)],
    );
    let d = tempfile::tempdir().unwrap();
    let o = run_mock(&m, d.path(), &["-", "--output-dir", "t"], Some(b"a dog"));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("HTTP 401"), "{}", stderr(&o));
    assert_eq!(m.requests_for("director").len(), 1);
}

#[test]
fn malformed_critique_is_retried_once_with_the_parse_error() {
    let m = MockLlm::start();
    m.push(
        "prompt_engineer",
        [
            Reply::Chat("I think it is great!".into()),
            video_critique(90.0),
        ],
    );
    let d = tempfile::tempdir().unwrap();
    let o = run_mock(&m, d.path(), &["-", "--output-dir", "t"], Some(b"a dog"));
    assert!(o.status.success(), "{}", stderr(&o));
    let s = summary(&only_trace(&d.path().join("t")));
    assert_eq!(s["calls"][1]["malformed_retries"], 1);
    let eng = m.requests_for("prompt_engineer");
    let msgs = eng[1].body["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 4);
    assert!(msgs[3]["content"]
        .as_str()
        .unwrap()
        .contains("could not be used"));
    // the retried call's tokens are counted too
    assert_eq!(s["calls"][1]["prompt_tokens"], 2000);
}

#[test]
fn malformed_critique_twice_is_reported() {
    let m = MockLlm::start();
    m.push(
        "prompt_engineer",
        [
            Reply::Chat("nope".into()),
            Reply::Chat(r#"{"scores":{"completeness":50}, "feedback":"x"}"#.into()),
        ],
    );
    let d = tempfile::tempdir().unwrap();
    let o = run_mock(&m, d.path(), &["-", "--output-dir", "t"], Some(b"a dog"));
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("not valid JSON object even after one retry") && err.contains("specificity"),
        "{err}"
    );
    let s = summary(&only_trace(&d.path().join("t")));
    assert_eq!(s["status"], "failed");
}

#[test]
fn server_without_json_mode_still_works() {
    let m = MockLlm::start();
    let fenced = format!(
        "Here is my review:\n```json\n{}\n```",
        scores_json([88.0; 6], VIDEO_KEYS)
    );
    m.push(
        "prompt_engineer",
        [
            status(
                400,
                r#"{"error":{"message":"Unrecognized request argument: response_format"}}"#,
            ),
            Reply::ChatNoUsage(fenced),
        ],
    );
    let d = tempfile::tempdir().unwrap();
    let o = run_mock(&m, d.path(), &["-", "--output-dir", "t"], Some(b"a dog"));
    assert!(o.status.success(), "{}", stderr(&o));
    let eng = m.requests_for("prompt_engineer");
    assert!(eng[0].body.get("response_format").is_some());
    assert!(eng[1].body.get("response_format").is_none());
    let s = summary(&only_trace(&d.path().join("t")));
    assert_eq!(s["final_score"]["overall"], 88.0);
    assert_eq!(s["calls"][1]["json_mode"], false);
    assert_eq!(s["calls"][1]["usage_reported"], false);
    // the plan request afterwards no longer asks for JSON mode either
    assert!(m.requests_for("videodirectorgpt_planner")[0]
        .body
        .get("response_format")
        .is_none());
}

#[test]
fn key_and_base_url_from_dotenv_and_price_override() {
    let m = MockLlm::start();
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join(".env"),
        format!("OPENAI_API_KEY={KEY}\nOPENAI_BASE_URL={}\n", m.base_url),
    )
    .unwrap();
    std::fs::write(
        d.path().join("prices.json"),
        r#"{"models":{"local-llm":{"input_per_1m":1.0,"output_per_1m":2.0}}}"#,
    )
    .unwrap();
    let o = run_bin(
        BIN,
        d.path(),
        &[
            "-",
            "--output-dir",
            "t",
            "--creative-model",
            "local-llm",
            "--critique-model",
            "local-llm",
            "--prices",
            "prices.json",
        ],
        &[],
        Some(b"a dog"),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let s = summary(&only_trace(&d.path().join("t")));
    assert_eq!(s["creative_model"], "local-llm");
    // 3 calls (director, engineer at 90 >= 85, plan) x (1000 x $1 + 500 x $2) / 1M
    assert!(
        (s["cost"]["total_cost_usd"].as_f64().unwrap() - 0.006).abs() < 1e-9,
        "{}",
        s["cost"]
    );
    assert_eq!(
        m.requests_for("director")[0].authorization.as_deref(),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_key_in_no_file(&d.path().join("t"));
}

#[test]
fn image_to_video_mode_writes_motion_details() {
    let d = tempfile::tempdir().unwrap();
    let o = run_bin(
        BIN,
        d.path(),
        &[
            "-",
            "--image-to-video",
            "--llm",
            "offline",
            "--output-dir",
            "t",
        ],
        &[],
        Some(b"the woman turns her head toward the window"),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let trace = only_trace(&d.path().join("t"));
    let s = summary(&trace);
    assert_eq!(s["mode"], "image-to-video");
    let motion: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(trace.join("motion_prompt.json")).unwrap())
            .unwrap();
    for k in [
        "motion_prompt",
        "camera_movement",
        "motion_intensity",
        "frame_rate_notes",
        "negative_prompt",
    ] {
        assert!(motion[k].as_str().is_some_and(|v| !v.is_empty()), "{k}");
    }
    assert!(
        ["subtle", "moderate", "dynamic"].contains(&motion["motion_intensity"].as_str().unwrap())
    );
    assert!(std::fs::read_to_string(trace.join("negative_prompt.txt"))
        .unwrap()
        .contains("flicker"));
    assert_eq!(s["motion_prompt"], motion["motion_prompt"]);
    assert!(stdout(&o).contains("Negative prompt:"));
}

fn storyboard_fixture(root: &Path, frame: &str) -> std::path::PathBuf {
    let sb = root.join("sb");
    std::fs::create_dir_all(sb.join("frames")).unwrap();
    std::fs::write(
        sb.join("narrative.md"),
        "A melancholic story of a lighthouse keeper who finds hope at dawn.",
    )
    .unwrap();
    for f in ["c1s.png", "c1e.png", "c2s.png", "c2e.png"] {
        std::fs::write(sb.join("frames").join(f), b"png").unwrap();
    }
    let doc = serde_json::json!({
        "unified_narrative_path": "narrative.md",
        "clips": [
            {"clip_number": 1, "motion_description": "the keeper climbs the stairs", "camera_movement": "slow tracking",
             "shot_size": "medium", "perspective": "low-angle", "lens_type": "35mm",
             "start_frame_path": "frames/c1s.png", "end_frame_path": frame},
            {"clip_number": 2, "motion_description": "the light turns on", "camera_movement": "static",
             "shot_size": "wide", "perspective": "eye-level", "lens_type": "24mm",
             "start_frame_path": "frames/c2s.png", "end_frame_path": "frames/c2e.png"}
        ]
    });
    let p = sb.join("storyboard_metadata.json");
    std::fs::write(&p, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
    p
}

#[test]
fn storyboard_mode_offline_per_clip_traces() {
    let d = tempfile::tempdir().unwrap();
    let sb = storyboard_fixture(d.path(), "frames/c1e.png");
    let o = run_bin(
        BIN,
        d.path(),
        &[
            "--storyboard",
            sb.to_str().unwrap(),
            "--llm",
            "offline",
            "--output-dir",
            "t",
        ],
        &[],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let trace = only_trace(&d.path().join("t"));
    let files = names(&trace);
    assert!(
        files.contains(&"clip_01".to_string()) && files.contains(&"clip_02".to_string()),
        "{files:?}"
    );
    for clip in ["clip_01", "clip_02"] {
        for f in [
            "00_original_prompt.txt",
            "05_final_enhanced_prompt.txt",
            "motion_prompt.json",
            "negative_prompt.txt",
            "prompt_trace_summary.json",
        ] {
            assert!(trace.join(clip).join(f).exists(), "{clip}/{f}");
        }
    }
    let doc: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(trace.join("storyboard_enhanced_motion_prompts.json")).unwrap(),
    )
    .unwrap();
    let clips = doc["clips"].as_array().unwrap();
    assert_eq!(clips.len(), 2);
    let p1 = doc["storyboard_enhanced_prompts"]["1"]
        .as_str()
        .unwrap()
        .to_lowercase();
    assert!(p1.contains("the keeper climbs the stairs"), "{p1}");
    // narrative and camera metadata carried into the motion prompt
    assert!(
        p1.contains("melancholic") && p1.contains("35mm") && p1.contains("narrative"),
        "{p1}"
    );
    assert!(clips[0]["scores"]["overall"].as_f64().is_some());
    assert!(clips[1]["negative_prompt"]
        .as_str()
        .unwrap()
        .contains("flicker"));
    let s = summary(&trace);
    assert_eq!(s["mode"], "storyboard");
    assert_eq!(s["status"], "completed");
}

#[test]
fn storyboard_mode_sends_the_narrative_to_the_director() {
    let m = MockLlm::start();
    let d = tempfile::tempdir().unwrap();
    let sb = storyboard_fixture(d.path(), "frames/c1e.png");
    let o = run_mock(
        &m,
        d.path(),
        &["--storyboard", sb.to_str().unwrap(), "--output-dir", "t"],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let dir = m.requests_for("director");
    assert_eq!(dir.len(), 2);
    let user = dir[0].body["messages"][1]["content"].as_str().unwrap();
    assert!(
        user.contains("lighthouse keeper")
            && user.contains("low-angle")
            && user.contains("c1s.png"),
        "{user}"
    );
    assert!(m.requests_for("videodirectorgpt_planner").is_empty());
    let s = summary(&only_trace(&d.path().join("t")));
    assert_eq!(s["cost"]["calls"], 4);
}

fn assert_rejected(o: &std::process::Output, out_dir: &Path, needle: &str) {
    assert_eq!(o.status.code(), Some(2), "stderr: {}", stderr(o));
    assert!(
        stderr(o).contains(needle),
        "{needle:?} not in {}",
        stderr(o)
    );
    assert!(
        !out_dir.exists() || std::fs::read_dir(out_dir).unwrap().next().is_none(),
        "something was written"
    );
}

#[test]
fn bad_inputs_exit_2_and_write_nothing() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("t");
    let off = ["--llm", "offline", "--output-dir", "t"];
    let with = |first: &[&str]| -> Vec<String> {
        first
            .iter()
            .chain(off.iter())
            .map(|s| s.to_string())
            .collect()
    };
    let run = |args: Vec<String>, stdin: Option<&[u8]>| {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        run_bin(BIN, d.path(), &a, &[], stdin)
    };
    assert_rejected(&run(with(&["-"]), Some(b"  \n\t ")), &out, "empty");
    std::fs::create_dir(d.path().join("adir")).unwrap();
    assert_rejected(&run(with(&["adir"]), None), &out, "is a directory");
    std::fs::write(d.path().join("bin.txt"), b"caf\xe9 \xff").unwrap();
    assert_rejected(&run(with(&["bin.txt"]), None), &out, "not valid UTF-8");
    assert_rejected(&run(with(&["missing.txt"]), None), &out, "missing.txt");

    let sb = storyboard_fixture(d.path(), "../../../../../../etc/passwd");
    assert_rejected(
        &run(with(&["--storyboard", sb.to_str().unwrap()]), None),
        &out,
        "escapes the storyboard folder",
    );
    let sb = storyboard_fixture(d.path(), "frames/nope.png");
    assert_rejected(
        &run(with(&["--storyboard", sb.to_str().unwrap()]), None),
        &out,
        "does not exist",
    );
    let sb = storyboard_fixture(d.path(), "/etc/hostname");
    assert_rejected(
        &run(with(&["--storyboard", sb.to_str().unwrap()]), None),
        &out,
        "absolute",
    );
    std::fs::write(
        &sb,
        r#"{"unified_narrative_path":"narrative.md","clips":[{"motion_description":"x"}]}"#,
    )
    .unwrap();
    assert_rejected(
        &run(with(&["--storyboard", sb.to_str().unwrap()]), None),
        &out,
        "missing field",
    );
    std::fs::write(
        &sb,
        r#"{"unified_narrative_path":"narrative.md","clips":[]}"#,
    )
    .unwrap();
    assert_rejected(
        &run(with(&["--storyboard", sb.to_str().unwrap()]), None),
        &out,
        "no clips",
    );
    assert_rejected(
        &run(with(&["--threshold", "150", "-"]), Some(b"a dog")),
        &out,
        "threshold",
    );
    assert_rejected(
        &run(
            vec!["--llm".into(), "openai".into(), "-".into()],
            Some(b"a dog"),
        ),
        &out,
        "OPENAI_API_KEY",
    );
}

#[test]
fn very_long_prompt_is_truncated_with_a_notice() {
    let d = tempfile::tempdir().unwrap();
    let long = "a cat walks on a beach ".repeat(1000);
    let o = run_bin(
        BIN,
        d.path(),
        &["-", "--llm", "offline", "--output-dir", "t"],
        &[],
        Some(long.as_bytes()),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("truncated"), "{}", stderr(&o));
    let trace = only_trace(&d.path().join("t"));
    let orig = std::fs::read_to_string(trace.join("00_original_prompt.txt")).unwrap();
    assert!(orig.chars().count() <= 8192 + 1 && orig.len() < long.len());
    let s = summary(&trace);
    assert_eq!(s["prompt_truncated"], true);
    assert!(s["notices"][0].as_str().unwrap().contains("truncated"));
}

#[test]
fn storyboard_partial_failure_exits_1_and_keeps_the_other_clips() {
    let m = MockLlm::start();
    m.push(
        "director",
        [status(
            401,
            r#"{"error":{"message":"no access to this model"}}"#,
        )],
    );
    let d = tempfile::tempdir().unwrap();
    let sb = storyboard_fixture(d.path(), "frames/c1e.png");
    let o = run_mock(
        &m,
        d.path(),
        &["--storyboard", sb.to_str().unwrap(), "--output-dir", "t"],
        None,
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let trace = only_trace(&d.path().join("t"));
    let s = summary(&trace);
    assert_eq!(s["status"], "partial");
    assert_eq!(s["clips"][0]["status"], "failed");
    assert!(s["clips"][0]["error"]
        .as_str()
        .unwrap()
        .contains("HTTP 401"));
    assert_eq!(s["clips"][1]["status"], "completed");
    let doc: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(trace.join("storyboard_enhanced_motion_prompts.json")).unwrap(),
    )
    .unwrap();
    assert!(doc["storyboard_enhanced_prompts"].get("1").is_none());
    assert!(doc["storyboard_enhanced_prompts"]["2"].is_string());
    assert_eq!(summary(&trace.join("clip_01"))["status"], "failed");
}

#[test]
fn ctrl_c_keeps_finished_steps_and_writes_an_interrupted_summary() {
    let m = MockLlm::start();
    m.push("prompt_engineer", [Reply::Hang(Duration::from_secs(20))]);
    let d = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(BIN)
        .current_dir(d.path())
        .args(["-", "--output-dir", "t", "--llm-timeout", "30"])
        .env("OPENAI_API_KEY", KEY)
        .env("OPENAI_BASE_URL", &m.base_url)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(b"a dog").unwrap();
    }
    let start = std::time::Instant::now();
    while m.requests_for("prompt_engineer").is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the critic was never called"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(100));
    let st = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    assert!(start.elapsed() < Duration::from_secs(15));
    let trace = only_trace(&d.path().join("t"));
    let s = summary(&trace);
    assert_eq!(s["status"], "interrupted");
    assert_eq!(s["calls"].as_array().unwrap().len(), 1);
    assert!(trace.join("00_original_prompt.txt").exists());
    assert!(trace.join("01_agent1_iteration_1.txt").exists());
    assert!(!trace.join("02_agent2_iteration_1.txt").exists());
}

#[test]
fn base_url_without_key_sends_no_authorization() {
    let m = MockLlm::start();
    let d = tempfile::tempdir().unwrap();
    let o = run_bin(
        BIN,
        d.path(),
        &["-", "--output-dir", "t", "--llm-base-url", &m.base_url],
        &[],
        Some(b"a dog"),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let reqs = m.requests_for("director");
    assert_eq!(reqs.len(), 1);
    assert!(reqs[0].authorization.is_none());
    assert_eq!(
        summary(&only_trace(&d.path().join("t")))["backend"],
        "openai-compatible"
    );
}
