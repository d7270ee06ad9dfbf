//! `vbench-score` end to end for the semantic options: `--beam-rules`, `--scene-corrected`
//! (scene with the tiny Tag2Text of the parity fixture, `tests/fixtures/parity_tag2text/`,
//! against VBench's value and the in-process dimension), and `--prompt-parser llm` against a
//! chat-completions server on 127.0.0.1 (a valid reply, a malformed one → the rule parser with
//! a note, and a server error → the rule parser with a note).

mod enhance_support;
#[allow(dead_code)]
mod score_support;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use enhance_support::{status, MockLlm, Reply};
use score_support::{bin, stderr};
use serde_json::Value;
use vbench_models::tag2text::{BeamRules, Config, Tag2Text};
use vbench_scorer::dimensions::scene::{Scene, SceneOptions, Tag2TextNets};
use vbench_scorer::dimensions::{Dimension, VideoInput};
use vbench_scorer::tag2text_caption::BertTokenizer;

fn tag2text_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/parity_tag2text")
}

fn clip(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/parity/clips")
        .join(name)
}

/// The fixture's shrunken Tag2Text config (as `tests/tests/parity_tag2text.rs` builds it).
fn config() -> Config {
    let out: Value = serde_json::from_str(
        &std::fs::read_to_string(tag2text_dir().join("outputs_4.33.json")).unwrap(),
    )
    .unwrap();
    let c = &out["config"];
    let u = |v: &Value| v.as_u64().unwrap() as usize;
    let s = &c["swin"];
    let hidden = u(&c["hidden"]);
    Config {
        swin: vbench_models::swin::Config {
            image_res: u(&s["image_res"]),
            patch_size: u(&s["patch_size"]),
            in_chans: 3,
            embed_dim: u(&s["embed_dim"]),
            depths: s["depths"].as_array().unwrap().iter().map(u).collect(),
            num_heads: s["num_heads"].as_array().unwrap().iter().map(u).collect(),
            window_size: u(&s["window_size"]),
            mlp_ratio: 4.0,
        },
        med: vbench_models::bert::Config {
            hidden_size: hidden,
            num_hidden_layers: u(&c["layers"]),
            num_attention_heads: u(&c["heads"]),
            intermediate_size: u(&c["ff"]),
            vocab_size: u(&c["vocab"]),
            max_position_embeddings: u(&c["max_pos"]),
            layer_norm_eps: 1e-12,
            encoder_width: hidden,
            add_cross_attention: true,
        },
        q2l_heads: u(&c["q2l_heads"]),
        q2l_layers: u(&c["q2l_layers"]),
        num_class: 3429,
        threshold: 0.7,
    }
}

/// A `--weights-dir` with the tiny Tag2Text (config beside the checkpoint) and its tokenizer.
fn weights() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let t = d.path().join("xinyu1205/recognize_anything_model");
    std::fs::create_dir_all(&t).unwrap();
    std::os::unix::fs::symlink(
        tag2text_dir().join("model.safetensors"),
        t.join("tag2text_swin_14m.pth"),
    )
    .unwrap();
    std::fs::write(
        t.join("tag2text_swin_14m.config.json"),
        serde_json::to_string(&config()).unwrap(),
    )
    .unwrap();
    let b = d.path().join("google-bert/bert-base-uncased");
    std::fs::create_dir_all(&b).unwrap();
    std::os::unix::fs::symlink(
        tag2text_dir().join("tokenizer.json"),
        b.join("tokenizer.json"),
    )
    .unwrap();
    d
}

/// Runs `vbench-score -d scene` on `videos` and returns the per-video scene records by path.
fn run_scene(videos: &[PathBuf], extra: &[&str], env: &[(&str, &str)]) -> Vec<Value> {
    let w = weights();
    let out = tempfile::tempdir().unwrap();
    let mut c = bin();
    c.current_dir(out.path())
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL")
        .args(videos)
        .args(["-d", "scene", "--device", "cpu", "--quiet", "--name", "r"])
        .arg("--weights-dir")
        .arg(w.path())
        .arg("-o")
        .arg(out.path())
        .args(extra);
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(out.path().join("r_per_video.jsonl")).unwrap();
    text.lines()
        .skip(1)
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["results"]["scene"].clone())
        .collect()
}

/// Our scene dimension in process with `opts` (the parity-tested library path).
fn scene_in_process(path: &Path, prompt: &str, opts: SceneOptions) -> f64 {
    let cfg = config();
    let rt = vbench_scorer::Runtime::cpu(16);
    let vb = vbench_weights::open_checkpoint(
        &tag2text_dir().join("model.safetensors"),
        None,
        rt.dtype,
        &rt.device,
    )
    .unwrap();
    let nets = Arc::new(Tag2TextNets {
        model: Tag2Text::new(&cfg, vb).unwrap(),
        tokenizer: BertTokenizer::from_file(&tag2text_dir().join("tokenizer.json")).unwrap(),
    });
    let dim = Scene::new(nets, rt, opts);
    let input = VideoInput {
        display_path: "x".into(),
        prompt: Some(prompt.into()),
        meta: Some(vbench_scorer::video::probe(path, true).unwrap()),
        ..Default::default()
    };
    let mut s = dim.start(&input).unwrap();
    vbench_scorer::video::for_each_frame(path, &[dim.reader()], |_, fs| s.push(fs[0].1)).unwrap();
    s.finish().unwrap().record.to_serde()["video_results"]
        .as_f64()
        .unwrap()
}

#[test]
fn scene_flags_reach_the_dimension() {
    let dir = tempfile::tempdir().unwrap();
    // VBench's own scene() gave clip_b with key "streetm" 0.625 under transformers 4.33.2
    let v = dir.path().join("streetm-0.mp4");
    std::fs::copy(clip("clip_b.mp4"), &v).unwrap();
    let default = run_scene(std::slice::from_ref(&v), &[], &[]);
    assert_eq!(default[0]["record"]["video_results"], 0.625);
    assert_eq!(default[0]["record"]["prompt_info"]["source"], "rules");
    for (flags, opts) in [
        (
            vec!["--beam-rules", "4.46"],
            SceneOptions {
                corrected: false,
                beam_rules: BeamRules::V4_46,
            },
        ),
        (
            vec!["--scene-corrected"],
            SceneOptions {
                corrected: true,
                beam_rules: BeamRules::V4_33,
            },
        ),
        (
            vec!["--scene-corrected", "--beam-rules", "4.46"],
            SceneOptions {
                corrected: true,
                beam_rules: BeamRules::V4_46,
            },
        ),
    ] {
        let got = run_scene(std::slice::from_ref(&v), &flags, &[]);
        let want = scene_in_process(&v, "streetm", opts);
        assert_eq!(
            got[0]["record"]["video_results"].as_f64().unwrap(),
            want,
            "{flags:?}"
        );
    }
}

#[test]
fn bad_beam_rules_exit_2() {
    let o = bin()
        .args(["x.mp4", "--beam-rules", "4.40"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn llm_prompt_parser_with_fallbacks() {
    let llm = MockLlm::start();
    llm.push(
        "prompt_info_parser",
        [
            // prompt 1: a valid reply naming a scene the rules would not find
            Reply::Chat(r#"{"objects":[],"color":null,"spatial":null,"scene":"streetm"}"#.into()),
            // prompt 2: malformed → rules
            Reply::Chat("I think the scene is a street.".into()),
            // prompt 3: the server fails (no retries) → rules
            status(500, "{\"error\":\"boom\"}"),
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    let mut videos = Vec::new();
    for name in [
        "busy road at dusk-0.mp4",
        "beachk-0.mp4",
        "a zebra at the beachk-0.mp4",
    ] {
        let v = dir.path().join(name);
        std::fs::copy(clip("clip_b.mp4"), &v).unwrap();
        videos.push(v);
    }
    let recs = run_scene(
        &videos,
        &[
            "--prompt-parser",
            "llm",
            "--llm-base-url",
            &llm.base_url,
            "--llm-retries",
            "0",
            "--llm-model",
            "mock-model",
        ],
        &[("OPENAI_API_KEY", enhance_support::KEY)],
    );
    let reqs = llm.requests_for("prompt_info_parser");
    assert_eq!(reqs.len(), 3);
    assert_eq!(reqs[0].body["model"], "mock-model");
    assert_eq!(reqs[0].body["messages"][1]["content"], "busy road at dusk");
    assert_eq!(
        reqs[0].authorization.as_deref(),
        Some(format!("Bearer {}", enhance_support::KEY).as_str())
    );
    // 1: the LLM's scene is used (the clip is captioned like "streetm" above)
    let info = &recs[0]["record"]["prompt_info"];
    assert_eq!(info["source"], "llm", "{}", recs[0]);
    assert_eq!(info["scene"], "streetm");
    assert_eq!(recs[0]["record"]["video_results"], 0.625);
    // 2: malformed reply → the rule parser's scene, with the reason
    let info = &recs[1]["record"]["prompt_info"];
    assert_eq!(info["source"], "rules");
    assert_eq!(info["scene"], "beachk");
    assert!(
        info["note"]
            .as_str()
            .unwrap()
            .contains("not valid prompt info"),
        "{info}"
    );
    // 3: the request failed → the rule parser, with the reason
    let info = &recs[2]["record"]["prompt_info"];
    assert_eq!(info["source"], "rules", "{}", recs[2]);
    assert_eq!(info["scene"], "beachk");
    assert!(
        info["note"].as_str().unwrap().contains("request failed"),
        "{info}"
    );
}
