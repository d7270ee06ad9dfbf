//! `generate-images` end to end against a loopback Replicate server, with the tiny image-score
//! weights of the parity fixtures.

mod images_support;

use std::process::Command;

use images_support::{bin, png, run_dir, start};
use vbench_tests::images::{image_weights_dir, ImageWeights};

const TOKEN: &str = "r8_test_secret_token_value";

fn run(
    dir: &std::path::Path,
    base: &str,
    weights: &std::path::Path,
    extra: &[&str],
) -> std::process::Output {
    std::fs::write(
        dir.join("prompt.txt"),
        "a red fox in fresh snow, golden hour\n",
    )
    .unwrap();
    Command::new(bin("generate-images"))
        .current_dir(dir)
        .env("REPLICATE_API_TOKEN", TOKEN)
        .env_remove("REPLICATE_API_BASE")
        .env("HF_HUB_OFFLINE", "1")
        .env("HF_HUB_CACHE", dir.join("no-hf"))
        .env("XDG_CACHE_HOME", dir.join("no-cache"))
        .args([
            "prompt.txt",
            "--api-base",
            base,
            "--device",
            "cpu",
            "--output-dir",
            "out",
        ])
        .arg("--weights-dir")
        .arg(weights)
        .args(["--retry-base-ms", "10", "--poll-interval", "0.05"])
        .args(extra)
        .output()
        .unwrap()
}

fn json(p: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

#[test]
fn ranks_scored_variations_and_writes_the_run_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let weights = tmp.path().join("weights");
    image_weights_dir(&weights, ImageWeights::ALL).unwrap();
    let pngs = (0..4).map(|k| png(96 + 8 * k, 80, k)).collect();
    let server = start(pngs, vec!["black-forest-labs/flux-schnell".into()]);
    let out = run(
        tmp.path(),
        &server.base,
        &weights,
        &["--num-variations", "4", "--seed", "7"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stderr}\n{stdout}");
    assert!(stdout.contains("system-selected best"), "{stdout}");
    assert!(
        stderr.contains("vqascore skipped: not configured"),
        "{stderr}"
    );
    let rd = run_dir(&tmp.path().join("out"));
    let trace = json(&rd.join("generation_trace.json"));
    assert_eq!(trace["status"], "completed");
    assert_eq!(trace["best"], "image_001.png");
    // the requested model refused (422): every variation fell back to sdxl, recorded
    let images = trace["images"].as_array().unwrap();
    assert_eq!(images.len(), 4);
    for v in images {
        assert_eq!(v["model"], "stability-ai/sdxl");
        assert_eq!(v["fallback_used"], true);
        assert_eq!(
            v["generation"][0]["model"],
            "black-forest-labs/flux-schnell"
        );
    }
    // ranking matches the scores under the documented rule
    let mut by_rank: Vec<(u64, serde_json::Value)> = Vec::new();
    for r in 1..=4u64 {
        let f = format!("image_{r:03}.png");
        assert!(rd.join(&f).is_file(), "{f}");
        let meta = json(&rd.join(format!("image_{r:03}_metadata.json")));
        assert_eq!(meta["rank"], r);
        assert_eq!(meta["file_path"], f);
        assert_eq!(meta["system_selected_best"], r == 1);
        assert_eq!(
            meta["generation_params"]["prompt"],
            "a red fox in fresh snow, golden hour"
        );
        for m in ["pickscore", "clip_similarity", "aesthetic"] {
            assert!(meta["scores"][m].is_number(), "{m}: {meta}");
        }
        by_rank.push((r, meta));
    }
    let combined: Vec<f64> = by_rank
        .iter()
        .map(|(_, m)| m["combined_rank"].as_f64().unwrap())
        .collect();
    assert!(combined.windows(2).all(|w| w[0] <= w[1]), "{combined:?}");
    // recompute the mean rank from the metadata scores
    for (i, (_, m)) in by_rank.iter().enumerate() {
        let mut sum = 0.0;
        for metric in ["pickscore", "clip_similarity", "aesthetic"] {
            let v = m["scores"][metric].as_f64().unwrap();
            let better = by_rank
                .iter()
                .filter(|(_, o)| o["scores"][metric].as_f64().unwrap() > v)
                .count();
            sum += (better + 1) as f64;
        }
        assert!((sum / 3.0 - combined[i]).abs() < 1e-12);
    }
    // seeds: variation i has seed 7 + i - 1
    for v in images {
        assert_eq!(
            v["seed"].as_u64().unwrap(),
            7 + v["variation"].as_u64().unwrap() - 1
        );
    }
    assert!(rd.join("index.html").is_file());
    let html = std::fs::read_to_string(rd.join("index.html")).unwrap();
    assert!(html.contains("image_001.png") && html.contains("system-selected best"));
    // costs: sdxl per predict second (1.5 s each)
    let total = trace["costs"]["total_usd"].as_f64().unwrap();
    assert!((total - 4.0 * 1.5 * 0.000725).abs() < 1e-9, "{total}");
    // the token is sent, never written
    let reqs = server.requests.lock().unwrap();
    assert!(reqs
        .iter()
        .any(|r| r.authorization.as_deref() == Some(&format!("Bearer {TOKEN}"))));
    for e in walk(&rd) {
        let text = String::from_utf8_lossy(&std::fs::read(&e).unwrap()).into_owned();
        assert!(!text.contains(TOKEN), "{}", e.display());
    }
}

fn walk(d: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(d).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn missing_pickscore_weights_are_listed_as_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    let weights = tmp.path().join("weights");
    image_weights_dir(
        &weights,
        ImageWeights {
            pickscore: false,
            ..ImageWeights::ALL
        },
    )
    .unwrap();
    let server = start(vec![png(64, 64, 1), png(64, 64, 2)], vec![]);
    let out = run(
        tmp.path(),
        &server.base,
        &weights,
        &["--num-variations", "2"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("pickscore skipped"), "{stderr}");
    let rd = run_dir(&tmp.path().join("out"));
    let trace = json(&rd.join("generation_trace.json"));
    let skipped: Vec<&str> = trace["scoring"]["skipped_metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["metric"].as_str().unwrap())
        .collect();
    assert_eq!(skipped, vec!["pickscore", "vqascore"]);
    assert_eq!(
        trace["scoring"]["metrics"],
        serde_json::json!(["clip_similarity", "aesthetic"])
    );
    let meta = json(&rd.join("image_001_metadata.json"));
    assert!(meta["scores"].get("pickscore").is_none());
    assert_eq!(
        trace["images"][0]["model"],
        "black-forest-labs/flux-schnell"
    );
}

mod enhance_support;

#[test]
fn vqascore_through_a_loopback_vision_endpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let weights = tmp.path().join("weights");
    image_weights_dir(
        &weights,
        ImageWeights {
            pickscore: false,
            aesthetic: false,
            clip: true,
        },
    )
    .unwrap();
    let llm = enhance_support::MockLlm::start();
    llm.push(
        "vqa",
        [
            enhance_support::Reply::Chat("Yes".into()),
            enhance_support::Reply::Chat("No".into()),
        ],
    );
    let server = start(vec![png(64, 64, 1), png(64, 64, 2)], vec![]);
    let out = Command::new(bin("generate-images"))
        .current_dir(tmp.path())
        .env("REPLICATE_API_TOKEN", TOKEN)
        .env("OPENAI_API_KEY", enhance_support::KEY)
        .env_remove("OPENAI_BASE_URL")
        .env("HF_HUB_OFFLINE", "1")
        .env("HF_HUB_CACHE", tmp.path().join("no-hf"))
        .arg("-")
        .args([
            "--api-base",
            &server.base,
            "--device",
            "cpu",
            "--output-dir",
            "out",
        ])
        .arg("--weights-dir")
        .arg(&weights)
        .args(["--num-variations", "2", "--vqa-model", "gpt-4o-mini"])
        .args(["--llm-base-url", &llm.base_url, "--retry-base-ms", "10"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin
                .take()
                .unwrap()
                .write_all(b"a blue bird on a branch\n")?;
            c.wait_with_output()
        })
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let rd = run_dir(&tmp.path().join("out"));
    let trace = json(&rd.join("generation_trace.json"));
    assert_eq!(
        trace["scoring"]["metrics"],
        serde_json::json!(["clip_similarity", "vqascore"])
    );
    let vqa: Vec<f64> = trace["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["scores"]["vqascore"].as_f64().unwrap())
        .collect();
    assert_eq!(vqa, vec![1.0, 0.0]);
    assert_eq!(trace["images"][0]["vqa_method"], "answer");
    let reqs = llm.requests_for("vqa");
    assert_eq!(reqs.len(), 2);
    let body = &reqs[0].body;
    assert_eq!(body["model"], "gpt-4o-mini");
    assert_eq!(body["logprobs"], true);
    let url = body["messages"][1]["content"][1]["image_url"]["url"]
        .as_str()
        .unwrap();
    assert!(url.starts_with("data:image/png;base64,"));
    assert!(body["messages"][1]["content"][0]["text"]
        .as_str()
        .unwrap()
        .contains("Does this figure show \"a blue bird on a branch\"?"));
    // the key is never written
    for f in walk(&rd) {
        let text = String::from_utf8_lossy(&std::fs::read(&f).unwrap()).into_owned();
        assert!(!text.contains(enhance_support::KEY), "{}", f.display());
    }
}
