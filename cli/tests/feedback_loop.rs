//! `feedback-loop` end to end against the loopback OpenAI-compatible server and the
//! Replicate-protocol server, with tiny scorer weights: each workflow mode makes exactly its
//! stages and files; the summary's total is the sum of the stage costs; a run killed (SIGKILL)
//! during stage 5 resumes without creating (paying) the finished videos again; interactive mode
//! through stdin; bad checkpoints are refused.

mod enhance_support;
mod generate_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use generate_support::{json, make_clip, make_png, Mock, Script, TOKEN};

const IMAGE_MODEL: &str = "black-forest-labs/flux-schnell";
const VIDEO_MODEL: &str = "kling/kling-v1";

struct Setup {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    api: Mock,
    png_url: String,
    clip_urls: Vec<String>,
}

fn setup() -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    vbench_tests::fixture_weights_dir(&root.join("weights")).unwrap();
    std::fs::write(root.join("prompt.txt"), "a cat walks along a beach\n").unwrap();
    let api = Mock::start();
    make_png(&root.join("hero.png"), "64x48", "testsrc2");
    let png_url = api.file("hero.png", std::fs::read(root.join("hero.png")).unwrap(), 0);
    let clip_urls = ["testsrc2", "mandelbrot", "smptebars"]
        .iter()
        .enumerate()
        .map(|(i, src)| {
            let p = root.join(format!("c{i}.mp4"));
            api.file(&format!("c{i}.mp4"), make_clip(&p, 6, "64x48", src), 0)
        })
        .collect();
    Setup {
        _tmp: tmp,
        root,
        api,
        png_url,
        clip_urls,
    }
}

impl Setup {
    fn images(&self, n: usize) {
        self.api.script(
            IMAGE_MODEL,
            (0..n).map(|_| Script::Succeed {
                url: self.png_url.clone(),
                predict_time: 1.0,
                polls: 0,
            }),
        );
    }
    fn videos(&self, n: usize) {
        self.api.script(
            VIDEO_MODEL,
            (0..n).map(|i| Script::Succeed {
                url: self.clip_urls[i % self.clip_urls.len()].clone(),
                predict_time: 5.0,
                polls: 1,
            }),
        );
    }
    fn creates(&self, model: &str) -> usize {
        let path = format!("/v1/models/{model}/predictions");
        self.api
            .requests()
            .iter()
            .filter(|r| r.method == "POST" && r.path == path)
            .count()
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_feedback-loop"));
        c.current_dir(&self.root)
            .env_remove("OPENAI_API_KEY")
            .env_remove("OPENAI_BASE_URL")
            .env_remove("VBENCH_LLM_PRICES")
            .env_remove("REPLICATE_API_BASE")
            .env_remove("VBENCH_WEIGHTS_DIR")
            .env_remove("VBENCH_GENERATE_INTERACTIVE_STDIN")
            .env("REPLICATE_API_TOKEN", TOKEN)
            .env("HF_HUB_OFFLINE", "1")
            .env("HF_HOME", "/nonexistent-hf-home")
            .env(
                "XDG_CACHE_HOME",
                std::env::temp_dir().join("vbench-test-cache"),
            )
            .args([
                "--api-base",
                &self.api.base,
                "--weights-dir",
                "weights",
                "--device",
                "cpu",
                "--dimensions",
                "subject_consistency,temporal_flickering",
                "--image-model",
                IMAGE_MODEL,
                "--image-fallback-models",
                "none",
                "--video-model",
                VIDEO_MODEL,
                "--video-fallback-models",
                "none",
                "--poll-interval",
                "0.05",
                "--retry-base-ms",
                "50",
                "--prefer-wait",
                "1",
                "--request-timeout",
                "10",
                "--output-dir",
                "out",
            ])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    fn run(&self, args: &[&str], stdin: Option<&[u8]>, env: &[(&str, &str)]) -> Output {
        let mut c = self.cmd(args);
        for (k, v) in env {
            c.env(k, v);
        }
        c.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        let mut child = c.spawn().unwrap();
        if let Some(d) = stdin {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(d).unwrap();
        }
        child.wait_with_output().unwrap()
    }

    fn loop_dir(&self) -> PathBuf {
        generate_support::only_run_dir(&self.root.join("out"))
    }
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// The summary's total equals the sum of its stage costs, and each stage's cost is the
/// checkpoint's.
fn check_costs(dir: &Path) -> f64 {
    let s = json(&dir.join("workflow_summary.json"));
    let cp = json(&dir.join("checkpoint.json"));
    let stages = s["stages"].as_array().unwrap();
    let sum: f64 = stages.iter().map(|x| x["cost_usd"].as_f64().unwrap()).sum();
    let total = s["end_to_end_metrics"]["total_cost_usd"].as_f64().unwrap();
    assert!((sum - total).abs() < 1e-12, "total {total} != sum {sum}");
    for (a, b) in stages.iter().zip(cp["stages"].as_array().unwrap()) {
        assert_eq!(a["cost_usd"], b["cost_usd"]);
        assert_eq!(
            s["end_to_end_metrics"]["cost_per_stage_usd"][a["stage_name"].as_str().unwrap()],
            a["cost_usd"]
        );
    }
    total
}

#[test]
fn full_workflow_with_llm_server_runs_every_stage_in_order() {
    let st = setup();
    let llm = enhance_support::MockLlm::start();
    st.images(2);
    st.videos(2);
    let o = st.run(
        &[
            "prompt.txt",
            "--num-image-variations",
            "2",
            "--num-video-attempts",
            "2",
            "--max-iterations-image",
            "2",
            "--max-iterations-video",
            "2",
            "--llm",
            "openai",
            "--llm-base-url",
            &llm.base_url,
        ],
        None,
        &[("OPENAI_API_KEY", enhance_support::KEY)],
    );
    assert!(o.status.success(), "{}", text(&o));
    let dir = st.loop_dir();
    assert_eq!(
        entries(&dir),
        [
            "00_start_prompt.txt",
            "checkpoint.json",
            "index.html",
            "stage_01_image_prompt",
            "stage_02_image_generation",
            "stage_04_video_prompt",
            "stage_05_video_generation",
            "workflow_summary.json",
        ]
    );
    let s = json(&dir.join("workflow_summary.json"));
    assert_eq!(s["workflow_mode"], "full");
    assert_eq!(s["status"], "completed");
    let names: Vec<&str> = s["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["stage_name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "image_prompt",
            "image_generation",
            "video_prompt",
            "video_generation"
        ]
    );
    // stage 2 used stage 1's prompt; stage 5 is image-to-video from stage 2's best image
    let st1 = &s["stages"][0];
    let st2 = &s["stages"][1];
    let st5 = &s["stages"][3];
    assert_eq!(st2["inputs"]["prompt"], st1["outputs"]["final_prompt"]);
    assert_eq!(
        st2["outputs"]["best_image"],
        "stage_02_image_generation/image_001.png"
    );
    assert_eq!(st5["inputs"]["mode"], "image-to-video");
    assert_eq!(st5["inputs"]["hero_frame"], st2["outputs"]["best_image"]);
    assert!(dir
        .join("stage_02_image_generation/image_001.png")
        .is_file());
    assert!(dir
        .join("stage_01_image_prompt/prompt_trace_summary.json")
        .is_file());
    assert!(dir
        .join("stage_04_video_prompt/prompt_trace_summary.json")
        .is_file());
    assert!(dir
        .join("stage_05_video_generation/video_001.mp4")
        .is_file());
    assert!(dir.join("stage_05_video_generation/index.html").is_file());
    assert_eq!(
        s["final_outputs"]["best_video"],
        "stage_05_video_generation/video_001.mp4"
    );
    assert!(s["final_outputs"]["final_prompts"]["video_prompt"].is_string());
    // scores at each stage: prompt rubric, image metrics, VBench
    let q = &s["end_to_end_metrics"]["quality_scores_at_each_stage"];
    assert!(q["image_prompt"]["overall"].is_number(), "{q}");
    assert!(q["video_prompt"]["overall"].is_number(), "{q}");
    assert!(
        q["video_generation"]["best_video"]["scores"]["subject_consistency"].is_number(),
        "{q}"
    );
    assert!(q["image_generation"]["best_image"].is_object(), "{q}");
    // costs: LLM calls + 2 images + 2 videos, summed per stage and in total
    let total = check_costs(&dir);
    assert!(s["stages"][0]["cost_usd"].as_f64().unwrap() > 0.0);
    assert!((s["stages"][1]["cost_usd"].as_f64().unwrap() - 2.0 * 0.003).abs() < 1e-9);
    assert!(total > 0.006);
    assert_eq!(st.creates(IMAGE_MODEL), 2);
    assert_eq!(st.creates(VIDEO_MODEL), 2);
    // the video model got the hero frame
    let vid = st
        .api
        .requests()
        .into_iter()
        .find(|r| r.path.contains("kling"))
        .unwrap();
    assert!(vid.body.to_string().contains("data:image/png;base64"));
    // index.html links the stage reports relatively
    let html = std::fs::read_to_string(dir.join("index.html")).unwrap();
    assert!(html.contains("href=\"stage_05_video_generation/index.html\""));
    assert!(html.contains("href=\"stage_02_image_generation/index.html\""));
    assert!(html.contains("src=\"stage_02_image_generation/image_001.png\""));
    assert!(!html.contains(&dir.display().to_string()));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("total cost:") && out.contains("best video:"),
        "{out}"
    );
}

#[test]
fn partial_workflows_make_exactly_their_stages() {
    let st = setup();
    // image-only
    st.images(2);
    let o = st.run(
        &[
            "prompt.txt",
            "--workflow",
            "image-only",
            "--num-image-variations",
            "2",
            "--llm",
            "offline",
        ],
        None,
        &[],
    );
    assert!(o.status.success(), "{}", text(&o));
    let dir = st.loop_dir();
    let stages: Vec<String> = entries(&dir)
        .into_iter()
        .filter(|e| e.starts_with("stage_"))
        .collect();
    assert_eq!(
        stages,
        ["stage_01_image_prompt", "stage_02_image_generation"]
    );
    assert_eq!(
        json(&dir.join("workflow_summary.json"))["workflow_mode"],
        "image-only"
    );
    check_costs(&dir);
    assert_eq!(st.creates(VIDEO_MODEL), 0);
    std::fs::remove_dir_all(st.root.join("out")).unwrap();

    // prompt-only: nothing created on the provider
    let before = st.api.requests().len();
    let o = st.run(
        &[
            "prompt.txt",
            "--workflow",
            "prompt-only",
            "--llm",
            "offline",
        ],
        None,
        &[],
    );
    assert!(o.status.success(), "{}", text(&o));
    let dir = st.loop_dir();
    let stages: Vec<String> = entries(&dir)
        .into_iter()
        .filter(|e| e.starts_with("stage_"))
        .collect();
    assert_eq!(stages, ["stage_01_image_prompt", "stage_04_video_prompt"]);
    assert_eq!(st.api.requests().len(), before);
    assert_eq!(check_costs(&dir), 0.0);
    std::fs::remove_dir_all(st.root.join("out")).unwrap();

    // video-only with a storyboard: stages 3, 4, 5; stage 5 one video per clip from the frames
    st.images(4);
    st.videos(2);
    let o = st.run(
        &[
            "prompt.txt",
            "--workflow",
            "video-only",
            "--storyboard-clips",
            "2",
            "--num-video-attempts",
            "1",
            "--llm",
            "offline",
        ],
        None,
        &[],
    );
    assert!(o.status.success(), "{}", text(&o));
    let dir = st.loop_dir();
    let stages: Vec<String> = entries(&dir)
        .into_iter()
        .filter(|e| e.starts_with("stage_"))
        .collect();
    assert_eq!(
        stages,
        [
            "stage_03_storyboard",
            "stage_04_video_prompt",
            "stage_05_video_generation"
        ]
    );
    let s = json(&dir.join("workflow_summary.json"));
    assert_eq!(s["stages"][2]["inputs"]["mode"], "storyboard");
    assert!(dir
        .join("stage_05_video_generation/clip_01/video_001.mp4")
        .is_file());
    assert!(dir
        .join("stage_05_video_generation/clip_02/video_001.mp4")
        .is_file());
    assert!(dir
        .join("stage_04_video_prompt/storyboard_enhanced_motion_prompts.json")
        .is_file());
    check_costs(&dir);
    // prompt-only refuses a storyboard
    let o = st.run(
        &[
            "prompt.txt",
            "--workflow",
            "prompt-only",
            "--storyboard-clips",
            "2",
            "--llm",
            "offline",
        ],
        None,
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

#[test]
fn sigkill_during_stage_5_resumes_without_paying_finished_videos_again() {
    let st = setup();
    // attempts 1 and 2 finish; attempt 3 stays processing until the process is killed; the
    // resumed run's attempt 3 gets the fourth script
    st.api.script(
        VIDEO_MODEL,
        [
            Script::Succeed {
                url: st.clip_urls[0].clone(),
                predict_time: 5.0,
                polls: 0,
            },
            Script::Succeed {
                url: st.clip_urls[1].clone(),
                predict_time: 5.0,
                polls: 0,
            },
            Script::Stuck,
            Script::Succeed {
                url: st.clip_urls[2].clone(),
                predict_time: 5.0,
                polls: 0,
            },
        ],
    );
    let args = [
        "prompt.txt",
        "--workflow",
        "video-only",
        "--num-video-attempts",
        "3",
        "--llm",
        "offline",
        "--prediction-timeout",
        "300",
    ];
    let mut child = st.cmd(&args).stdin(Stdio::null()).spawn().unwrap();
    let t0 = Instant::now();
    loop {
        // the third create has been made: two videos are finished and recorded
        if st.creates(VIDEO_MODEL) >= 3 {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "stage 5 never reached its third attempt"
        );
        if let Some(s) = child.try_wait().unwrap() {
            panic!("exited early: {s:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    let _ = child.wait();
    let dir = st.loop_dir();
    let cp = json(&dir.join("checkpoint.json"));
    let v = cp["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage_name"] == "video_generation")
        .unwrap()
        .clone();
    assert_eq!(v["status"], "running");
    assert_eq!(v["progress"]["succeeded"], 2, "{v}");
    let paid_before = v["cost_usd"].as_f64().unwrap();
    assert!(paid_before > 0.0);

    let o = st.run(
        &[
            "--resume",
            dir.join("checkpoint.json").to_str().unwrap(),
            "--llm",
            "offline",
            "--prediction-timeout",
            "300",
        ],
        None,
        &[],
    );
    assert!(o.status.success(), "{}", text(&o));
    // 3 creates before the kill + 1 after: the two finished videos were not created again
    assert_eq!(st.creates(VIDEO_MODEL), 4);
    let s = json(&dir.join("workflow_summary.json"));
    assert_eq!(s["status"], "completed");
    assert_eq!(
        s["workflow_trace"]["resumed_at"].as_array().unwrap().len(),
        1
    );
    let trace = json(&dir.join("stage_05_video_generation/generation_trace.json"));
    let vids = trace["groups"][0]["videos"].as_array().unwrap();
    assert_eq!(vids.len(), 3);
    assert!(vids
        .iter()
        .all(|v| v["file"].is_string() && v["vbench_scores"].is_object()));
    let notes = trace["notes"].to_string();
    assert!(
        notes.contains("attempt 1: reused") && notes.contains("attempt 2: reused"),
        "{notes}"
    );
    for i in 1..=3 {
        assert!(dir
            .join(format!("stage_05_video_generation/video_{i:03}.mp4"))
            .is_file());
    }
    // the two finished videos are counted once; the third adds its own cost
    let total = check_costs(&dir);
    let stage5 = s["stages"][1]["cost_usd"].as_f64().unwrap();
    assert!(
        (stage5 - paid_before * 1.5).abs() < 1e-9,
        "{stage5} vs {paid_before}"
    );
    assert!((total - stage5).abs() < 1e-12);
    // the other stage was not run again
    assert_eq!(s["stages"][0]["tries"], 1);
}

#[test]
fn interactive_mode_retry_feedback_accept_through_stdin() {
    let st = setup();
    let o = st.run(
        &[
            "prompt.txt",
            "--workflow",
            "prompt-only",
            "--interactive",
            "--llm",
            "offline",
        ],
        Some(b"r\nmore neon lights\n\n\n"),
        &[("VBENCH_GENERATE_INTERACTIVE_STDIN", "1")],
    );
    assert!(o.status.success(), "{}", text(&o));
    let dir = st.loop_dir();
    let cp = json(&dir.join("checkpoint.json"));
    let actions: Vec<&str> = cp["feedback"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["retry", "feedback", "accept", "accept"]);
    assert_eq!(cp["feedback"][1]["text"], "more neon lights");
    let s = json(&dir.join("workflow_summary.json"));
    let s1 = &s["stages"][0];
    assert_eq!(s1["tries"], 3);
    assert_eq!(s1["feedback"], "more neon lights");
    assert!(s1["inputs"]["prompt"]
        .as_str()
        .unwrap()
        .contains("more neon lights"));
    assert_eq!(s1["earlier_tries"].as_array().unwrap().len(), 2);
    assert_eq!(s["stages"][1]["tries"], 1);
    assert_eq!(
        entries(&dir.join("retries")),
        [
            "stage_01_image_prompt_try01_01",
            "stage_01_image_prompt_try02_01"
        ]
    );
    assert_eq!(s["workflow_trace"]["feedback"], cp["feedback"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("r = retry this stage"), "{err}");

    // without a terminal (and without the test hook) --interactive is off
    std::fs::remove_dir_all(st.root.join("out")).unwrap();
    let o = st.run(
        &[
            "prompt.txt",
            "--workflow",
            "prompt-only",
            "--interactive",
            "--llm",
            "offline",
        ],
        Some(b"r\n"),
        &[],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--interactive is off"));
    let cp = json(&st.loop_dir().join("checkpoint.json"));
    assert!(cp["feedback"].as_array().unwrap().is_empty());
}

#[test]
fn bad_checkpoints_are_refused() {
    let st = setup();
    let o = st.run(
        &[
            "prompt.txt",
            "--workflow",
            "prompt-only",
            "--llm",
            "offline",
        ],
        None,
        &[],
    );
    assert!(o.status.success(), "{}", text(&o));
    let dir = st.loop_dir();
    let cp_path = dir.join("checkpoint.json");
    let good = std::fs::read_to_string(&cp_path).unwrap();
    let resume = |st: &Setup| {
        st.run(
            &["--resume", cp_path.to_str().unwrap(), "--llm", "offline"],
            None,
            &[],
        )
    };
    // another version
    let mut v: serde_json::Value = serde_json::from_str(&good).unwrap();
    v["version"] = "0.0.1-other".into();
    std::fs::write(&cp_path, v.to_string()).unwrap();
    let o = resume(&st);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("0.0.1-other") && err.contains("cannot resume"),
        "{err}"
    );
    // a finished stage's file is missing
    std::fs::write(&cp_path, &good).unwrap();
    std::fs::remove_file(dir.join("stage_01_image_prompt/prompt_trace_summary.json")).unwrap();
    let o = resume(&st);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("missing") && err.contains("stage_01_image_prompt/prompt_trace_summary.json"),
        "{err}"
    );
    // not a checkpoint at all
    std::fs::write(&cp_path, "{\"tool\": \"something-else\"}").unwrap();
    let o = resume(&st);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a feedback-loop checkpoint"));
}

#[test]
fn ctrl_c_leaves_a_resumable_checkpoint_and_prints_the_resume_command() {
    let st = setup();
    st.api.script(
        VIDEO_MODEL,
        [
            Script::Succeed {
                url: st.clip_urls[0].clone(),
                predict_time: 5.0,
                polls: 0,
            },
            Script::Stuck,
            Script::Succeed {
                url: st.clip_urls[1].clone(),
                predict_time: 5.0,
                polls: 0,
            },
        ],
    );
    let args = [
        "prompt.txt",
        "--workflow",
        "video-only",
        "--num-video-attempts",
        "2",
        "--llm",
        "offline",
        "--prediction-timeout",
        "300",
    ];
    let child = st.cmd(&args).stdin(Stdio::null()).spawn().unwrap();
    let t0 = Instant::now();
    while st.creates(VIDEO_MODEL) < 2 {
        assert!(t0.elapsed() < Duration::from_secs(60), "no second attempt");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    let st_kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st_kill.success());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    let dir = st.loop_dir();
    let cp_path = dir.join("checkpoint.json");
    assert!(
        err.contains(&format!("feedback-loop --resume {}", cp_path.display())),
        "{err}"
    );
    let cp = json(&cp_path);
    assert_eq!(cp["status"], "interrupted");
    assert_eq!(cp["stages"][1]["status"], "interrupted");
    assert_eq!(
        json(&dir.join("workflow_summary.json"))["status"],
        "interrupted"
    );
    let o = st.run(
        &["--resume", cp_path.to_str().unwrap(), "--llm", "offline"],
        None,
        &[],
    );
    assert!(o.status.success(), "{}", text(&o));
    // attempt 1 reused, attempt 2 made again (it never finished)
    assert_eq!(st.creates(VIDEO_MODEL), 3);
    check_costs(&dir);
}

#[test]
fn sigkill_during_stage_2_resumes_without_paying_finished_images_again() {
    let st = setup();
    st.api.script(
        IMAGE_MODEL,
        [
            Script::Succeed {
                url: st.png_url.clone(),
                predict_time: 1.0,
                polls: 0,
            },
            Script::Stuck,
            Script::Succeed {
                url: st.png_url.clone(),
                predict_time: 1.0,
                polls: 0,
            },
        ],
    );
    let args = [
        "prompt.txt",
        "--workflow",
        "image-only",
        "--num-image-variations",
        "2",
        "--llm",
        "offline",
        "--prediction-timeout",
        "300",
    ];
    let mut child = st.cmd(&args).stdin(Stdio::null()).spawn().unwrap();
    let t0 = Instant::now();
    while st.creates(IMAGE_MODEL) < 2 {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "no second variation"
        );
        if let Some(s) = child.try_wait().unwrap() {
            panic!("exited early: {s:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    let _ = child.wait();
    let dir = st.loop_dir();
    let o = st.run(
        &["--resume", dir.to_str().unwrap(), "--llm", "offline"],
        None,
        &[],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(st.creates(IMAGE_MODEL), 3);
    let trace = json(&dir.join("stage_02_image_generation/generation_trace.json"));
    assert_eq!(trace["images"].as_array().unwrap().len(), 2);
    assert!(trace["notes"].to_string().contains("variation 1: reused"));
    assert!(dir
        .join("stage_02_image_generation/image_002.png")
        .is_file());
    let s = json(&dir.join("workflow_summary.json"));
    assert!((s["stages"][1]["cost_usd"].as_f64().unwrap() - 2.0 * 0.003).abs() < 1e-9);
    check_costs(&dir);
}

#[test]
fn prompt_only_needs_no_replicate_token() {
    let st = setup();
    let run = |args: &[&str]| {
        let mut c = st.cmd(args);
        c.env_remove("REPLICATE_API_TOKEN").stdin(Stdio::null());
        c.output().unwrap()
    };
    let o = run(&[
        "prompt.txt",
        "--workflow",
        "prompt-only",
        "--llm",
        "offline",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let dir = st.loop_dir();
    assert_eq!(
        json(&dir.join("workflow_summary.json"))["status"],
        "completed"
    );
    // resuming a prompt-only checkpoint needs none either
    let o = run(&["--resume", dir.to_str().unwrap(), "--llm", "offline"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(st.api.requests().is_empty());
    // a workflow that generates still demands it, before anything is made
    std::fs::remove_dir_all(st.root.join("out")).unwrap();
    let o = run(&["prompt.txt", "--workflow", "image-only", "--llm", "offline"]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no Replicate token"),
        "{}",
        text(&o)
    );
    assert!(st.api.requests().is_empty());
}

#[test]
fn sigkill_during_stage_3_resumes_without_paying_finished_frames_again() {
    let st = setup();
    // 2 clips = 4 frames: frames 1 and 2 finish, frame 3 stays processing until the kill; the
    // resumed run's frames 3 and 4 get the last two scripts
    let ok = || Script::Succeed {
        url: st.png_url.clone(),
        predict_time: 1.0,
        polls: 0,
    };
    st.api
        .script(IMAGE_MODEL, [ok(), ok(), Script::Stuck, ok(), ok()]);
    st.videos(2);
    let args = [
        "prompt.txt",
        "--workflow",
        "video-only",
        "--storyboard-clips",
        "2",
        "--num-video-attempts",
        "1",
        "--llm",
        "offline",
        "--prediction-timeout",
        "300",
    ];
    let mut child = st.cmd(&args).stdin(Stdio::null()).spawn().unwrap();
    let t0 = Instant::now();
    while st.creates(IMAGE_MODEL) < 3 {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "stage 3 never reached its third frame"
        );
        if let Some(s) = child.try_wait().unwrap() {
            panic!("exited early: {s:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    let _ = child.wait();
    let dir = st.loop_dir();
    let cp = json(&dir.join("checkpoint.json"));
    let sb = cp["stages"][0].clone();
    assert_eq!(sb["stage_name"], "storyboard");
    assert_eq!(sb["status"], "running");
    assert!(sb["progress"]["plan"].is_object(), "{sb}");
    let paid_before = sb["cost_usd"].as_f64().unwrap();
    assert!((paid_before - 2.0 * 0.003).abs() < 1e-9, "{sb}");

    let o = st.run(
        &[
            "--resume",
            dir.to_str().unwrap(),
            "--llm",
            "offline",
            "--prediction-timeout",
            "300",
        ],
        None,
        &[],
    );
    assert!(o.status.success(), "{}", text(&o));
    // 3 creates before the kill + 2 after: frames 1 and 2 were not created again
    assert_eq!(st.creates(IMAGE_MODEL), 5);
    assert_eq!(st.creates(VIDEO_MODEL), 2);
    let trace = json(&dir.join("stage_03_storyboard/storyboard_trace.json"));
    let preds = trace["predictions"].as_array().unwrap();
    assert_eq!(preds.len(), 4);
    let reused: Vec<bool> = preds.iter().map(|p| p["reused"] == true).collect();
    assert_eq!(reused, [true, true, false, false]);
    let meta = json(&dir.join("stage_03_storyboard/storyboard_metadata.json"));
    for c in meta["clips"].as_array().unwrap() {
        for k in ["start_frame_path", "end_frame_path"] {
            let f = c[k].as_str().unwrap();
            assert!(dir.join("stage_03_storyboard").join(f).is_file(), "{f}");
        }
    }
    // the stage was resumed, not set aside and run again
    assert!(!dir.join("retries").exists());
    let s = json(&dir.join("workflow_summary.json"));
    assert_eq!(s["status"], "completed");
    // each of the four frames is counted once
    assert!((s["stages"][0]["cost_usd"].as_f64().unwrap() - 4.0 * 0.003).abs() < 1e-9);
    check_costs(&dir);
}

#[test]
fn sigkill_during_stage_1_resumes_without_repeating_finished_llm_calls() {
    use enhance_support::{image_critique, MockLlm, Reply, DEFAULT_DIRECTOR};
    let st = setup();
    let llm = MockLlm::start();
    // stage 1: director 1 and critique 1 (50: another iteration) finish; director 2 hangs until
    // the process is killed; the resumed director 2 gets another prompt (so that critique 2's
    // request differs from critique 1's)
    llm.push("prompt_engineer", [image_critique(50.0)]);
    llm.push(
        "director",
        [
            Reply::Chat(DEFAULT_DIRECTOR.into()),
            Reply::Hang(Duration::from_secs(120)),
            Reply::Chat(
                "Low-angle close-up: a cat walks along a beach at dusk, soft rim light.".into(),
            ),
        ],
    );
    let llm_args = ["--llm", "openai", "--llm-base-url", llm.base_url.as_str()];
    let mut args = vec![
        "prompt.txt",
        "--workflow",
        "prompt-only",
        "--max-iterations-image",
        "2",
        "--max-iterations-video",
        "1",
    ];
    args.extend(llm_args);
    let mut child = st
        .cmd(&args)
        .env("OPENAI_API_KEY", enhance_support::KEY)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while llm.requests_for("director").len() < 2 {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "stage 1 never reached its second director call"
        );
        if let Some(s) = child.try_wait().unwrap() {
            panic!("exited early: {s:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    let _ = child.wait();
    let before: Vec<serde_json::Value> = llm
        .requests
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.body.clone())
        .collect();
    assert_eq!(before.len(), 3, "director 1, critique 1, director 2");
    let dir = st.loop_dir();
    assert!(dir.join("stage_01_image_prompt.llm_journal.json").is_file());

    let mut args = vec!["--resume", dir.to_str().unwrap()];
    args.extend(llm_args);
    let o = st.run(&args, None, &[("OPENAI_API_KEY", enhance_support::KEY)]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("2 LLM call(s) replayed"),
        "{}",
        text(&o)
    );
    let all: Vec<serde_json::Value> = llm
        .requests
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.body.clone())
        .collect();
    let count = |b: &serde_json::Value| all.iter().filter(|x| *x == b).count();
    // the two finished calls were sent once; the one in flight at the kill is sent again
    assert_eq!(count(&before[0]), 1);
    assert_eq!(count(&before[1]), 1);
    assert_eq!(count(&before[2]), 2);
    // after the resume: stage 1's director 2 and critique 2 (90 stops it), stage 4's director
    // and critique; nothing else
    assert_eq!(llm.requests_for("director").len(), 2 + 2, "{}", text(&o));
    assert_eq!(llm.requests_for("prompt_engineer").len(), 1 + 2);
    let j = json(&dir.join("stage_01_image_prompt/llm_journal.json"));
    assert_eq!(j["calls"].as_array().unwrap().len(), 4);
    assert!(!dir.join("stage_01_image_prompt.llm_journal.json").exists());
    let s = json(&dir.join("workflow_summary.json"));
    assert_eq!(s["status"], "completed");
    assert_eq!(s["stages"][0]["outputs"]["total_iterations"], 2);
    check_costs(&dir);
}
