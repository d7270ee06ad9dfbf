//! Drives the real `enhance-image-prompt` binary (same loop, image dimensions).

mod enhance_support;

use enhance_support::*;

const BIN: &str = env!("CARGO_BIN_EXE_enhance-image-prompt");

#[test]
fn offline_image_loop_default_output_dir() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("p.txt"), "a red vintage bicycle").unwrap();
    let o = run_bin(BIN, d.path(), &["p.txt"], &[], None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("offline"));
    let trace = only_trace(&d.path().join("output/image_prompt_traces"));
    let files = names(&trace);
    for f in [
        "00_original_prompt.txt",
        "01_agent1_iteration_1.txt",
        "02_agent2_iteration_1.txt",
        "05_final_enhanced_prompt.txt",
        "prompt_trace_summary.json",
    ] {
        assert!(files.contains(&f.to_string()), "{f}: {files:?}");
    }
    assert!(!files.iter().any(|f| f.contains("videodirectorgpt")));
    let s = summary(&trace);
    assert_eq!(s["tool"], "enhance-image-prompt");
    assert_eq!(s["mode"], "image");
    for k in IMAGE_KEYS {
        assert!(s["final_score"][k].as_f64().is_some(), "{k}");
        assert!(s["score_weights"][k].as_f64().is_some(), "{k}");
    }
    assert!(s["final_score"]["overall"].as_f64().unwrap() >= 85.0);
    let fin = std::fs::read_to_string(trace.join("05_final_enhanced_prompt.txt"))
        .unwrap()
        .to_lowercase();
    for needle in [
        "a red vintage bicycle",
        "lens",
        "depth of field",
        "rule of thirds",
        "light",
    ] {
        assert!(fin.contains(needle), "{needle:?} in {fin}");
    }
    assert!(stdout(&o).contains("Frame") && stdout(&o).contains("Final prompt:"));
}

#[test]
fn llm_image_loop_uses_image_dimensions() {
    let m = MockLlm::start();
    m.push(
        "prompt_engineer",
        [image_critique(60.0), image_critique(87.0)],
    );
    m.push(
        "director",
        [
            Reply::Chat("Medium shot of a bicycle".into()),
            Reply::Chat("Medium shot of a red bicycle, 50mm lens".into()),
        ],
    );
    let d = tempfile::tempdir().unwrap();
    let env = [
        ("OPENAI_API_KEY", KEY),
        ("OPENAI_BASE_URL", m.base_url.as_str()),
    ];
    let o = run_bin(
        BIN,
        d.path(),
        &["-", "--output-dir", "imgs", "--critique-model", "gpt-4o"],
        &env,
        Some(b"a bicycle"),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let trace = only_trace(&d.path().join("imgs"));
    let s = summary(&trace);
    assert_eq!(s["stop_reason"], "threshold");
    assert_eq!(s["total_iterations"], 2);
    assert_eq!(s["final_score"]["framing"], 87.0);
    assert!(s.get("videodirectorgpt_plan").is_none());
    let eng = m.requests_for("prompt_engineer");
    assert_eq!(eng[0].body["model"], "gpt-4o");
    let sys = eng[0].body["messages"][0]["content"].as_str().unwrap();
    assert!(sys.contains("composition") && !sys.contains("temporal_coherence"));
    // engineer: 2 x (1000 x $2.5 + 500 x $10)/1M = 0.015; director: 2 x 0.025 = 0.05
    assert!(
        (s["cost"]["total_cost_usd"].as_f64().unwrap() - 0.065).abs() < 1e-9,
        "{}",
        s["cost"]
    );
    assert_eq!(
        std::fs::read_to_string(trace.join("05_final_enhanced_prompt.txt"))
            .unwrap()
            .trim(),
        "Medium shot of a red bicycle, 50mm lens"
    );
    assert_key_in_no_file(d.path());
}

#[test]
fn image_bad_input_exit_2() {
    let d = tempfile::tempdir().unwrap();
    let o = run_bin(BIN, d.path(), &["-", "--output-dir", "t"], &[], Some(b""));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("empty"));
    assert!(!d.path().join("t").exists());
}
