//! `create-storyboard` end to end (offline planner, loopback Replicate server for the frames)
//! and the round trip through `enhance-video-prompt --storyboard`.

mod images_support;

use std::process::Command;

use images_support::{bin, png, run_dir, start};

#[test]
fn offline_storyboard_round_trips_through_enhance_video_prompt() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::write(
        d.join("prompt.txt"),
        "A lighthouse keeper climbs the spiral stairs at dusk\n",
    )
    .unwrap();
    let server = start((0..6).map(|k| png(64, 48, k)).collect(), vec![]);
    let out = Command::new(bin("create-storyboard"))
        .current_dir(d)
        .env("REPLICATE_API_TOKEN", "r8_test")
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL")
        .args([
            "prompt.txt",
            "--num-clips",
            "3",
            "--llm",
            "offline",
            "--output-dir",
            "sb",
        ])
        .args([
            "--api-base",
            &server.base,
            "--retry-base-ms",
            "10",
            "--poll-interval",
            "0.05",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let dir = run_dir(&d.join("sb"));
    let meta_path = dir.join("storyboard_metadata.json");
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&meta_path).unwrap()).unwrap();
    assert_eq!(meta["unified_narrative_path"], "narrative.md");
    let clips = meta["clips"].as_array().unwrap();
    assert_eq!(clips.len(), 3);
    for (i, c) in clips.iter().enumerate() {
        assert_eq!(c["clip_number"], i + 1);
        for k in [
            "motion_description",
            "camera_movement",
            "shot_size",
            "perspective",
            "lens_type",
        ] {
            assert!(!c[k].as_str().unwrap().is_empty(), "{k}");
        }
        assert_eq!(
            c["start_frame_path"],
            format!("frames/clip_{:02}_start.png", i + 1)
        );
        assert!(dir.join(c["end_frame_path"].as_str().unwrap()).is_file());
    }
    // the reader enhance-video-prompt uses accepts it
    let sb = vbench_prompt::storyboard::load(&meta_path).unwrap();
    assert_eq!(sb.clips.len(), 3);
    assert!(sb.narrative.contains("Unified narrative"));
    assert_eq!(
        sb.clips[1].motion_description,
        clips[1]["motion_description"]
    );
    // and so does the binary
    let out = Command::new(bin("enhance-video-prompt"))
        .current_dir(d)
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL")
        .arg("--storyboard")
        .arg(&meta_path)
        .args(["--llm", "offline", "--output-dir", "traces"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tdir = run_dir(&d.join("traces"));
    let enhanced: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(tdir.join("storyboard_enhanced_motion_prompts.json")).unwrap(),
    )
    .unwrap();
    assert!(enhanced.to_string().contains("clip"), "{enhanced}");
    // six frame predictions were made
    let creates = server
        .requests
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.method == "POST")
        .count();
    assert_eq!(creates, 6);
}

mod enhance_support;

#[test]
fn llm_storyboard_via_loopback_openai_server() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::write(d.join("prompt.txt"), "A kite festival on a windy beach\n").unwrap();
    let llm = enhance_support::MockLlm::start();
    let clip = |m: &str| {
        serde_json::json!({"motion_description": m, "camera_movement": "slow dolly-in",
            "shot_size": "wide shot", "perspective": "eye-level", "lens_type": "24mm",
            "start_frame_prompt": "kites on the ground", "end_frame_prompt": "kites in the sky"})
    };
    let reply = serde_json::json!({"narrative": "# Kites\nA day of wind.",
        "clips": [clip("kites lift off"), clip("kites dance in the wind")]});
    llm.push(
        "storyboard_planner",
        [enhance_support::Reply::Chat(reply.to_string())],
    );
    let server = start(vec![png(32, 32, 3)], vec![]);
    let out = Command::new(bin("create-storyboard"))
        .current_dir(d)
        .env("REPLICATE_API_TOKEN", "r8_test")
        .env("OPENAI_API_KEY", enhance_support::KEY)
        .env_remove("OPENAI_BASE_URL")
        .args([
            "prompt.txt",
            "--num-clips",
            "2",
            "--llm",
            "openai",
            "--output-dir",
            "sb",
        ])
        .args([
            "--llm-base-url",
            &llm.base_url,
            "--creative-model",
            "gpt-4o",
        ])
        .args([
            "--api-base",
            &server.base,
            "--retry-base-ms",
            "10",
            "--poll-interval",
            "0.05",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(llm.requests_for("storyboard_planner").len(), 1);
    let dir = run_dir(&d.join("sb"));
    let sb = vbench_prompt::storyboard::load(&dir.join("storyboard_metadata.json")).unwrap();
    assert_eq!(sb.clips.len(), 2);
    assert_eq!(sb.clips[1].motion_description, "kites dance in the wind");
    assert!(sb.narrative.contains("A day of wind."));
    let trace: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("storyboard_trace.json")).unwrap())
            .unwrap();
    assert_eq!(trace["plan"]["backend"], "openai-compatible");
    assert_eq!(trace["plan"]["model"], "gpt-4o");
}
