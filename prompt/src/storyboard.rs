//! `storyboard_metadata.json` (Story 8.3): clips with motion and camera metadata, start/end
//! frames and the unified narrative document. Every path is relative to the storyboard's folder
//! and must stay inside it and exist.
//!
//! ```json
//! {"unified_narrative_path": "narrative.md",
//!  "clips": [{"clip_number": 1, "motion_description": "...", "camera_movement": "slow dolly-in",
//!             "shot_size": "medium", "perspective": "eye-level", "lens_type": "35mm",
//!             "start_frame_path": "frames/clip_01_start.png", "end_frame_path": "frames/clip_01_end.png"}]}
//! ```
//! `clip_number` (alias `clip_id`, number or string) is optional and defaults to the position.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::InputError;
use crate::input::read_file;

/// Longest narrative text passed as context (characters).
pub const MAX_NARRATIVE_CHARS: usize = 6000;

#[derive(Debug, Deserialize)]
struct StoryboardFile {
    unified_narrative_path: String,
    clips: Vec<ClipFile>,
}

#[derive(Debug, Deserialize)]
struct ClipFile {
    #[serde(default, alias = "clip_id")]
    clip_number: Option<serde_json::Value>,
    motion_description: String,
    camera_movement: String,
    shot_size: String,
    perspective: String,
    lens_type: String,
    start_frame_path: String,
    end_frame_path: String,
}

#[derive(Debug, Clone)]
pub struct Clip {
    /// As given (`clip_number`/`clip_id`) or the 1-based position.
    pub clip_id: String,
    /// Trace sub-folder name, `clip_01`, ... (never derived from user text).
    pub folder: String,
    pub motion_description: String,
    pub camera_movement: String,
    pub shot_size: String,
    pub perspective: String,
    pub lens_type: String,
    pub start_frame_path: PathBuf,
    pub end_frame_path: PathBuf,
}

#[derive(Debug, Clone)]
pub struct Storyboard {
    pub path: PathBuf,
    pub unified_narrative_path: PathBuf,
    pub narrative: String,
    pub narrative_truncated: bool,
    pub clips: Vec<Clip>,
}

fn resolve(
    storyboard: &Path,
    base: &Path,
    clip: &str,
    field: &str,
    value: &str,
) -> Result<PathBuf, InputError> {
    let err = |reason: &str| InputError::StoryboardPath {
        storyboard: storyboard.into(),
        clip: clip.into(),
        field: field.into(),
        value: value.into(),
        reason: reason.into(),
    };
    if value.trim().is_empty() {
        return Err(err("is empty"));
    }
    let rel = Path::new(value);
    if rel.is_absolute() {
        return Err(err(
            "is absolute (paths must be relative to the storyboard folder)",
        ));
    }
    let joined = base.join(rel);
    let canon = joined.canonicalize().map_err(|_| {
        if rel
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
        {
            err("escapes the storyboard folder")
        } else {
            err("does not exist")
        }
    })?;
    if !canon.starts_with(base) {
        return Err(err("escapes the storyboard folder"));
    }
    if !canon.is_file() {
        return Err(err("is not a file"));
    }
    Ok(canon)
}

pub fn load(path: &Path) -> Result<Storyboard, InputError> {
    let bad = |reason: String| InputError::Storyboard {
        path: path.into(),
        reason,
    };
    let bytes = read_file(path)?;
    let text = String::from_utf8(bytes).map_err(|_| bad("is not valid UTF-8".into()))?;
    let file: StoryboardFile = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    if file.clips.is_empty() {
        return Err(bad("has no clips".into()));
    }
    let base = path
        .canonicalize()
        .map_err(|e| bad(e.to_string()))?
        .parent()
        .map(Path::to_path_buf)
        .ok_or_else(|| bad("has no parent folder".into()))?;
    let narrative_path = resolve(
        path,
        &base,
        "-",
        "unified_narrative_path",
        &file.unified_narrative_path,
    )?;
    let narrative_bytes = read_file(&narrative_path)?;
    let narrative = String::from_utf8(narrative_bytes).map_err(|_| {
        bad(format!(
            "unified narrative {} is not valid UTF-8",
            narrative_path.display()
        ))
    })?;
    let (narrative, narrative_truncated) =
        crate::input::truncate_prompt(narrative.trim(), MAX_NARRATIVE_CHARS);
    let mut clips = Vec::with_capacity(file.clips.len());
    for (i, c) in file.clips.into_iter().enumerate() {
        let clip_id = match &c.clip_number {
            Some(serde_json::Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
            Some(serde_json::Value::Number(n)) => n.to_string(),
            _ => (i + 1).to_string(),
        };
        if c.motion_description.trim().is_empty() {
            return Err(bad(format!("clip {clip_id}: motion_description is empty")));
        }
        let start = resolve(
            path,
            &base,
            &clip_id,
            "start_frame_path",
            &c.start_frame_path,
        )?;
        let end = resolve(path, &base, &clip_id, "end_frame_path", &c.end_frame_path)?;
        clips.push(Clip {
            clip_id,
            folder: format!("clip_{:02}", i + 1),
            motion_description: c.motion_description.trim().to_string(),
            camera_movement: c.camera_movement.trim().to_string(),
            shot_size: c.shot_size.trim().to_string(),
            perspective: c.perspective.trim().to_string(),
            lens_type: c.lens_type.trim().to_string(),
            start_frame_path: start,
            end_frame_path: end,
        });
    }
    Ok(Storyboard {
        path: path.into(),
        unified_narrative_path: narrative_path,
        narrative,
        narrative_truncated,
        clips,
    })
}
