//! Score dimensions, their weights, and the rule-based scorer (the offline Prompt Engineer and the
//! quick initial assessment).
//!
//! # Rules (Prompt Scoring Guide)
//! The prompt is lower-cased and split into words (letters, digits, `-`, `.`, `/`); a term matches
//! when it occurs as a whole word sequence. Element lexicons are the `*_TERMS` constants below.
//!
//! Video (`enhance-video-prompt`, 0–100 each, clamped):
//! * **completeness** = 100 × (present elements / 8) over subject, action, setting, style, mood,
//!   camera (framing or movement), lighting, palette — the one-sentence screenplay plus the look.
//! * **specificity** = 15 + 45 × min(words, 60)/60 + 8 × min(distinct detail terms, 5) − 10 × min(vague, 2),
//!   detail terms = palette, lighting and lens terms and numbers.
//! * **professionalism** = 25 + 12 × min(distinct film terms, 6) − 10 × vague words.
//! * **cinematography** = 10 + 25 framing + 25 movement + 10 lens + 10 depth of field + 20 lighting.
//! * **temporal_coherence** = 20 + 20 action + 10 × min(timing cues, 2) + 15 motion intensity
//!   + 15 continuity − 15 × scene changes ("cut to", "meanwhile", ...).
//! * **brand_alignment** = 20 + 25 palette + 20 mood + 20 style + 15 consistency/brand terms.
//!
//! Image (`enhance-image-prompt`):
//! * **framing** = 20 + 50 shot size + 15 camera angle + 15 subject placement.
//! * **subject** = 20 + 5 × min(content words, 10) + 10 × min(descriptors, 3).
//! * **lighting** = 20 + 20 × min(distinct lighting terms, 4).
//! * **lens** = 20 + 40 lens + 40 depth of field.
//! * **composition** = 20 + 20 × min(composition terms, 4).
//! * **style** = 20 + 30 style + 25 palette + 25 mood.
//!
//! The overall score is the weighted mean with the weights in [`VIDEO_DIMENSIONS`] and
//! [`IMAGE_DIMENSIONS`] (they sum to 1), rounded to one decimal. LLM critics return the six
//! dimension scores; the overall is always computed here with the same weights.

use serde::ser::{Serialize, SerializeMap, Serializer};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptKind {
    /// Text-to-video prompt.
    Video,
    /// Motion prompt for image-to-video (also every storyboard clip).
    ImageToVideo,
    /// Still image prompt.
    Image,
}

impl PromptKind {
    pub fn dimensions(self) -> &'static [Dimension] {
        match self {
            PromptKind::Video | PromptKind::ImageToVideo => &VIDEO_DIMENSIONS,
            PromptKind::Image => &IMAGE_DIMENSIONS,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            PromptKind::Video => "text-to-video",
            PromptKind::ImageToVideo => "image-to-video",
            PromptKind::Image => "image",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Dimension {
    pub key: &'static str,
    pub short: &'static str,
    pub weight: f64,
    pub guide: &'static str,
}

pub const VIDEO_DIMENSIONS: [Dimension; 6] = [
    Dimension {
        key: "completeness",
        short: "Compl",
        weight: 0.20,
        guide:
            "subject, action, setting, style, mood, camera, lighting and palette are all present",
    },
    Dimension {
        key: "specificity",
        short: "Spec",
        weight: 0.20,
        guide: "concrete visual details instead of vague words",
    },
    Dimension {
        key: "professionalism",
        short: "Prof",
        weight: 0.15,
        guide: "film terminology, clear visual language, no filler",
    },
    Dimension {
        key: "cinematography",
        short: "Cine",
        weight: 0.20,
        guide: "camera framing and movement, lens, depth of field, lighting",
    },
    Dimension {
        key: "temporal_coherence",
        short: "Temp",
        weight: 0.15,
        guide: "one scene, action beats and timing cues, motion intensity, continuity",
    },
    Dimension {
        key: "brand_alignment",
        short: "Brand",
        weight: 0.10,
        guide: "consistent palette, mood and style",
    },
];

pub const IMAGE_DIMENSIONS: [Dimension; 6] = [
    Dimension {
        key: "framing",
        short: "Frame",
        weight: 0.15,
        guide: "shot size, camera angle, subject placement",
    },
    Dimension {
        key: "subject",
        short: "Subj",
        weight: 0.20,
        guide: "a clearly described main subject with concrete attributes",
    },
    Dimension {
        key: "lighting",
        short: "Light",
        weight: 0.20,
        guide: "light source, quality, direction, time of day",
    },
    Dimension {
        key: "lens",
        short: "Lens",
        weight: 0.15,
        guide: "focal length or lens type and depth of field",
    },
    Dimension {
        key: "composition",
        short: "Comp",
        weight: 0.15,
        guide: "rule of thirds, foreground/background, leading lines, negative space",
    },
    Dimension {
        key: "style",
        short: "Style",
        weight: 0.15,
        guide: "visual style, color palette and mood",
    },
];

/// Six dimension scores plus the weighted overall, serialised as a flat map in dimension order.
#[derive(Debug, Clone, PartialEq)]
pub struct Scores {
    pub values: Vec<(&'static str, f64)>,
    pub overall: f64,
}

impl Scores {
    /// Builds scores from `get(key)` for every dimension of `kind`, clamping to 0..=100.
    pub fn from_fn(kind: PromptKind, mut get: impl FnMut(&str) -> f64) -> Self {
        let dims = kind.dimensions();
        let values: Vec<(&'static str, f64)> = dims
            .iter()
            .map(|d| (d.key, round1(get(d.key).clamp(0.0, 100.0))))
            .collect();
        let overall = round1(
            dims.iter()
                .zip(&values)
                .map(|(d, (_, v))| d.weight * v)
                .sum(),
        );
        Scores { values, overall }
    }
    pub fn get(&self, key: &str) -> Option<f64> {
        self.values.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }
}

impl Serialize for Scores {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.values.len() + 1))?;
        for (k, v) in &self.values {
            m.serialize_entry(k, v)?;
        }
        m.serialize_entry("overall", &self.overall)?;
        m.end()
    }
}

pub fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

pub const FRAMING_TERMS: &[&str] = &[
    "wide shot",
    "wide establishing shot",
    "establishing shot",
    "aerial shot",
    "wide aerial shot",
    "close-up",
    "extreme close-up",
    "medium shot",
    "medium close-up",
    "medium wide shot",
    "full shot",
    "long shot",
    "over-the-shoulder",
    "two-shot",
    "pov",
    "point-of-view",
    "portrait",
    "headshot",
    "full-body shot",
    "wide-angle shot",
    "cowboy shot",
    "insert shot",
    "close shot",
    "wide view",
];
pub const ANGLE_TERMS: &[&str] = &[
    "low-angle",
    "low angle",
    "high-angle",
    "high angle",
    "eye-level",
    "eye level",
    "overhead",
    "birds-eye",
    "top-down",
    "dutch angle",
    "worms-eye",
];
pub const MOVEMENT_TERMS: &[&str] = &[
    "tracking shot",
    "tracking",
    "dolly",
    "dolly-in",
    "dolly in",
    "dolly out",
    "pan",
    "pans",
    "panning",
    "tilt",
    "tilts",
    "crane shot",
    "crane",
    "steadicam",
    "handheld",
    "orbit",
    "orbiting",
    "push-in",
    "push in",
    "pull-back",
    "pull back",
    "zoom",
    "static camera",
    "locked-off",
    "gimbal",
    "drone shot",
    "arc shot",
    "truck",
    "trucking",
    "whip pan",
];
pub const LENS_TERMS: &[&str] = &[
    "lens",
    "wide-angle lens",
    "telephoto",
    "macro",
    "anamorphic",
    "prime lens",
    "fisheye",
    "tilt-shift",
];
pub const DOF_TERMS: &[&str] = &[
    "depth of field",
    "shallow depth of field",
    "deep focus",
    "bokeh",
    "rack focus",
    "soft focus",
    "sharp focus",
    "shallow focus",
];
pub const LIGHTING_TERMS: &[&str] = &[
    "golden hour",
    "blue hour",
    "lighting",
    "lit",
    "backlit",
    "backlight",
    "rim light",
    "key light",
    "fill light",
    "soft light",
    "hard light",
    "natural light",
    "neon",
    "volumetric",
    "sunset",
    "sunrise",
    "dusk",
    "dawn",
    "moonlight",
    "chiaroscuro",
    "high-key",
    "low-key",
    "overcast",
    "candlelight",
    "sunlight",
    "light",
    "shadows",
    "glow",
    "diffused",
];
pub const PALETTE_TERMS: &[&str] = &[
    "palette",
    "color palette",
    "warm tones",
    "cool tones",
    "teal and orange",
    "pastel",
    "monochrome",
    "desaturated",
    "saturated",
    "color grade",
    "color graded",
    "amber",
    "teal",
    "crimson",
    "golden",
    "muted",
    "red",
    "blue",
    "green",
    "orange",
    "purple",
    "pink",
    "gold",
    "silver",
    "black",
    "white",
    "earth tones",
];
pub const STYLE_TERMS: &[&str] = &[
    "cinematic",
    "documentary",
    "film noir",
    "noir",
    "anime",
    "photorealistic",
    "hyperrealistic",
    "vintage",
    "retro",
    "minimalist",
    "surreal",
    "commercial",
    "editorial",
    "35mm film",
    "film grain",
    "stop-motion",
    "watercolor",
    "painterly",
    "style",
    "illustration",
    "3d render",
    "analog",
];
pub const MOOD_TERMS: &[&str] = &[
    "mood",
    "serene",
    "tense",
    "joyful",
    "melancholic",
    "dramatic",
    "peaceful",
    "energetic",
    "mysterious",
    "nostalgic",
    "hopeful",
    "romantic",
    "eerie",
    "calm",
    "uplifting",
    "somber",
    "playful",
    "intimate",
    "epic",
    "atmosphere",
    "atmospheric",
    "triumphant",
    "tranquil",
    "whimsical",
    "moody",
];
pub const SETTING_TERMS: &[&str] = &[
    "in a",
    "in an",
    "in the",
    "on a",
    "on the",
    "at the",
    "at a",
    "inside",
    "outside",
    "beach",
    "city",
    "street",
    "forest",
    "desert",
    "mountain",
    "mountains",
    "ocean",
    "sea",
    "room",
    "kitchen",
    "studio",
    "park",
    "field",
    "sky",
    "river",
    "lake",
    "office",
    "village",
    "market",
    "rooftop",
    "garden",
    "snow",
    "downtown",
    "alley",
    "landscape",
    "interior",
    "exterior",
    "coast",
    "harbor",
    "stage",
];
pub const ACTION_TERMS: &[&str] = &[
    "walks",
    "walk",
    "runs",
    "run",
    "dances",
    "jumps",
    "flies",
    "drives",
    "turns",
    "turn",
    "looks",
    "smiles",
    "rises",
    "falls",
    "spins",
    "pours",
    "opens",
    "reaches",
    "moves",
    "swims",
    "rides",
    "climbs",
    "waves",
    "sits",
    "stands",
    "glides",
    "sways",
    "drifts",
    "rolls",
    "leaps",
    "sprints",
    "crashes",
    "breaks",
    "lifts",
    "holds",
    "floats",
    "races",
    "emerges",
    "approaches",
    "enters",
    "exits",
    "pauses",
    "blooms",
    "flows",
];
/// Words ending in -ing that are not actions.
const ING_NOT_ACTION: &[&str] = &[
    "lighting",
    "morning",
    "evening",
    "building",
    "painting",
    "ceiling",
    "clothing",
    "wedding",
    "something",
    "nothing",
    "everything",
    "anything",
    "string",
    "king",
    "ring",
    "spring",
    "wing",
    "thing",
    "sing",
    "bring",
    "setting",
    "framing",
    "ending",
    "beginning",
    "tracking",
    "panning",
    "orbiting",
    "trucking",
    "ring",
    "interesting",
    "amazing",
    "stunning",
    "engaging",
];
pub const TIMING_TERMS: &[&str] = &[
    "then",
    "as",
    "while",
    "begins",
    "starts",
    "slowly",
    "gradually",
    "suddenly",
    "finally",
    "seconds",
    "moment",
    "before",
    "after",
    "until",
    "beat",
    "slow motion",
    "time-lapse",
    "real-time",
    "at first",
];
pub const INTENSITY_TERMS: &[&str] = &[
    "subtle",
    "gentle",
    "moderate",
    "dynamic",
    "energetic",
    "fast-paced",
    "slow",
    "slowly",
    "smooth",
    "rapid",
    "intense",
    "fluid",
    "unhurried",
    "brisk",
    "motion",
];
pub const CONTINUITY_TERMS: &[&str] = &[
    "continuous",
    "seamless",
    "consistent",
    "unbroken",
    "one take",
    "single take",
    "steady",
    "coherent",
    "maintains",
    "throughout",
    "uninterrupted",
];
pub const SCENE_CHANGE_TERMS: &[&str] = &[
    "cut to",
    "meanwhile",
    "next scene",
    "scene change",
    "montage",
    "flashback",
    "jump cut",
];
pub const VAGUE_TERMS: &[&str] = &[
    "nice",
    "beautiful",
    "amazing",
    "awesome",
    "good",
    "stuff",
    "things",
    "very",
    "really",
    "interesting",
    "something",
    "pretty",
];
pub const FILM_EXTRA_TERMS: &[&str] = &[
    "color grade",
    "color graded",
    "film grain",
    "key light",
    "rim light",
    "blocking",
    "composition",
    "rule of thirds",
    "leading lines",
    "framing",
    "shot",
    "take",
    "footage",
    "cinematic",
    "24fps",
    "slow motion",
    "frame",
];
pub const BRAND_TERMS: &[&str] = &[
    "brand",
    "signature",
    "consistent",
    "cohesive",
    "logo",
    "product",
    "identity",
    "on-brand",
];
pub const COMPOSITION_TERMS: &[&str] = &[
    "composition",
    "rule of thirds",
    "centered",
    "symmetrical",
    "symmetry",
    "leading lines",
    "negative space",
    "foreground",
    "background",
    "framed by",
    "diagonal",
    "balanced",
    "layered",
    "off-center",
];
pub const PLACEMENT_TERMS: &[&str] = &[
    "centered",
    "off-center",
    "rule of thirds",
    "left third",
    "right third",
    "in the foreground",
];
pub const DESCRIPTOR_TERMS: &[&str] = &[
    "wearing",
    "with",
    "holding",
    "textured",
    "weathered",
    "glossy",
    "detailed",
];
const STOPWORDS: &[&str] = &[
    "a", "an", "the", "and", "or", "of", "in", "on", "at", "to", "with", "for", "by", "from", "is",
    "are", "its", "it", "as", "into", "over", "under", "while", "then", "this", "that",
];

/// What the rule scorer found in a prompt.
#[derive(Debug, Clone, Default)]
pub struct Findings {
    pub words: usize,
    pub content_words: usize,
    pub framing: usize,
    pub angle: usize,
    pub movement: usize,
    pub lens: usize,
    pub dof: usize,
    pub lighting: usize,
    pub palette: usize,
    pub style: usize,
    pub mood: usize,
    pub setting: usize,
    pub action: usize,
    pub timing: usize,
    pub intensity: usize,
    pub continuity: usize,
    pub scene_changes: usize,
    pub vague: usize,
    pub film_terms: usize,
    pub brand: usize,
    pub composition: usize,
    pub placement: usize,
    pub descriptors: usize,
    pub numbers: usize,
}

/// Lower-cased words joined by single spaces, padded with a space on each side.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push(' ');
    let mut last_space = true;
    for ch in text.chars() {
        let c = ch.to_ascii_lowercase();
        if c.is_alphanumeric() || c == '-' || c == '/' || (c == '.' && !last_space) {
            out.push(c);
            last_space = false;
        } else if c == '\'' || c == '\u{2019}' {
            // birds-eye, director's: drop apostrophes
        } else if !last_space {
            out.push(' ');
            last_space = true;
        }
    }
    // trailing dots of sentences: "beach." -> "beach"
    let cleaned: Vec<String> = out
        .split(' ')
        .map(|w| w.trim_end_matches('.').to_string())
        .collect();
    let mut s = cleaned.join(" ");
    if !s.ends_with(' ') {
        s.push(' ');
    }
    if !s.starts_with(' ') {
        s.insert(0, ' ');
    }
    s
}

/// Number of distinct terms of `lexicon` present in the normalised text.
pub fn count_terms(norm: &str, lexicon: &[&str]) -> usize {
    lexicon
        .iter()
        .filter(|t| norm.contains(&format!(" {t} ")))
        .count()
}

pub fn analyze(text: &str) -> Findings {
    let norm = normalize(text);
    let words: Vec<&str> = norm.split_whitespace().collect();
    let mm_lens = words.iter().filter(|w| is_focal_length(w)).count();
    let numbers = words
        .iter()
        .filter(|w| w.chars().next().is_some_and(|c| c.is_ascii_digit()))
        .count();
    let ing_actions = words
        .iter()
        .filter(|w| w.len() > 5 && w.ends_with("ing") && !ING_NOT_ACTION.contains(w))
        .count();
    let content_words = words
        .iter()
        .filter(|w| !STOPWORDS.contains(w) && w.len() > 2)
        .count();
    Findings {
        words: words.len(),
        content_words,
        framing: count_terms(&norm, FRAMING_TERMS),
        angle: count_terms(&norm, ANGLE_TERMS),
        movement: count_terms(&norm, MOVEMENT_TERMS),
        lens: count_terms(&norm, LENS_TERMS) + mm_lens,
        dof: count_terms(&norm, DOF_TERMS),
        lighting: count_terms(&norm, LIGHTING_TERMS),
        palette: count_terms(&norm, PALETTE_TERMS),
        style: count_terms(&norm, STYLE_TERMS),
        mood: count_terms(&norm, MOOD_TERMS),
        setting: count_terms(&norm, SETTING_TERMS),
        action: count_terms(&norm, ACTION_TERMS) + ing_actions,
        timing: count_terms(&norm, TIMING_TERMS),
        intensity: count_terms(&norm, INTENSITY_TERMS),
        continuity: count_terms(&norm, CONTINUITY_TERMS),
        scene_changes: count_terms(&norm, SCENE_CHANGE_TERMS),
        vague: count_terms(&norm, VAGUE_TERMS),
        film_terms: count_terms(&norm, FRAMING_TERMS)
            + count_terms(&norm, MOVEMENT_TERMS)
            + count_terms(&norm, LENS_TERMS)
            + count_terms(&norm, DOF_TERMS)
            + count_terms(&norm, FILM_EXTRA_TERMS)
            + mm_lens,
        brand: count_terms(&norm, BRAND_TERMS),
        composition: count_terms(&norm, COMPOSITION_TERMS),
        placement: count_terms(&norm, PLACEMENT_TERMS),
        descriptors: count_terms(&norm, DESCRIPTOR_TERMS)
            + count_terms(&norm, PALETTE_TERMS).min(2),
        numbers,
    }
}

fn is_focal_length(w: &str) -> bool {
    w.len() > 2 && w.ends_with("mm") && w[..w.len() - 2].chars().all(|c| c.is_ascii_digit())
}

fn flag(n: usize, points: f64) -> f64 {
    if n > 0 {
        points
    } else {
        0.0
    }
}

/// The rule-based scores of `text` for `kind` (see the module docs).
pub fn rule_scores(kind: PromptKind, text: &str) -> Scores {
    let f = analyze(text);
    Scores::from_fn(kind, |key| dimension_score(&f, key))
}

fn dimension_score(f: &Findings, key: &str) -> f64 {
    let m = |n: usize, cap: usize| n.min(cap) as f64;
    match key {
        "completeness" => {
            let present = [
                f.content_words > 0,
                f.action > 0,
                f.setting > 0,
                f.style > 0,
                f.mood > 0,
                f.framing + f.movement > 0,
                f.lighting > 0,
                f.palette > 0,
            ]
            .iter()
            .filter(|b| **b)
            .count();
            100.0 * present as f64 / 8.0
        }
        "specificity" => {
            let detail = f.palette + f.lighting + f.lens + f.numbers;
            15.0 + 45.0 * m(f.words, 60) / 60.0 + 8.0 * m(detail, 5) - 10.0 * m(f.vague, 2)
        }
        "professionalism" => 25.0 + 12.0 * m(f.film_terms, 6) - 10.0 * f.vague as f64,
        "cinematography" => {
            10.0 + flag(f.framing, 25.0)
                + flag(f.movement, 25.0)
                + flag(f.lens, 10.0)
                + flag(f.dof, 10.0)
                + flag(f.lighting, 20.0)
        }
        "temporal_coherence" => {
            20.0 + flag(f.action, 20.0)
                + 10.0 * m(f.timing, 2)
                + flag(f.intensity, 15.0)
                + flag(f.continuity, 15.0)
                - 15.0 * f.scene_changes as f64
        }
        "brand_alignment" => {
            20.0 + flag(f.palette, 25.0)
                + flag(f.mood, 20.0)
                + flag(f.style, 20.0)
                + flag(f.brand, 15.0)
        }
        "framing" => 20.0 + flag(f.framing, 50.0) + flag(f.angle, 15.0) + flag(f.placement, 15.0),
        "subject" => 20.0 + 5.0 * m(f.content_words, 10) + 10.0 * m(f.descriptors, 3),
        "lighting" => 20.0 + 20.0 * m(f.lighting, 4),
        "lens" => 20.0 + flag(f.lens, 40.0) + flag(f.dof, 40.0),
        "composition" => 20.0 + 20.0 * m(f.composition, 4),
        "style" => 20.0 + flag(f.style, 30.0) + flag(f.palette, 25.0) + flag(f.mood, 25.0),
        _ => 0.0,
    }
}

/// Human-readable names of the guide elements missing from `text`, in screenplay order.
pub fn missing_elements(kind: PromptKind, text: &str) -> Vec<&'static str> {
    let f = analyze(text);
    let mut out = Vec::new();
    let mut need = |cond: bool, name: &'static str| {
        if cond {
            out.push(name)
        }
    };
    match kind {
        PromptKind::Video | PromptKind::ImageToVideo => {
            need(f.framing == 0, "camera framing (shot size)");
            need(f.movement == 0, "camera movement");
            need(f.action == 0, "an action beat");
            need(f.setting == 0, "the setting");
            need(f.style == 0, "a visual style");
            need(f.mood == 0, "the mood");
            need(f.lighting == 0, "lighting");
            need(f.palette == 0, "a color palette");
            need(f.lens == 0, "the lens");
            need(f.dof == 0, "depth of field");
            need(f.timing == 0, "timing cues");
            need(f.intensity == 0, "motion intensity");
            need(f.continuity == 0, "temporal continuity hints");
            need(f.scene_changes > 0, "a single scene (remove cuts)");
        }
        PromptKind::Image => {
            need(f.framing == 0, "framing (shot size)");
            need(f.angle == 0, "camera angle");
            need(f.descriptors == 0, "concrete subject details");
            need(f.setting == 0, "the setting");
            need(f.lighting == 0, "lighting");
            need(f.lens == 0, "the lens");
            need(f.dof == 0, "depth of field");
            need(f.composition == 0, "composition");
            need(f.style == 0, "a visual style");
            need(f.palette == 0, "a color palette");
            need(f.mood == 0, "the mood");
        }
    }
    if f.vague > 0 {
        out.push("concrete words instead of vague ones (nice, beautiful, ...)");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_sum_to_one() {
        for dims in [&VIDEO_DIMENSIONS, &IMAGE_DIMENSIONS] {
            let s: f64 = dims.iter().map(|d| d.weight).sum();
            assert!((s - 1.0).abs() < 1e-9);
        }
    }

    #[test]
    fn bare_prompt_scores_low_and_rich_prompt_high() {
        let low = rule_scores(PromptKind::Video, "a cat on a beach");
        assert!(low.overall < 60.0, "{low:?}");
        let rich = rule_scores(
            PromptKind::Video,
            "Wide establishing shot, slow steady tracking shot: a cat walks on a beach, pausing as the moment \
             settles, cinematic film style, serene mood; golden hour backlight with soft rim light, warm amber \
             and teal color palette, shallow depth of field on a 35mm lens, subtle motion, continuous single take \
             with consistent subject and lighting throughout.",
        );
        assert!(rich.overall >= 90.0, "{rich:?}");
        assert_eq!(rich.get("cinematography"), Some(100.0));
    }

    #[test]
    fn overall_is_weighted_mean() {
        let s = Scores::from_fn(PromptKind::Video, |k| {
            if k == "completeness" {
                100.0
            } else {
                50.0
            }
        });
        assert_eq!(s.overall, 60.0);
        let json = serde_json::to_string(&s).unwrap();
        assert!(json.starts_with("{\"completeness\":100.0,\"specificity\":50.0"));
        assert!(json.ends_with("\"overall\":60.0}"));
    }

    #[test]
    fn scene_cuts_and_vague_words_are_penalised() {
        let a = rule_scores(
            PromptKind::Video,
            "a man walks then cut to a dog runs, meanwhile rain",
        );
        let b = rule_scores(PromptKind::Video, "a man walks then a dog runs in the rain");
        assert!(a.get("temporal_coherence") < b.get("temporal_coherence"));
        let v = rule_scores(PromptKind::Video, "a very nice beautiful shot of stuff");
        assert!(v.get("professionalism").unwrap() < 25.0);
    }

    #[test]
    fn focal_lengths_and_normalisation() {
        assert_eq!(normalize("Close-up, 35mm lens."), " close-up 35mm lens ");
        let f = analyze("shot on 85mm");
        assert_eq!(f.lens, 1);
    }
}
