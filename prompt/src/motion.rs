//! Image-to-video motion details derived from a motion prompt by rules (both backends): camera
//! movement, motion intensity, frame-rate notes and a negative prompt.

use serde::Serialize;

use crate::rubric::{count_terms, normalize};

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MotionSpec {
    pub motion_prompt: String,
    /// One of static, pan, tilt, dolly, tracking, orbit, crane, handheld, zoom.
    pub camera_movement: String,
    /// subtle, moderate or dynamic.
    pub motion_intensity: String,
    pub frame_rate_notes: String,
    pub negative_prompt: String,
}

const MOVES: &[(&str, &[&str])] = &[
    (
        "dolly",
        &[
            "dolly",
            "dolly-in",
            "dolly in",
            "dolly out",
            "push-in",
            "push in",
            "pull-back",
            "pull back",
        ],
    ),
    (
        "tracking",
        &["tracking", "tracking shot", "follows", "truck", "trucking"],
    ),
    ("pan", &["pan", "pans", "panning", "whip pan"]),
    ("tilt", &["tilt", "tilts"]),
    ("orbit", &["orbit", "orbiting", "arc shot"]),
    (
        "crane",
        &["crane", "crane shot", "rises above", "drone shot"],
    ),
    ("handheld", &["handheld"]),
    ("zoom", &["zoom", "zooms"]),
    (
        "static",
        &["static", "static camera", "locked-off", "locked off"],
    ),
];

const DYNAMIC: &[&str] = &[
    "dynamic",
    "fast",
    "fast-paced",
    "rapid",
    "races",
    "runs",
    "sprints",
    "energetic",
    "explodes",
    "crashes",
    "whip pan",
];
const SUBTLE: &[&str] = &[
    "subtle",
    "gentle",
    "gently",
    "slow",
    "slowly",
    "calm",
    "still",
    "soft",
    "drifts",
    "unhurried",
];

pub fn derive(motion_prompt: &str) -> MotionSpec {
    let norm = normalize(motion_prompt);
    let camera_movement = MOVES
        .iter()
        .find(|(_, terms)| count_terms(&norm, terms) > 0)
        .map(|(name, _)| *name)
        .unwrap_or("static")
        .to_string();
    let intensity = if count_terms(&norm, DYNAMIC) > 0 {
        "dynamic"
    } else if count_terms(&norm, SUBTLE) > 0 {
        "subtle"
    } else {
        "moderate"
    };
    let frame_rate_notes = match intensity {
        "subtle" => "24 fps is enough: slow, subtle motion reads naturally; keep motion blur soft and avoid frame interpolation, which makes slow drifts look synthetic.",
        "dynamic" => "Prefer 30-60 fps (or interpolate to it): fast action strobes at 24 fps; keep shutter-like motion blur so fast moves stay smooth.",
        _ => "24-30 fps: moderate motion; keep the camera move at a constant speed across the clip so frames interpolate cleanly.",
    };
    let mut negative = vec![
        "jerky motion",
        "flicker",
        "warping",
        "morphing",
        "inconsistent lighting",
        "sudden cuts",
        "frame stutter",
        "distorted anatomy",
        "identity drift",
        "text",
        "watermark",
    ];
    match intensity {
        "subtle" => negative.extend(["fast motion", "abrupt camera moves", "camera shake"]),
        "dynamic" => negative.extend(["frozen frames", "motion smearing"]),
        _ => negative.push("camera shake"),
    }
    if camera_movement == "static" {
        negative.push("camera movement");
    }
    MotionSpec {
        motion_prompt: motion_prompt.to_string(),
        camera_movement,
        motion_intensity: intensity.to_string(),
        frame_rate_notes: frame_rate_notes.to_string(),
        negative_prompt: negative.join(", "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derives_movement_and_intensity() {
        let m = derive("Slow dolly-in as the steam gently rises from the cup");
        assert_eq!(m.camera_movement, "dolly");
        assert_eq!(m.motion_intensity, "subtle");
        assert!(m.negative_prompt.contains("fast motion"));
        let m = derive("The car races down the street");
        assert_eq!(m.camera_movement, "static");
        assert_eq!(m.motion_intensity, "dynamic");
        assert!(m.negative_prompt.contains("camera movement"));
        assert!(m.frame_rate_notes.contains("60 fps"));
    }
}
