//! Which prompt (and auxiliary info) each video is scored with.
//!
//! * `--prompt TEXT`: one prompt for every video.
//! * `--prompts FILE`: a JSON map `{video: prompt}` (keys matched by the path as given, its
//!   absolute path, or its file name), as VBench's `--prompt_file`.
//! * otherwise VBench's file-name convention `get_prompt_from_filename`: the stem minus one
//!   trailing `-<digits>` group.
//! * `--full-info FILE` (VBench's prompt-suite JSON, e.g. `VBench_full_info.json`): videos are
//!   matched to records by VBench's standard-mode naming `{prompt_en}-{i}.{ext}`, i ∈ 0..5, and
//!   each dimension runs only on the videos whose record lists it, with that record's
//!   `auxiliary_info`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::ScoreError;

/// `vbench.utils.get_prompt_from_filename`.
pub fn prompt_from_filename(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    match stem.rfind('-') {
        Some(i) if i + 1 < stem.len() && stem[i + 1..].bytes().all(|b| b.is_ascii_digit()) => {
            stem[..i].to_string()
        }
        _ => stem,
    }
}

/// One record of a VBench full-info JSON.
#[derive(Debug, Clone, Deserialize)]
pub struct FullInfoRecord {
    pub prompt_en: String,
    pub dimension: Vec<String>,
    #[serde(default)]
    pub auxiliary_info: Option<serde_json::Map<String, serde_json::Value>>,
}

pub fn load_full_info(path: &Path) -> Result<Vec<FullInfoRecord>, ScoreError> {
    let text = std::fs::read_to_string(path).map_err(|e| ScoreError::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| {
        ScoreError::Options(format!(
            "{}: not a VBench full-info file (a JSON list of {{prompt_en, dimension, auxiliary_info}}): {e}",
            path.display()
        ))
    })
}

/// The prompt map of `--prompts FILE`.
pub fn load_prompt_file(path: &Path) -> Result<HashMap<String, String>, ScoreError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ScoreError::Options(format!("cannot read prompts file {}: {e}", path.display()))
    })?;
    serde_json::from_str(&text).map_err(|e| {
        ScoreError::Options(format!(
            "{}: expected a JSON object {{\"video path or file name\": \"prompt\"}}: {e}",
            path.display()
        ))
    })
}

/// Looks a video up in a `--prompts` map.
pub fn lookup_prompt<'a>(map: &'a HashMap<String, String>, video: &Path) -> Option<&'a String> {
    let as_given = video.to_string_lossy();
    if let Some(p) = map.get(as_given.as_ref()) {
        return Some(p);
    }
    let abs = std::fs::canonicalize(video).ok();
    for (k, v) in map {
        if let (Some(a), Ok(b)) = (&abs, std::fs::canonicalize(k)) {
            if *a == b {
                return Some(v);
            }
        }
    }
    let name = video.file_name()?.to_string_lossy();
    map.get(name.as_ref())
}

/// The record a video belongs to under VBench's standard-mode naming, if any.
pub fn match_full_info<'a>(
    records: &'a [FullInfoRecord],
    video: &Path,
) -> Option<&'a FullInfoRecord> {
    let stem = video.file_stem()?.to_string_lossy();
    records
        .iter()
        .find(|r| (0..5).any(|i| stem == format!("{}-{}", r.prompt_en, i)))
}

/// The 9 style phrases of VBench's appearance_style suite.
pub const VBENCH_STYLES: [&str; 9] = [
    "Van Gogh style",
    "animated style",
    "black and white",
    "by Hokusai, in the style of Ukiyo",
    "in cyberpunk style",
    "oil painting",
    "pixel art",
    "surrealism style",
    "watercolor painting",
];

/// The style phrase for appearance_style when no full-info record gives one: a known VBench
/// style phrase that the prompt ends with (VBench's appearance prompts are `<scene>, <style>`).
pub fn style_from_prompt(prompt: &str) -> Option<String> {
    let p = prompt.trim().trim_end_matches('.');
    VBENCH_STYLES
        .iter()
        .find(|s| p.to_lowercase().ends_with(&s.to_lowercase()))
        .map(|s| s.to_string())
}

/// Expands inputs (files and directories, non-recursive as VBench's `os.listdir`) into video
/// paths, sorted within each directory so runs are reproducible.
pub fn expand_inputs(inputs: &[PathBuf]) -> Result<Vec<PathBuf>, ScoreError> {
    let mut out = Vec::new();
    for p in inputs {
        if p.is_dir() {
            let mut v: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| ScoreError::io(p, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && crate::video::is_video_path(p))
                .collect();
            if v.is_empty() {
                return Err(ScoreError::Options(format!(
                    "{}: no videos in this directory (looked for {})",
                    p.display(),
                    crate::video::VIDEO_EXTENSIONS.join(", ")
                )));
            }
            v.sort();
            out.extend(v);
        } else {
            // missing files are reported per video, so the others still get scored
            out.push(p.clone());
        }
    }
    if out.is_empty() {
        return Err(ScoreError::Options("no videos given".into()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filename_prompts_like_vbench() {
        assert_eq!(prompt_from_filename(Path::new("a cat-3.mp4")), "a cat");
        assert_eq!(prompt_from_filename(Path::new("a cat.mp4")), "a cat");
        assert_eq!(prompt_from_filename(Path::new("x-1-2.mp4")), "x-1");
        assert_eq!(
            prompt_from_filename(Path::new("A house.-0.mp4")),
            "A house."
        );
        assert_eq!(prompt_from_filename(Path::new("dir/b-.mp4")), "b-");
    }

    #[test]
    fn styles_from_prompts() {
        assert_eq!(
            style_from_prompt(
                "A beautiful coastal beach in spring, waves lapping on sand, Van Gogh style"
            )
            .as_deref(),
            Some("Van Gogh style")
        );
        assert_eq!(
            style_from_prompt("The bund Shanghai, oil painting.").as_deref(),
            Some("oil painting")
        );
        assert_eq!(style_from_prompt("a dog running"), None);
    }

    #[test]
    fn full_info_matching_by_standard_names() {
        let recs: Vec<FullInfoRecord> = serde_json::from_str(
            r#"[{"prompt_en":"alley","dimension":["scene","background_consistency"]},
                {"prompt_en":"a red bicycle","dimension":["color"],"auxiliary_info":{"color":{"color":"red"}}}]"#,
        )
        .unwrap();
        assert_eq!(
            match_full_info(&recs, Path::new("v/alley-3.mp4"))
                .unwrap()
                .prompt_en,
            "alley"
        );
        assert!(match_full_info(&recs, Path::new("v/alley-7.mp4")).is_none());
        assert_eq!(
            match_full_info(&recs, Path::new("a red bicycle-0.mp4"))
                .unwrap()
                .dimension,
            ["color"]
        );
    }
}
