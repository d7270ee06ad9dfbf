//! `generate-videos` end to end against a Replicate-protocol server on 127.0.0.1, with tiny
//! scorer weights: retries (429 + Retry-After, 500), failed and stuck predictions, fallback,
//! truncated and failed downloads, ranking, file names, JSON fields, costs, the report in
//! headless Chromium, image-to-video, --max-cost, storyboard, interactive feedback, Ctrl-C.

mod generate_support;

use std::path::Path;
use std::time::Duration;

use generate_support::*;

fn prices(dir: &Path, body: &str) -> String {
    let p = dir.join("prices.json");
    std::fs::write(&p, body).unwrap();
    p.display().to_string()
}

#[test]
fn text_to_video_ranks_scores_retries_falls_back_and_reports() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    let weights = root.join("weights");
    vbench_tests::fixture_weights_dir(&weights).unwrap();
    let api = Mock::start();
    let files = Mock::start(); // another origin: must never get the token
    let a = files.file(
        "a.mp4",
        make_clip(&root.join("a.mp4"), 6, "64x48", "testsrc2"),
        0,
    );
    let b = files.file(
        "b.mp4",
        make_clip(&root.join("b.mp4"), 6, "64x48", "mandelbrot"),
        1,
    );
    let c = files.file(
        "c.mp4",
        make_clip(&root.join("c.mp4"), 6, "64x48", "smptebars"),
        0,
    );
    let gone = format!("{}/files/missing.mp4", files.base);
    api.script(
        "kling/kling-v1",
        [
            // attempt 1: rate limited once, then fine after two polls
            Script::CreateStatus {
                code: 429,
                retry_after: Some("1".into()),
            },
            Script::Succeed {
                url: a,
                predict_time: 10.0,
                polls: 2,
            },
            // attempt 2: a 500, then a failed prediction, then one stuck in processing
            Script::CreateStatus {
                code: 500,
                retry_after: None,
            },
            Script::Fail("CUDA out of memory".into()),
            Script::Stuck,
            // attempt 3 (attempt 2 fell back to wan)
            Script::Succeed {
                url: c,
                predict_time: 8.0,
                polls: 0,
            },
            // attempt 4: succeeds, but its output cannot be downloaded
            Script::Succeed {
                url: gone,
                predict_time: 8.0,
                polls: 0,
            },
        ],
    );
    api.script(
        "wavespeedai/wan-2.1-t2v-480p",
        [Script::Succeed {
            url: b,
            predict_time: 20.0,
            polls: 1,
        }],
    );
    let prompt = root.join("prompt.txt");
    std::fs::write(
        &prompt,
        "A red fox running through deep snow, oil painting\n",
    )
    .unwrap();
    let price_file = prices(
        root,
        r#"{"models":{"kling/kling-v1":{"unit":"per_run","usd":0.5},"wavespeedai/wan-2.1-t2v-480p":{"unit":"per_predict_second","usd":0.01}}}"#,
    );
    let mut c = cmd(root);
    c.env("REPLICATE_API_TOKEN", TOKEN)
        .arg(&prompt)
        .args([
            "--num-attempts",
            "4",
            "--output-dir",
            "out",
            "--device",
            "cpu",
        ])
        .args(["--negative-prompt", "jerky, flicker"])
        .args(["--fallback-models", "wavespeedai/wan-2.1-t2v-480p"])
        .args(["--prices", &price_file, "--api-base", &api.base])
        .arg("--weights-dir")
        .arg(&weights)
        .args(FAST);
    let o = run(c, None);
    let (stdout, stderr) = out(&o);
    assert_eq!(
        o.status.code(),
        Some(3),
        "partial failure\n{stdout}\n{stderr}"
    );
    let run_dir = only_run_dir(&root.join("out"));

    // files: three ranked videos with metadata, nothing left from attempt numbering
    let mut names: Vec<String> = std::fs::read_dir(&run_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "generation_trace.json",
            "index.html",
            "posters",
            "video_001.mp4",
            "video_001_metadata.json",
            "video_002.mp4",
            "video_002_metadata.json",
            "video_003.mp4",
            "video_003_metadata.json"
        ]
    );

    // ranking follows the totals; rank 1 is the system-selected best
    let mds: Vec<serde_json::Value> = (1..=3)
        .map(|r| json(&run_dir.join(format!("video_{r:03}_metadata.json"))))
        .collect();
    let totals: Vec<f64> = mds
        .iter()
        .map(|m| m["vbench_scores"]["overall"].as_f64().expect("scored"))
        .collect();
    assert!(
        totals[0] >= totals[1] && totals[1] >= totals[2],
        "{totals:?}"
    );
    assert!(totals[0] > totals[2], "different clips score differently");
    for (i, m) in mds.iter().enumerate() {
        assert_eq!(m["rank"], i as u64 + 1);
        assert_eq!(m["system_selected_best"], i == 0);
        assert_eq!(m["file_path"], format!("video_{:03}.mp4", i + 1));
        for dim in [
            "subject_consistency",
            "background_consistency",
            "aesthetic_quality",
            "temporal_flickering",
            "appearance_style",
        ] {
            assert!(m["vbench_scores"][dim].is_f64(), "{dim} in {m}");
        }
        let gp = &m["generation_params"];
        assert_eq!(
            gp["prompt"],
            "A red fox running through deep snow, oil painting"
        );
        assert_eq!(gp["negative_prompt"], "jerky, flicker");
        assert_eq!(gp["requested_model"], "kling/kling-v1");
        assert!(gp["timestamp"].is_string() && gp["cost"]["usd"].is_f64());
        assert!(gp["settings"]["input"]["prompt"].is_string());
        assert!(m["scoring"]["skipped_dimensions"].is_array());
    }
    // the wan video came from the fallback and cost 20 s x 0.01
    let wan: Vec<&serde_json::Value> = mds
        .iter()
        .filter(|m| m["generation_params"]["model"] == "wavespeedai/wan-2.1-t2v-480p")
        .collect();
    assert_eq!(wan.len(), 1);
    assert_eq!(wan[0]["generation_params"]["fallback_used"], true);
    assert!((wan[0]["generation_params"]["cost"]["usd"].as_f64().unwrap() - 0.2).abs() < 1e-9);
    // the renamed files are the right videos
    let sizes: Vec<u64> = (1..=3)
        .map(|r| {
            std::fs::metadata(run_dir.join(format!("video_{r:03}.mp4")))
                .unwrap()
                .len()
        })
        .collect();
    for (m, s) in mds.iter().zip(&sizes) {
        assert_eq!(m["bytes"].as_u64(), Some(*s));
    }

    // the trace
    let t = json(&run_dir.join("generation_trace.json"));
    assert_eq!(t["status"], "partial");
    assert_eq!(t["mode"], "text-to-video");
    assert_eq!(
        t["prompts"]["original"],
        "A red fox running through deep snow, oil painting"
    );
    assert_eq!(t["model"], "kling/kling-v1");
    assert_eq!(t["fallback_models"][0], "wavespeedai/wan-2.1-t2v-480p");
    let skipped: Vec<&str> = t["scoring"]["skipped_dimensions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["dimension"].as_str().unwrap())
        .collect();
    assert!(skipped.contains(&"imaging_quality") && skipped.contains(&"dynamic_degree"));
    assert_eq!(skipped.len(), 11, "16 dimensions, 5 scored: {skipped:?}");
    let videos = t["groups"][0]["videos"].as_array().unwrap();
    assert_eq!(videos.len(), 4);
    let tries: Vec<&serde_json::Value> = videos
        .iter()
        .flat_map(|v| v["generation"].as_array().unwrap())
        .collect();
    let http: Vec<&serde_json::Value> = tries
        .iter()
        .flat_map(|t| t["http"]["tries"].as_array().unwrap())
        .collect();
    // 429 honoured Retry-After (1 s against a 50 ms backoff)
    let r429 = http.iter().find(|h| h["status"] == 429).expect("429 kept");
    assert!(r429["retry_in_ms"].as_u64().unwrap() >= 1000);
    assert!(http
        .iter()
        .any(|h| h["status"] == 500 && h["retry_in_ms"].is_u64()));
    let cut = http
        .iter()
        .find(|h| h["op"] == "download" && h["error"].is_string())
        .expect("the truncated download is kept");
    eprintln!("truncated download: {cut}");
    assert!(cut["retry_in_ms"].is_u64(), "and retried: {cut}");
    let e = cut["error"].as_str().unwrap();
    assert!(
        e.contains("truncated") || e.contains("connection broke"),
        "{e}"
    );
    assert!(tries
        .iter()
        .any(|t| t["status"] == "failed"
            && t["error"].as_str().unwrap().contains("CUDA out of memory")));
    assert!(tries.iter().any(|t| t["status"] == "timeout"));
    assert!(tries
        .iter()
        .any(|t| t["fallback"] == true && t["status"] == "succeeded"));
    // the failed download is reported and the others went on
    let failures = t["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0]["stage"], "download");
    assert!(videos
        .iter()
        .any(|v| v["status"] == "failed" && v["file"].is_null()));
    // costs: kling per run 0.5 x 3 succeeded (the undownloadable one is billed too),
    // the failed and the stuck kling runs cost nothing, wan 20 s x 0.01
    let total = t["costs"]["total_usd"].as_f64().unwrap();
    assert!((total - 1.7).abs() < 1e-9, "total {total}");
    let sum: f64 = tries
        .iter()
        .map(|t| t["cost"]["usd"].as_f64().unwrap())
        .sum();
    assert!((sum - total).abs() < 1e-12);
    assert!(t["timings"]["scoring_seconds"].as_f64().unwrap() > 0.0);

    // the stuck prediction was cancelled; the API got the token, Prefer: wait and the input
    let reqs = api.requests();
    assert!(reqs.iter().any(|r| r.path.ends_with("/cancel")));
    let creates: Vec<_> = reqs
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/predictions"))
        .collect();
    assert!(creates
        .iter()
        .all(|r| r.prefer.as_deref() == Some("wait=1")));
    assert!(creates
        .iter()
        .any(|r| r.path == "/v1/models/kling/kling-v1/predictions"
            && r.body["input"]["negative_prompt"] == "jerky, flicker"
            && r.body["input"]["duration"] == 5));
    assert!(files.requests().iter().all(|r| r.authorization.is_none()));

    // console
    assert!(stdout.contains("<- system-selected best"), "{stdout}");
    assert!(stdout.contains("cost: 1.7000 USD"), "{stdout}");
    assert!(stdout.contains("time: generation"), "{stdout}");
    assert!(stdout.contains(&run_dir.join("video_001.mp4").display().to_string()));
    assert!(stderr.contains("skipped dimensions (11)"), "{stderr}");

    // the report, rendered by a browser
    let html = std::fs::read_to_string(run_dir.join("index.html")).unwrap();
    for external in [
        "src=\"http",
        "href=\"http",
        "<link",
        "url(",
        "src=\"/",
        "href=\"/",
    ] {
        assert!(
            !html.contains(external),
            "self-contained, relative links: {external}"
        );
    }
    match chromium_dom(&run_dir.join("index.html")) {
        Some(dom) => {
            assert!(dom.contains("3 of 3"), "posters load from relative links:\n{dom}");
            assert!(dom.contains("system-selected best"));
            assert!(dom.contains("1.7000 USD"));
            assert!(dom.contains("A red fox running through deep snow"));
            assert!(dom.contains("href=\"video_001.mp4\""));
            assert!(dom.contains("attempt 4 failed"));
            assert!(dom.contains("aesthetic_quality"));
            let first = dom.find("data-rank=\"1\"").unwrap();
            assert!(dom[first..first + 200].contains(&format!("{:.6}", totals[0])));
        }
        None => assert!(
            std::env::var("VBENCH_SKIP_BROWSER_TEST").is_ok(),
            "chromium is needed for the report test (apt-get install chromium), or set VBENCH_SKIP_BROWSER_TEST=1"
        ),
    }
    assert_token_in_no_file(root);
    assert!(!stdout.contains(TOKEN) && !stderr.contains(TOKEN));
}

#[test]
fn image_to_video_on_a_version_stops_at_max_cost() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    let api = Mock::start();
    let v = api.file(
        "v.mp4",
        make_clip(&root.join("v.mp4"), 4, "64x48", "testsrc2"),
        0,
    );
    let hero = root.join("hero.png");
    make_png(&hero, "32x24", "testsrc2");
    for _ in 0..3 {
        api.script(
            "version:abc123",
            [Script::Succeed {
                url: v.clone(),
                predict_time: 3.0,
                polls: 0,
            }],
        );
    }
    let price_file = prices(
        root,
        r#"{"models":{"someone/i2v":{"unit":"per_run","usd":0.4}}}"#,
    );
    // the token comes from .env
    std::fs::write(root.join(".env"), format!("REPLICATE_API_TOKEN={TOKEN}\n")).unwrap();
    let mut c = cmd(root);
    c.args(["--image-to-video", "--hero-frame"])
        .arg(&hero)
        .args(["--motion-prompt", "camera pans left", "--seed", "42"])
        .args(["--model", "someone/i2v:abc123", "--fallback-models", "none"])
        .args([
            "--skip-scoring",
            "--max-cost",
            "1.0",
            "--prices",
            &price_file,
        ])
        .args([
            "--output-dir",
            "out",
            "--api-base",
            &format!("{}/v1", api.base),
        ])
        .args(FAST);
    let o = run(c, None);
    let (stdout, stderr) = out(&o);
    assert_eq!(o.status.code(), Some(4), "{stdout}\n{stderr}");
    let run_dir = only_run_dir(&root.join("out"));
    let t = json(&run_dir.join("generation_trace.json"));
    assert_eq!(t["status"], "stopped_max_cost");
    assert_eq!(t["mode"], "image-to-video");
    assert_eq!(t["hero_frame_path"], hero.display().to_string());
    assert_eq!(t["prompts"]["motion_prompt"], "camera pans left");
    assert!((t["costs"]["total_usd"].as_f64().unwrap() - 0.8).abs() < 1e-9);
    assert_eq!(t["failures"][0]["stage"], "max_cost");
    assert!(run_dir.join("video_002.mp4").is_file() && !run_dir.join("video_003.mp4").exists());
    let md = json(&run_dir.join("video_002_metadata.json"));
    assert_eq!(md["hero_frame_path"], hero.display().to_string());
    assert_eq!(md["generation_params"]["seed"], 43);
    assert_eq!(md["vbench_scores"], serde_json::json!({}));
    let creates: Vec<_> = api
        .requests()
        .into_iter()
        .filter(|r| r.path == "/v1/predictions")
        .collect();
    assert_eq!(creates.len(), 2, "the third run was never started");
    assert_eq!(creates[0].body["version"], "abc123");
    let input = &creates[0].body["input"];
    assert_eq!(input["prompt"], "camera pans left");
    assert_eq!(input["seed"], 42);
    assert!(input["image"]
        .as_str()
        .unwrap()
        .starts_with("data:image/png;base64,iVBOR"));
    // the trace keeps the input without the image bytes
    let sent = &t["groups"][0]["videos"][0]["generation"][0]["input"]["image"];
    assert!(sent.as_str().unwrap().ends_with(" characters>"), "{sent}");
    assert!(stderr.contains("--max-cost"), "{stderr}");
    assert_token_in_no_file(&root.join("out"));
}

#[test]
fn storyboard_makes_one_video_per_clip_from_its_frames() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    let sb = root.join("sb");
    std::fs::create_dir_all(sb.join("frames")).unwrap();
    for n in ["c1s", "c1e", "c2s", "c2e"] {
        make_png(&sb.join(format!("frames/{n}.png")), "32x24", "testsrc2");
    }
    std::fs::write(sb.join("narrative.md"), "A fox crosses a valley.").unwrap();
    std::fs::write(
        sb.join("storyboard_metadata.json"),
        serde_json::json!({"unified_narrative_path": "narrative.md", "clips": [
            {"clip_number": 1, "motion_description": "The fox trots left", "camera_movement": "pan left",
             "shot_size": "wide", "perspective": "eye-level", "lens_type": "35mm",
             "start_frame_path": "frames/c1s.png", "end_frame_path": "frames/c1e.png"},
            {"clip_number": 2, "motion_description": "The fox jumps", "camera_movement": "static",
             "shot_size": "medium", "perspective": "low angle", "lens_type": "50mm",
             "start_frame_path": "frames/c2s.png", "end_frame_path": "frames/c2e.png"}]})
        .to_string(),
    )
    .unwrap();
    let enhanced = root.join("storyboard_enhanced_motion_prompts.json");
    std::fs::write(
        &enhanced,
        r#"{"storyboard_enhanced_prompts": {"1": "Wide shot, slow pan left as the fox trots."}}"#,
    )
    .unwrap();
    let api = Mock::start();
    let v = api.file(
        "v.mp4",
        make_clip(&root.join("v.mp4"), 4, "64x48", "testsrc2"),
        0,
    );
    api.script(
        "kwaivgi/kling-v1.6-standard",
        (0..2).map(|_| Script::Succeed {
            url: v.clone(),
            predict_time: 3.0,
            polls: 0,
        }),
    );
    let mut c = cmd(root);
    c.env("REPLICATE_API_TOKEN", TOKEN)
        .arg(&enhanced)
        .arg("--storyboard")
        .arg(sb.join("storyboard_metadata.json"))
        .args(["--model", "kwaivgi/kling-v1.6-standard", "--skip-scoring"])
        .args(["--output-dir", "out", "--api-base", &api.base])
        .args(FAST);
    let o = run(c, None);
    let (stdout, stderr) = out(&o);
    assert_eq!(o.status.code(), Some(0), "{stdout}\n{stderr}");
    let run_dir = only_run_dir(&root.join("out"));
    for clip in ["clip_01", "clip_02"] {
        assert!(run_dir.join(clip).join("video_001.mp4").is_file());
        assert!(!run_dir.join(clip).join("video_002.mp4").exists());
        let md = json(&run_dir.join(clip).join("video_001_metadata.json"));
        assert_eq!(md["file_path"], format!("{clip}/video_001.mp4"));
        assert!(md["storyboard_clip"]["start_frame_path"]
            .as_str()
            .unwrap()
            .ends_with(".png"));
    }
    let t = json(&run_dir.join("generation_trace.json"));
    assert_eq!(t["mode"], "storyboard");
    assert!(t["storyboard"]["storyboard_path"]
        .as_str()
        .unwrap()
        .ends_with("storyboard_metadata.json"));
    assert_eq!(t["groups"].as_array().unwrap().len(), 2);
    let creates: Vec<_> = api
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect();
    assert_eq!(creates.len(), 2);
    let i1 = &creates[0].body["input"];
    assert_eq!(i1["prompt"], "Wide shot, slow pan left as the fox trots.");
    assert!(i1["start_image"]
        .as_str()
        .unwrap()
        .starts_with("data:image/png"));
    assert!(i1["end_image"]
        .as_str()
        .unwrap()
        .starts_with("data:image/png"));
    let p2 = creates[1].body["input"]["prompt"].as_str().unwrap();
    assert!(
        p2.starts_with("The fox jumps.") && p2.contains("static, medium, low angle, 50mm"),
        "{p2}"
    );
}

#[test]
fn interactive_feedback_starts_another_round_and_a_pick_ends_it() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    let api = Mock::start();
    let v = api.file(
        "v.mp4",
        make_clip(&root.join("v.mp4"), 4, "64x48", "testsrc2"),
        0,
    );
    api.script(
        "kling/kling-v1",
        (0..4).map(|_| Script::Succeed {
            url: v.clone(),
            predict_time: 3.0,
            polls: 0,
        }),
    );
    let prompt = root.join("p.txt");
    std::fs::write(&prompt, "A fox in the snow").unwrap();
    let mut c = cmd(root);
    c.env("REPLICATE_API_TOKEN", TOKEN)
        .env("VBENCH_GENERATE_INTERACTIVE_STDIN", "1")
        .arg(&prompt)
        .args(["--num-attempts", "2", "--skip-scoring", "--interactive"])
        .args(["--output-dir", "out", "--api-base", &api.base])
        .args(FAST);
    let o = run(c, Some(b"make the camera slower\n2\n"));
    let (stdout, stderr) = out(&o);
    assert_eq!(o.status.code(), Some(0), "{stdout}\n{stderr}");
    let run_dir = only_run_dir(&root.join("out"));
    assert!(run_dir.join("video_002.mp4").is_file());
    assert!(run_dir.join("round_02/video_002.mp4").is_file());
    let t = json(&run_dir.join("generation_trace.json"));
    let fb = t["feedback"].as_array().unwrap();
    assert_eq!(fb.len(), 2);
    assert_eq!(fb[0]["action"], "feedback");
    assert_eq!(fb[0]["text"], "make the camera slower");
    assert_eq!(fb[1]["action"], "pick");
    assert_eq!(fb[1]["video"], "round_02/video_002.mp4");
    assert_eq!(t["groups"][1]["selected"], "round_02/video_002.mp4");
    assert_eq!(t["groups"][1]["selected_by"], "user");
    let creates: Vec<_> = api
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect();
    assert_eq!(creates.len(), 4);
    assert_eq!(creates[0].body["input"]["prompt"], "A fox in the snow");
    assert!(creates[3].body["input"]["prompt"]
        .as_str()
        .unwrap()
        .contains("make the camera slower"));

    // without a terminal (and without the test hook) --interactive is off
    let mut c = cmd(root);
    c.env("REPLICATE_API_TOKEN", TOKEN)
        .arg(&prompt)
        .args(["--num-attempts", "1", "--skip-scoring", "--interactive"])
        .args(["--output-dir", "out2", "--api-base", &api.base])
        .args(FAST);
    api.script(
        "kling/kling-v1",
        [Script::Succeed {
            url: v,
            predict_time: 3.0,
            polls: 0,
        }],
    );
    let o = run(c, Some(b"feedback that must be ignored\n"));
    let (_, stderr) = out(&o);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("stdin is not a terminal"), "{stderr}");
    let t = json(&only_run_dir(&root.join("out2")).join("generation_trace.json"));
    assert_eq!(t["feedback"].as_array().unwrap().len(), 0);
}

#[test]
fn ctrl_c_cancels_the_running_prediction_and_keeps_the_trace() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    let api = Mock::start();
    api.script("kling/kling-v1", [Script::Stuck]);
    let prompt = root.join("p.txt");
    std::fs::write(&prompt, "A fox").unwrap();
    let mut c = cmd(root);
    c.env("REPLICATE_API_TOKEN", TOKEN)
        .arg(&prompt)
        .args(["--skip-scoring", "--fallback-models", "none"])
        .args(["--output-dir", "out", "--api-base", &api.base])
        .args(["--prediction-timeout", "60", "--poll-interval", "0.05"])
        .stdin(std::process::Stdio::null());
    let child = c.spawn().unwrap();
    let start = std::time::Instant::now();
    while !api
        .requests()
        .iter()
        .any(|r| r.method == "GET" && r.path.starts_with("/v1/predictions/"))
    {
        assert!(start.elapsed() < Duration::from_secs(20), "never polled");
        std::thread::sleep(Duration::from_millis(20));
    }
    let st = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let o = child.wait_with_output().unwrap();
    let (stdout, stderr) = out(&o);
    assert_eq!(o.status.code(), Some(130), "{stdout}\n{stderr}");
    assert!(api.requests().iter().any(|r| r.path.ends_with("/cancel")));
    let t = json(&only_run_dir(&root.join("out")).join("generation_trace.json"));
    assert_eq!(t["status"], "interrupted");
}

#[test]
fn no_token_is_a_clear_error() {
    let d = tempfile::tempdir().unwrap();
    let prompt = d.path().join("p.txt");
    std::fs::write(&prompt, "A fox").unwrap();
    let mut c = cmd(d.path());
    c.arg(&prompt).arg("--skip-scoring");
    let o = run(c, None);
    let (_, stderr) = out(&o);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr.contains("REPLICATE_API_TOKEN"), "{stderr}");
    assert!(!d.path().join("output").exists());

    // a token the API refuses stops the run at the first request
    let api = Mock::start();
    let mut c = cmd(d.path());
    c.env("REPLICATE_API_TOKEN", "r8_wrong")
        .arg(&prompt)
        .args([
            "--skip-scoring",
            "--output-dir",
            "out",
            "--api-base",
            &api.base,
        ])
        .args(FAST);
    let o = run(c, None);
    let (stdout, stderr) = out(&o);
    assert_eq!(o.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stderr.contains("refused the token"), "{stderr}");
    assert_eq!(api.requests().len(), 1);
    let t = json(&only_run_dir(&d.path().join("out")).join("generation_trace.json"));
    assert_eq!(t["status"], "failed");
    assert_eq!(t["failures"][0]["stage"], "authorization");
    for f in all_files(&d.path().join("out")) {
        let text = String::from_utf8_lossy(&std::fs::read(&f).unwrap()).into_owned();
        assert!(!text.contains("r8_wrong"), "token in {}", f.display());
    }
    assert!(!stdout.contains("r8_wrong") && !stderr.contains("r8_wrong"));
}

#[test]
fn dimensions_without_weights_are_listed_as_skipped_not_dropped() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    let api = Mock::start();
    let v = api.file(
        "v.mp4",
        make_clip(&root.join("v.mp4"), 4, "64x48", "testsrc2"),
        0,
    );
    api.script(
        "kling/kling-v1",
        [Script::Succeed {
            url: v,
            predict_time: 3.0,
            polls: 0,
        }],
    );
    let prompt = root.join("p.txt");
    std::fs::write(&prompt, "A fox").unwrap();
    let mut c = cmd(root);
    c.env("REPLICATE_API_TOKEN", TOKEN)
        .arg(&prompt)
        .args(["--num-attempts", "1", "--device", "cpu"])
        .args([
            "--dimensions",
            "temporal_flickering,subject_consistency,imaging_quality",
        ])
        .arg("--weights-dir")
        .arg(root.join("no-weights-here"))
        .args(["--output-dir", "out", "--api-base", &api.base])
        .args(FAST);
    let o = run(c, None);
    let (stdout, stderr) = out(&o);
    assert_eq!(o.status.code(), Some(0), "{stdout}\n{stderr}");
    let run_dir = only_run_dir(&root.join("out"));
    let t = json(&run_dir.join("generation_trace.json"));
    assert_eq!(
        t["scoring"]["dimensions_scored"],
        serde_json::json!(["temporal_flickering"])
    );
    let skipped = t["scoring"]["skipped_dimensions"].as_array().unwrap();
    assert_eq!(skipped.len(), 2);
    assert_eq!(skipped[0]["dimension"], "subject_consistency");
    let why = skipped[0]["reason"].as_str().unwrap();
    assert!(!why.is_empty() && !why.contains("not implemented"), "{why}");
    assert_eq!(skipped[1]["dimension"], "imaging_quality");
    let md = json(&run_dir.join("video_001_metadata.json"));
    assert!(md["vbench_scores"]["temporal_flickering"].is_f64());
    assert!(md["vbench_scores"]["overall"].is_f64());
    assert!(md["vbench_scores"].get("subject_consistency").is_none());
    assert!(stderr.contains("skipped dimensions (2)"), "{stderr}");
}
