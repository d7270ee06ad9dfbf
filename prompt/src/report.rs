//! The console summary: iteration table, final prompt, cost and time per step.

use std::fmt::Write;

use crate::agents::CallRecord;
use crate::enhance::{LoopRun, TraceSummary};
use crate::rubric::{PromptKind, Scores};

fn kind_of(s: &TraceSummary) -> PromptKind {
    if s.tool == "enhance-image-prompt" {
        PromptKind::Image
    } else {
        PromptKind::Video
    }
}

fn score_row(out: &mut String, label: &str, sc: &Scores) {
    let _ = write!(out, "{label:<10}|");
    for (_, v) in &sc.values {
        let _ = write!(out, " {v:>6.1}");
    }
    let _ = writeln!(out, " | {:>7.1}", sc.overall);
}

fn loop_table(out: &mut String, kind: PromptKind, run: &LoopRun) {
    let _ = write!(out, "{:<10}|", "iteration");
    for d in kind.dimensions() {
        let _ = write!(out, " {:>6}", d.short);
    }
    let _ = writeln!(out, " | {:>7}", "Overall");
    if let Some(a) = &run.initial_assessment {
        score_row(out, "initial", &a.scores);
    }
    for it in &run.iterations {
        score_row(out, &it.iteration_num.to_string(), &it.scores);
    }
    if let Some(r) = run.stop_reason {
        let _ = writeln!(
            out,
            "stopped: {}",
            serde_json::to_value(r)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        );
    }
}

fn calls_table(out: &mut String, calls: &[CallRecord]) {
    let _ = writeln!(
        out,
        "{:<24} {:<18} {:>8} {:>8} {:>11} {:>8} {:>4}",
        "step", "model", "tok in", "tok out", "cost USD", "time s", "try"
    );
    for c in calls {
        let _ = writeln!(
            out,
            "{:<24} {:<18} {:>8} {:>8} {:>11} {:>8.2} {:>4}",
            c.step,
            c.model.chars().take(18).collect::<String>(),
            c.prompt_tokens,
            c.completion_tokens,
            c.cost_usd
                .map(|x| format!("{x:.6}"))
                .unwrap_or_else(|| "unpriced".into()),
            c.elapsed_seconds,
            c.attempts
        );
    }
}

pub fn render(s: &TraceSummary) -> String {
    let mut out = String::new();
    let kind = kind_of(s);
    let _ = writeln!(
        out,
        "{} ({}; backend {}, director {}, engineer {})",
        s.tool, s.mode, s.backend, s.creative_model, s.critique_model
    );
    if let Some(run) = &s.run {
        loop_table(&mut out, kind, run);
        let _ = writeln!(
            out,
            "\nFinal prompt:\n{}\n",
            run.final_prompt.as_deref().unwrap_or("(none)")
        );
        if let Some(m) = &s.motion {
            let _ = writeln!(
                out,
                "Camera movement: {} | motion intensity: {}\nFrame rate: {}\nNegative prompt: {}\n",
                m.camera_movement, m.motion_intensity, m.frame_rate_notes, m.negative_prompt
            );
        }
        if let Some(p) = &s.videodirectorgpt_plan {
            let _ = writeln!(
                out,
                "VideoDirectorGPT plan: {} shots, {} dependencies, {} consistency groups\n",
                p.shots.len(),
                p.scene_dependencies.len(),
                p.consistency_groups.len()
            );
        }
        calls_table(&mut out, &run.calls);
    }
    if let Some(clips) = &s.clips {
        for c in clips {
            let _ = writeln!(
                out,
                "\nclip {} [{}]: {} iteration(s), {}",
                c.clip_id,
                c.status,
                c.total_iterations,
                c.scores
                    .as_ref()
                    .map(|x| format!("overall {:.1}", x.overall))
                    .unwrap_or_else(|| "no score".into())
            );
            if let Some(sc) = &c.scores {
                score_row(&mut out, "final", sc);
            }
            if let Some(p) = &c.enhanced_motion_prompt {
                let _ = writeln!(out, "motion prompt: {p}");
            }
            if let Some(e) = &c.error {
                let _ = writeln!(out, "error: {e}");
            }
        }
    }
    let t = &s.cost;
    let _ = writeln!(
        out,
        "\nTotal: {} call(s), {} tokens ({} in / {} out), ${:.6}{}, LLM time {:.2} s, wall time {:.2} s",
        t.calls,
        t.total_tokens,
        t.prompt_tokens,
        t.completion_tokens,
        t.total_cost_usd,
        if t.unpriced_models.is_empty() { String::new() } else { format!(" (unpriced: {})", t.unpriced_models.join(", ")) },
        t.llm_seconds,
        s.elapsed_seconds
    );
    let _ = writeln!(out, "Trace: {}", s.trace_dir);
    out
}
