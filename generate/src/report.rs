//! `index.html` of a run folder: per group (round or clip) every video with its poster frame
//! (the middle frame, decoded with the scorer's video module and written as PNG), rank, the
//! "system-selected best" mark, per-dimension bars, prompt, model and cost, plus the failed
//! attempts. Self-contained (inline CSS, no external resources); links are relative, so the
//! folder can be moved or opened from disk. A tiny inline script reports how many posters
//! loaded (`#poster-check`), which the tests read from headless Chromium.

use std::path::{Path, PathBuf};

use crate::videos::{write_atomic, RunError, Trace};

pub const REPORT_FILE: &str = "index.html";

pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// Writes the middle frame of `video` as a PNG, at most 480 pixels wide.
pub fn poster(video: &Path, png: &Path) -> Result<(), String> {
    use vbench_scorer::video::{self, ReaderKind};
    let meta = video::probe(video, false).map_err(|e| e.to_string())?;
    let target = (meta.declared_frames / 2) as usize;
    let mut got: Option<video::Frame> = None;
    let r = video::for_each_frame(video, &[ReaderKind::Decord], |i, frames| {
        got = Some(frames[0].1.clone());
        if i >= target {
            return Err(vbench_scorer::VideoErrorKind::Decode("poster taken".into()));
        }
        Ok(())
    });
    let frame = match (r, got) {
        (_, Some(f)) => f,
        (Err(e), None) => return Err(e.to_string()),
        (Ok(_), None) => return Err("the video has no frames".into()),
    };
    let img = image::RgbImage::from_raw(frame.width as u32, frame.height as u32, frame.data)
        .ok_or("frame buffer does not match its size")?;
    let img = if img.width() > 480 {
        let h = (img.height() as u64 * 480 / img.width() as u64).max(1) as u32;
        image::imageops::resize(&img, 480, h, image::imageops::FilterType::Triangle)
    } else {
        img
    };
    if let Some(d) = png.parent() {
        std::fs::create_dir_all(d).map_err(|e| e.to_string())?;
    }
    img.save(png).map_err(|e| e.to_string())
}

fn bar_fraction(dim: &str, v: f64) -> f64 {
    let v = if dim == "imaging_quality" {
        v / 100.0
    } else {
        v
    };
    v.clamp(0.0, 1.0)
}

const CSS: &str = r#"
body{font-family:system-ui,sans-serif;margin:2em;color:#222;background:#fafafa}
h1{font-size:1.4em} h2{font-size:1.15em;margin-top:2em}
.summary{background:#fff;border:1px solid #ddd;padding:.8em 1em;border-radius:6px}
.grid{display:flex;flex-wrap:wrap;gap:1em}
.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:.8em;width:380px}
.card.best{border:2px solid #2a7;box-shadow:0 0 0 3px #cfe}
.card img{width:100%;border-radius:4px;background:#000}
.badge{display:inline-block;background:#2a7;color:#fff;border-radius:3px;padding:0 .4em;font-size:.85em}
.rank{font-weight:bold;font-size:1.1em}
.dim{display:flex;align-items:center;gap:.4em;font-size:.8em;margin:.15em 0}
.dim .name{width:13.5em} .dim .val{width:4em;text-align:right}
.bar{flex:1;height:.6em;background:#eee;border-radius:3px;overflow:hidden}
.bar span{display:block;height:100%;background:#48c}
.prompt{white-space:pre-wrap;font-size:.85em;background:#f4f4f4;padding:.4em;border-radius:4px}
.failed{color:#a33} .muted{color:#777;font-size:.85em}
"#;

/// Makes missing posters and writes `index.html`; returns its path.
pub fn write(run_dir: &Path, trace: &mut Trace) -> Result<PathBuf, RunError> {
    for g in trace.groups.iter_mut().filter(|g| g.ranked) {
        for v in g.videos.iter_mut() {
            let (Some(file), Some(rank), None) = (&v.file, v.rank, &v.poster) else {
                continue;
            };
            let name = format!("posters/{}_video_{rank:03}.png", g.name);
            match poster(&run_dir.join(file), &run_dir.join(&name)) {
                Ok(()) => v.poster = Some(name),
                Err(e) => trace.notes.push(format!("no poster for {file}: {e}")),
            }
        }
    }
    let mut h = String::new();
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    h.push_str("<title>generate-videos report</title><style>");
    h.push_str(CSS);
    h.push_str("</style></head><body>\n");
    h.push_str(&format!(
        "<h1>generate-videos: {} run</h1>\n<div class=\"summary\"><div>status: <b id=\"status\">{}</b></div>",
        escape(&trace.mode),
        escape(&trace.status)
    ));
    h.push_str(&format!(
        "<div>model: <code>{}</code>; fallbacks: {}</div>",
        escape(&trace.model),
        escape(&trace.fallback_models.join(", "))
    ));
    h.push_str(&format!(
        "<div>total cost: <b id=\"total-cost\">{:.4} USD</b> ({} predictions, {} succeeded){}</div>",
        trace.costs.total_usd,
        trace.costs.predictions,
        trace.costs.succeeded,
        trace
            .costs
            .max_cost_usd
            .map(|m| format!("; --max-cost {m:.4} USD"))
            .unwrap_or_default()
    ));
    h.push_str(&format!(
        "<div>time: generation {:.1} s, scoring {:.1} s</div>",
        trace.timings.generation_seconds, trace.timings.scoring_seconds
    ));
    if let Some(hf) = &trace.hero_frame_path {
        h.push_str(&format!(
            "<div>hero frame: <code>{}</code></div>",
            escape(hf)
        ));
    }
    if let Some(skipped) = trace
        .scoring
        .get("skipped_dimensions")
        .and_then(|s| s.as_array())
        .filter(|a| !a.is_empty())
    {
        let names: Vec<String> = skipped
            .iter()
            .filter_map(|s| s.get("dimension").and_then(|d| d.as_str()))
            .map(escape)
            .collect();
        h.push_str(&format!(
            "<div class=\"muted\">skipped dimensions: <span id=\"skipped\">{}</span> (reasons in generation_trace.json)</div>",
            names.join(", ")
        ));
    }
    h.push_str(
        "<div class=\"muted\">posters loaded: <span id=\"poster-check\">not checked</span></div>",
    );
    h.push_str("<div><a href=\"generation_trace.json\">generation_trace.json</a></div></div>\n");
    for g in &trace.groups {
        h.push_str(&format!("<h2>{}</h2>\n", escape(&g.name)));
        h.push_str(&format!(
            "<div class=\"prompt\">{}</div>\n",
            escape(&g.prompt)
        ));
        h.push_str("<div class=\"grid\">\n");
        for v in &g.videos {
            let Some(file) = &v.file else { continue };
            let best = v.system_selected_best;
            h.push_str(&format!(
                "<div class=\"card{}\" data-rank=\"{}\" data-total=\"{}\">",
                if best { " best" } else { "" },
                v.rank.unwrap_or(0),
                v.vbench_scores
                    .as_ref()
                    .and_then(|s| s.total)
                    .map(|t| format!("{t:.6}"))
                    .unwrap_or_default()
            ));
            if let Some(p) = &v.poster {
                h.push_str(&format!(
                    "<a href=\"{0}\"><img class=\"poster\" src=\"{1}\" alt=\"poster of {0}\"></a>",
                    escape(file),
                    escape(p)
                ));
            }
            h.push_str(&format!(
                "<div><span class=\"rank\">#{}</span> <a href=\"{1}\">{1}</a> {2}</div>",
                v.rank.unwrap_or(0),
                escape(file),
                if best {
                    "<span class=\"badge\">system-selected best</span>"
                } else {
                    ""
                }
            ));
            if g.selected.as_deref() == Some(file.as_str())
                && g.selected_by.as_deref() == Some("user")
            {
                h.push_str("<div class=\"badge\">chosen by the reviewer</div>");
            }
            match v.vbench_scores.as_ref() {
                Some(s) => {
                    h.push_str(&format!(
                        "<div>total: <b class=\"total\">{}</b></div>",
                        s.total
                            .map(|t| format!("{t:.4}"))
                            .unwrap_or_else(|| "-".into())
                    ));
                    for (d, x) in &s.scores {
                        h.push_str(&format!(
                            "<div class=\"dim\"><span class=\"name\">{}</span><span class=\"bar\"><span style=\"width:{:.1}%\"></span></span><span class=\"val\">{x:.4}</span></div>",
                            escape(d),
                            100.0 * bar_fraction(d, *x)
                        ));
                    }
                    for (d, e) in &s.errors {
                        h.push_str(&format!(
                            "<div class=\"dim failed\">{}: {}</div>",
                            escape(d),
                            escape(e)
                        ));
                    }
                }
                None => h.push_str("<div class=\"muted\">not scored</div>"),
            }
            h.push_str(&format!(
                "<div class=\"muted\">model {} · cost {:.4} USD · attempt {}{}</div>",
                escape(v.model.as_deref().unwrap_or("-")),
                v.cost_usd,
                v.attempt,
                if v.fallback_used { " · fallback" } else { "" }
            ));
            h.push_str("</div>\n");
        }
        h.push_str("</div>\n");
        for v in g.videos.iter().filter(|v| v.file.is_none()) {
            h.push_str(&format!(
                "<div class=\"failed\">attempt {} failed: {} (cost {:.4} USD)</div>\n",
                v.attempt,
                escape(v.error.as_deref().unwrap_or("unknown")),
                v.cost_usd
            ));
        }
    }
    h.push_str(
        "<script>window.addEventListener('load',function(){var i=document.querySelectorAll('img.poster'),n=0;i.forEach(function(x){if(x.complete&&x.naturalWidth>0)n++});document.getElementById('poster-check').textContent=n+' of '+i.length});</script>\n",
    );
    h.push_str("</body></html>\n");
    let path = run_dir.join(REPORT_FILE);
    write_atomic(&path, &h)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
