//! `workflow_summary.json` (the spec's `FeedbackLoopResult`), the console summary with the same
//! content, and `index.html` joining the stage reports with relative links.

use std::path::Path;

use serde_json::{json, Map, Value};

use super::state::{Checkpoint, Stage, CHECKPOINT_FILE};
use crate::report::escape;

/// The outputs the workflow ends with: best image, best video, final prompts.
pub fn final_outputs(cp: &Checkpoint) -> Value {
    let out = |s: Stage, k: &str| -> Value {
        cp.stage(s)
            .filter(|r| r.status == "completed")
            .and_then(|r| r.outputs.get(k).cloned())
            .unwrap_or(Value::Null)
    };
    json!({
        "best_image": out(Stage::ImageGeneration, "best_image"),
        "best_video": out(Stage::VideoGeneration, "best_video"),
        "storyboard": out(Stage::Storyboard, "storyboard"),
        "final_prompts": {
            "image_prompt": out(Stage::ImagePrompt, "final_prompt"),
            "video_prompt": out(Stage::VideoPrompt, "final_prompt"),
            "motion_prompt": out(Stage::VideoPrompt, "motion_prompt"),
            "storyboard_enhanced_prompts_file": out(Stage::VideoPrompt, "storyboard_enhanced_prompts_file"),
        },
    })
}

pub fn summary(cp: &Checkpoint) -> Value {
    let mut per_cost = Map::new();
    let mut per_time = Map::new();
    let mut quality = Map::new();
    for s in &cp.stages {
        per_cost.insert(s.stage_name.clone(), json!(s.cost_usd));
        per_time.insert(s.stage_name.clone(), json!(s.seconds));
        quality.insert(s.stage_name.clone(), s.scores.clone());
    }
    let stages: Vec<Value> = cp
        .stages
        .iter()
        .map(|s| {
            json!({
                "stage_name": s.stage_name,
                "number": s.number,
                "folder": s.folder,
                "status": s.status,
                "tries": s.tries,
                "inputs": s.inputs,
                "outputs": s.outputs,
                "scores": s.scores,
                "feedback": s.feedback,
                "cost_usd": s.cost_usd,
                "seconds": s.seconds,
                "error": s.error,
                "started_at": s.started_at,
                "finished_at": s.finished_at,
                "earlier_tries": s.earlier_tries,
            })
        })
        .collect();
    json!({
        "tool": cp.tool,
        "version": cp.version,
        "workflow_mode": cp.plan.workflow.name(),
        "status": cp.status,
        "loop_dir": cp.loop_dir,
        "created_at": cp.created_at,
        "updated_at": cp.updated_at,
        "starting_prompt": cp.plan.prompt,
        "stages": stages,
        "final_outputs": final_outputs(cp),
        "end_to_end_metrics": {
            "total_cost_usd": cp.total_cost(),
            "cost_per_stage_usd": per_cost,
            "total_time_seconds": cp.stages.iter().map(|s| s.seconds).sum::<f64>(),
            "time_per_stage_seconds": per_time,
            "quality_scores_at_each_stage": quality,
        },
        "workflow_trace": {
            "checkpoint": CHECKPOINT_FILE,
            "plan": cp.plan,
            "interactive": cp.interactive,
            "feedback": cp.feedback,
            "resumed_at": cp.resumed_at,
            "notes": cp.notes,
        },
    })
}

/// A one-line view of a stage's scores.
fn score_line(v: &Value) -> String {
    match v {
        Value::Object(m) if !m.is_empty() => {
            let mut parts: Vec<String> = Vec::new();
            for (k, x) in m {
                match x {
                    Value::Number(n) => parts.push(format!("{k} {:.4}", n.as_f64().unwrap_or(0.0))),
                    Value::Object(inner) => {
                        for (k2, y) in inner {
                            if let Some(f) = y.as_f64() {
                                parts.push(format!("{k2} {f:.4}"));
                            }
                        }
                    }
                    _ => {}
                }
            }
            parts.join(", ")
        }
        _ => "-".into(),
    }
}

pub fn console(cp: &Checkpoint, loop_dir: &Path) -> String {
    let mut s = format!(
        "\nfeedback loop ({}) — {}\n{:<3} {:<18} {:<12} {:>10} {:>9}  scores\n",
        cp.plan.workflow.name(),
        cp.status,
        "#",
        "stage",
        "status",
        "cost_usd",
        "seconds"
    );
    for r in &cp.stages {
        s.push_str(&format!(
            "{:<3} {:<18} {:<12} {:>10.4} {:>9.1}  {}\n",
            r.number,
            r.stage_name,
            r.status,
            r.cost_usd,
            r.seconds,
            score_line(&r.scores)
        ));
        if let Some(fb) = &r.feedback {
            s.push_str(&format!("      feedback: {fb}\n"));
        }
    }
    s.push_str(&format!("total cost: {:.4} USD\n", cp.total_cost()));
    let fo = final_outputs(cp);
    let path = |v: &Value| v.as_str().map(|p| loop_dir.join(p).display().to_string());
    if let Some(p) = path(&fo["best_image"]) {
        s.push_str(&format!("best image: {p}\n"));
    }
    if let Some(p) = path(&fo["best_video"]) {
        s.push_str(&format!("best video: {p}\n"));
    }
    for (k, v) in fo["final_prompts"].as_object().into_iter().flatten() {
        if let Some(t) = v.as_str() {
            let one: String = t.split_whitespace().collect::<Vec<_>>().join(" ");
            let short: String = one.chars().take(160).collect();
            s.push_str(&format!(
                "{k}: {short}{}\n",
                if one.chars().count() > 160 { "…" } else { "" }
            ));
        }
    }
    s.push_str(&format!(
        "summary: {}\nreport: {}\n",
        loop_dir.join(super::state::SUMMARY_FILE).display(),
        loop_dir.join("index.html").display()
    ));
    s
}

/// The stage's own report, relative to the loop folder, when it has one.
fn stage_links(loop_dir: &Path, folder: &str) -> Vec<String> {
    [
        "index.html",
        "prompt_trace_summary.json",
        "05_final_enhanced_prompt.txt",
        "storyboard_metadata.json",
        "narrative.md",
        "storyboard_enhanced_motion_prompts.json",
        "generation_trace.json",
    ]
    .iter()
    .map(|f| format!("{folder}/{f}"))
    .filter(|p| loop_dir.join(p).is_file())
    .collect()
}

pub fn index_html(cp: &Checkpoint, loop_dir: &Path) -> String {
    let mut h = String::from(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>feedback loop</title>\n<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top}img,video{max-width:320px}</style></head><body>\n",
    );
    h.push_str(&format!(
        "<h1>Feedback loop — {} ({})</h1>\n<p>Starting prompt: {}</p>\n",
        escape(cp.plan.workflow.name()),
        escape(&cp.status),
        escape(&cp.plan.prompt)
    ));
    h.push_str("<table><tr><th>#</th><th>stage</th><th>status</th><th>cost (USD)</th><th>seconds</th><th>scores</th><th>feedback</th><th>reports</th></tr>\n");
    for r in &cp.stages {
        let links: Vec<String> = stage_links(loop_dir, &r.folder)
            .iter()
            .map(|p| format!("<a href=\"{}\">{}</a>", escape(p), escape(p)))
            .collect();
        h.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.4}</td><td>{:.1}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            r.number,
            escape(&r.stage_name),
            escape(&r.status),
            r.cost_usd,
            r.seconds,
            escape(&score_line(&r.scores)),
            escape(r.feedback.as_deref().unwrap_or("")),
            links.join("<br>")
        ));
    }
    h.push_str(&format!(
        "<tr><th colspan=\"3\">total</th><th>{:.4}</th><th colspan=\"4\"></th></tr></table>\n",
        cp.total_cost()
    ));
    let fo = final_outputs(cp);
    if let Some(p) = fo["best_image"].as_str() {
        h.push_str(&format!(
            "<h2>Best image</h2><img src=\"{0}\" alt=\"best image\"><p>{0}</p>\n",
            escape(p)
        ));
    }
    if let Some(p) = fo["best_video"].as_str() {
        h.push_str(&format!(
            "<h2>Best video</h2><video src=\"{0}\" controls muted loop></video><p>{0}</p>\n",
            escape(p)
        ));
    }
    h.push_str(&format!(
        "<p><a href=\"{}\">workflow_summary.json</a> · <a href=\"{}\">checkpoint.json</a></p>\n</body></html>\n",
        super::state::SUMMARY_FILE,
        CHECKPOINT_FILE
    ));
    h
}
