//! The offline backend: a deterministic rule-based Director and Prompt Engineer that follow the
//! Prompt Scoring Guide. The Director rewrites a prompt as a one-sentence screenplay
//! (camera → subject → action → setting → style → mood, then lighting, palette, lens and depth of
//! field, timing, motion intensity, continuity), adding only the elements the rule scorer finds
//! missing; choices are picked by a hash of the prompt, so the same input gives the same output.
//! It drops vague words and anything after a scene change ("cut to", "meanwhile": one scene per
//! prompt). The Engineer is [`crate::rubric::rule_scores`] plus a list of missing elements.

use crate::agents::{Critique, EnhanceContext};
use crate::plan::{CameraSpec, ConsistencyGroup, Dependency, Shot, VideoPlan};
use crate::rubric::{self, analyze, normalize, PromptKind, SCENE_CHANGE_TERMS, VAGUE_TERMS};

fn fnv(s: &str) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in s.to_lowercase().bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

fn pick<'a>(h: u64, salt: u64, options: &[&'a str]) -> &'a str {
    options[((h ^ salt.wrapping_mul(0x9e3779b97f4a7c15)) % options.len() as u64) as usize]
}

/// Removes vague words and cuts at the first scene change.
fn clean_core(text: &str) -> String {
    let mut core = text.trim().to_string();
    let lower = core.to_lowercase();
    if let Some(pos) = SCENE_CHANGE_TERMS
        .iter()
        .filter_map(|t| lower.find(t))
        .min()
    {
        if core.is_char_boundary(pos) {
            core.truncate(pos);
        }
    }
    let kept: Vec<&str> = core
        .split_whitespace()
        .filter(|w| {
            let bare: String = w
                .chars()
                .filter(|c| c.is_alphanumeric())
                .collect::<String>()
                .to_lowercase();
            !VAGUE_TERMS.contains(&bare.as_str())
        })
        .collect();
    kept.join(" ")
        .trim_end_matches(['.', ',', ';', ' ', ':'])
        .to_string()
}

fn article(word: &str) -> &'static str {
    let w = word.to_ascii_lowercase();
    if w.starts_with(['a', 'e', 'i', 'o', 'u'])
        || w.starts_with("8")
        || w.starts_with("18")
        || w.starts_with("11")
    {
        "an"
    } else {
        "a"
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) if !s.starts_with("I ") => f.to_lowercase().collect::<String>() + c.as_str(),
        Some(f) => f.to_string() + c.as_str(),
        None => String::new(),
    }
}

fn narrative_mood(ctx: &EnhanceContext) -> Option<String> {
    let n = normalize(ctx.narrative.as_deref()?);
    rubric::MOOD_TERMS
        .iter()
        .find(|t| **t != "mood" && **t != "atmosphere" && n.contains(&format!(" {t} ")))
        .map(|t| t.to_string())
}

/// One Director step: the current prompt with the missing guide elements added.
pub fn enhance(kind: PromptKind, current: &str, ctx: &EnhanceContext) -> String {
    let h = fnv(current);
    let core = clean_core(current);
    let core = if core.is_empty() {
        current.trim().to_string()
    } else {
        core
    };
    let f = analyze(&core);
    let cam = ctx.camera.as_ref();
    let mut prefix: Vec<String> = Vec::new();
    let mut clauses: Vec<String> = Vec::new();
    match kind {
        PromptKind::Video | PromptKind::ImageToVideo => {
            if f.framing == 0 {
                prefix.push(match cam {
                    Some(c) if !c.shot_size.is_empty() => {
                        format!("{} shot", c.shot_size.trim_end_matches(" shot"))
                    }
                    _ => pick(
                        h,
                        1,
                        &[
                            "wide establishing shot",
                            "medium shot",
                            "medium close-up",
                            "wide aerial shot",
                        ],
                    )
                    .into(),
                });
            }
            if f.movement == 0 {
                prefix.push(match cam {
                    Some(c) if !c.camera_movement.is_empty() => {
                        format!("{} camera move", c.camera_movement)
                    }
                    _ => pick(
                        h,
                        2,
                        &[
                            "slow steady tracking shot",
                            "gentle dolly-in",
                            "smooth gimbal pan",
                            "slow push-in",
                        ],
                    )
                    .into(),
                });
            }
            if let Some(c) = cam {
                if !c.perspective.is_empty() && f.angle == 0 {
                    prefix.push(format!("{} perspective", c.perspective));
                }
            }
            if f.action == 0 {
                clauses.push(
                    pick(
                        h,
                        3,
                        &[
                            "as the subject slowly turns toward the light",
                            "as the scene gently moves to life",
                            "as the subject reaches forward with deliberate motion",
                        ],
                    )
                    .into(),
                );
            }
            if f.setting == 0 {
                clauses.push(
                    pick(
                        h,
                        4,
                        &[
                            "in a quiet open landscape",
                            "in a softly lit interior",
                            "in a city street at dusk",
                        ],
                    )
                    .into(),
                );
            }
            if f.style == 0 {
                clauses.push(
                    pick(
                        h,
                        5,
                        &[
                            "cinematic 35mm film style",
                            "documentary style realism",
                            "photorealistic commercial style",
                        ],
                    )
                    .into(),
                );
            }
            if f.mood == 0 {
                let mood = narrative_mood(ctx).unwrap_or_else(|| {
                    pick(h, 6, &["serene", "hopeful", "dramatic", "nostalgic"]).to_string()
                });
                clauses.push(format!("{mood} mood"));
            }
            let mut look: Vec<String> = Vec::new();
            if f.lighting == 0 {
                look.push(
                    pick(
                        h,
                        7,
                        &[
                            "golden hour backlight with soft rim light",
                            "soft diffused natural light",
                            "low-key lighting with volumetric light",
                        ],
                    )
                    .into(),
                );
            }
            if f.palette == 0 {
                look.push(
                    pick(
                        h,
                        8,
                        &[
                            "warm amber and teal color palette",
                            "muted earth tones color palette",
                            "cool blue and silver color palette",
                        ],
                    )
                    .into(),
                );
            }
            let lens_phrase = match cam {
                Some(c) if !c.lens_type.is_empty() => {
                    format!("{} lens", c.lens_type.trim_end_matches(" lens"))
                }
                _ => pick(h, 9, &["35mm lens", "50mm lens", "85mm lens"]).to_string(),
            };
            match (f.lens == 0, f.dof == 0) {
                (true, true) => look.push(format!(
                    "shallow depth of field on {} {lens_phrase}",
                    article(&lens_phrase)
                )),
                (true, false) => {
                    look.push(format!("shot on {} {lens_phrase}", article(&lens_phrase)))
                }
                (false, true) => look.push("shallow depth of field".into()),
                _ => {}
            }
            let mut motion: Vec<String> = Vec::new();
            if f.timing == 0 {
                motion.push(
                    "the action unfolds over a few seconds, then settles on a final beat".into(),
                );
            }
            if f.intensity == 0 {
                motion.push(
                    pick(
                        h,
                        10,
                        &[
                            "subtle motion",
                            "moderate, fluid motion",
                            "gentle, unhurried motion",
                        ],
                    )
                    .into(),
                );
            }
            if f.continuity == 0 {
                motion.push(if kind == PromptKind::ImageToVideo {
                    "continuous single take that keeps the start frame's composition, subject identity and lighting consistent throughout".into()
                } else {
                    "continuous single take with consistent subject and lighting throughout".into()
                });
            }
            if ctx.narrative.is_some() && !normalize(&core).contains(" narrative ") {
                motion.push("carrying the narrative arc smoothly into the next clip".into());
            }
            let head = if prefix.is_empty() {
                capitalize(&core)
            } else {
                format!("{}: {}", capitalize(&prefix.join(", ")), lower_first(&core))
            };
            let mut out = head;
            for c in clauses {
                out.push_str(", ");
                out.push_str(&c);
            }
            for part in [look, motion] {
                if !part.is_empty() {
                    out.push_str("; ");
                    out.push_str(&part.join(", "));
                }
            }
            out.push('.');
            out
        }
        PromptKind::Image => {
            if f.framing == 0 {
                prefix.push(
                    pick(
                        h,
                        1,
                        &["medium close-up portrait", "wide shot", "medium shot"],
                    )
                    .into(),
                );
            }
            if f.angle == 0 {
                prefix.push(
                    pick(
                        h,
                        2,
                        &["eye-level angle", "low-angle view", "high-angle view"],
                    )
                    .into(),
                );
            }
            if f.descriptors == 0 {
                clauses.push("with fine textured detail".into());
            }
            if f.setting == 0 {
                clauses.push(
                    pick(
                        h,
                        3,
                        &[
                            "in a softly lit studio",
                            "in a quiet open landscape",
                            "in a city street at dusk",
                        ],
                    )
                    .into(),
                );
            }
            let mut look: Vec<String> = Vec::new();
            if f.lighting == 0 {
                look.push(
                    pick(
                        h,
                        4,
                        &[
                            "soft golden hour light from the side",
                            "soft diffused window light",
                            "dramatic rim light with deep shadows",
                        ],
                    )
                    .into(),
                );
            }
            match (f.lens == 0, f.dof == 0) {
                (true, true) => look.push(format!(
                    "shot on an {} with shallow depth of field and soft bokeh",
                    pick(h, 5, &["85mm lens", "50mm lens"])
                )),
                (true, false) => look.push("shot on a 50mm lens".into()),
                (false, true) => look.push("shallow depth of field".into()),
                _ => {}
            }
            if f.composition == 0 {
                look.push("composed on the rule of thirds with clean negative space".into());
            }
            if f.style == 0 {
                look.push(
                    pick(
                        h,
                        6,
                        &[
                            "photorealistic editorial style",
                            "cinematic style",
                            "minimalist commercial style",
                        ],
                    )
                    .into(),
                );
            }
            if f.palette == 0 {
                look.push(
                    pick(
                        h,
                        7,
                        &[
                            "warm amber color palette",
                            "muted earth tones color palette",
                            "cool teal color palette",
                        ],
                    )
                    .into(),
                );
            }
            if f.mood == 0 {
                look.push(format!(
                    "{} mood",
                    pick(h, 8, &["calm", "intimate", "dramatic"])
                ));
            }
            let head = if prefix.is_empty() {
                capitalize(&core)
            } else {
                format!("{}: {}", capitalize(&prefix.join(", ")), lower_first(&core))
            };
            let mut out = head;
            for c in clauses {
                out.push_str(", ");
                out.push_str(&c);
            }
            if !look.is_empty() {
                out.push_str("; ");
                out.push_str(&look.join(", "));
            }
            out.push('.');
            out
        }
    }
}

/// One Prompt Engineer step: rule scores and feedback naming the missing elements.
pub fn critique(kind: PromptKind, prompt: &str) -> Critique {
    let scores = rubric::rule_scores(kind, prompt);
    let missing = rubric::missing_elements(kind, prompt);
    let weakest = scores
        .values
        .iter()
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(k, v)| format!("{k} ({v})"))
        .unwrap_or_default();
    let feedback = if missing.is_empty() {
        format!("The prompt covers every element of the guide. Weakest dimension: {weakest}.")
    } else {
        format!(
            "Missing: {}. Weakest dimension: {weakest}.",
            missing.join(", ")
        )
    };
    let suggestions = missing.iter().map(|m| format!("Add {m}.")).collect();
    Critique {
        scores,
        feedback,
        suggestions,
    }
}

/// A three-shot plan (establish, action, resolve) built from the final prompt.
pub fn plan(prompt: &str) -> VideoPlan {
    let norm = normalize(prompt);
    let first = |lex: &[&str], default: &str| -> String {
        lex.iter()
            .filter(|t| norm.contains(&format!(" {t} ")))
            .max_by_key(|t| t.len())
            .map(|t| t.to_string())
            .unwrap_or_else(|| default.to_string())
    };
    let size = first(rubric::FRAMING_TERMS, "wide shot");
    let movement = first(rubric::MOVEMENT_TERMS, "static camera");
    let angle = first(rubric::ANGLE_TERMS, "eye-level");
    let lens = norm
        .split_whitespace()
        .find(|w| {
            w.ends_with("mm") && w.len() > 2 && w[..w.len() - 2].chars().all(|c| c.is_ascii_digit())
        })
        .map(|w| w.to_string())
        .unwrap_or_else(|| first(rubric::LENS_TERMS, "35mm"));
    let core = prompt
        .split([':', ';'])
        .find(|s| s.split_whitespace().count() >= 3)
        .unwrap_or(prompt);
    let core = core.split(',').next().unwrap_or(core).trim().to_string();
    let subject: String = core
        .split_whitespace()
        .take(6)
        .collect::<Vec<_>>()
        .join(" ");
    let look = prompt
        .split(';')
        .nth(1)
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let shot = |id: &str, desc: String, shot_size: &str, mv: &str, dur: f64| Shot {
        shot_id: id.into(),
        description: desc,
        camera: CameraSpec {
            shot_size: shot_size.into(),
            movement: mv.into(),
            angle: angle.clone(),
            lens: lens.clone(),
        },
        duration_seconds: dur,
        entities: vec![subject.clone()],
    };
    let shots = vec![
        shot(
            "S1",
            format!("Establish the setting and subject: {core}"),
            &size,
            &movement,
            2.0,
        ),
        shot(
            "S2",
            format!("Main action beat: {core}"),
            "medium shot",
            &movement,
            3.0,
        ),
        shot(
            "S3",
            "Resolve on the final beat, holding the subject in frame".to_string(),
            "close-up",
            "slow push-in",
            2.0,
        ),
    ];
    VideoPlan {
        scene_dependencies: vec![
            Dependency { from: "S1".into(), to: "S2".into(), relation: "continues action".into() },
            Dependency { from: "S2".into(), to: "S3".into(), relation: "continues action".into() },
        ],
        narrative_flow: format!("S1 establishes {subject}; S2 carries the main action in one continuous scene; S3 resolves on the final beat."),
        consistency_groups: vec![
            ConsistencyGroup { group_id: "G1".into(), entity: subject.clone(), shots: vec!["S1".into(), "S2".into(), "S3".into()], attributes: "same identity, wardrobe and scale in every shot".into() },
            ConsistencyGroup { group_id: "G2".into(), entity: "lighting and palette".into(), shots: vec!["S1".into(), "S2".into(), "S3".into()], attributes: if look.is_empty() { "unchanged lighting direction and color palette".into() } else { look } },
        ],
        shots,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn director_reaches_guide_and_is_deterministic() {
        let ctx = EnhanceContext::default();
        let a = enhance(PromptKind::Video, "a cat walks on a beach", &ctx);
        assert_eq!(
            a,
            enhance(PromptKind::Video, "a cat walks on a beach", &ctx)
        );
        let before = rubric::rule_scores(PromptKind::Video, "a cat walks on a beach").overall;
        let after = rubric::rule_scores(PromptKind::Video, &a).overall;
        assert!(after >= 85.0 && after > before, "{a} -> {after}");
        assert!(a.contains("a cat walks on a beach"));
        assert!(
            rubric::missing_elements(PromptKind::Video, &a).is_empty(),
            "{a} {:?}",
            rubric::missing_elements(PromptKind::Video, &a)
        );
        // a second pass adds nothing (convergence)
        assert_eq!(
            rubric::rule_scores(PromptKind::Video, &enhance(PromptKind::Video, &a, &ctx)).overall,
            after
        );
    }

    #[test]
    fn director_keeps_one_scene_and_drops_vague_words() {
        let a = enhance(
            PromptKind::Video,
            "a really nice dog runs, cut to a cat",
            &EnhanceContext::default(),
        );
        assert!(!a.to_lowercase().contains("cut to"), "{a}");
        assert!(!a.contains("nice"), "{a}");
    }

    #[test]
    fn image_director_covers_image_dimensions() {
        let a = enhance(
            PromptKind::Image,
            "a red vintage bicycle",
            &EnhanceContext::default(),
        );
        let s = rubric::rule_scores(PromptKind::Image, &a);
        assert!(s.overall >= 85.0, "{a} {s:?}");
    }

    #[test]
    fn offline_plan_is_valid() {
        let p = plan("Wide shot, slow dolly-in: a cat walks on a beach, serene mood; golden hour light, 35mm lens.");
        p.validate().unwrap();
        assert_eq!(p.shots[0].camera.lens, "35mm");
        assert_eq!(p.shots[0].camera.movement, "dolly-in");
    }
}
