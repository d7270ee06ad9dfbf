//! `create-storyboard` planning (epic 9, Story 8.3 pattern): from one prompt, a unified
//! narrative document and N clips, each with a `motion_description`, camera metadata
//! (`camera_movement`, `shot_size`, `perspective`, `lens_type`) and start/end frame prompts.
//! The LLM writes it (one JSON reply, validated, asked again once when malformed, then the
//! offline planner); without an LLM the offline planner does. The frames themselves are made by
//! `vbench_generate::storyboard`, which writes `storyboard_metadata.json` in the format
//! [`crate::storyboard::load`] reads.

use serde::{Deserialize, Serialize};

use crate::agents::{extract_json, Agents, Backend};
use crate::error::LlmError;
use crate::llm::{ChatRequest, Message};

/// Most clips one storyboard may have.
pub const MAX_CLIPS: usize = 12;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PlannedClip {
    pub motion_description: String,
    pub camera_movement: String,
    pub shot_size: String,
    pub perspective: String,
    pub lens_type: String,
    pub start_frame_prompt: String,
    pub end_frame_prompt: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StoryboardPlan {
    /// The unified narrative document (markdown).
    pub narrative: String,
    pub clips: Vec<PlannedClip>,
}

impl StoryboardPlan {
    pub fn validate(&self, n: usize) -> Result<(), String> {
        if self.narrative.trim().is_empty() {
            return Err("narrative is empty".into());
        }
        if self.clips.len() != n {
            return Err(format!("expected {n} clips, got {}", self.clips.len()));
        }
        for (i, c) in self.clips.iter().enumerate() {
            for (k, v) in [
                ("motion_description", &c.motion_description),
                ("camera_movement", &c.camera_movement),
                ("shot_size", &c.shot_size),
                ("perspective", &c.perspective),
                ("lens_type", &c.lens_type),
                ("start_frame_prompt", &c.start_frame_prompt),
                ("end_frame_prompt", &c.end_frame_prompt),
            ] {
                if v.trim().is_empty() {
                    return Err(format!("clip {}: {k} is empty", i + 1));
                }
            }
        }
        Ok(())
    }
}

const CAMERAS: [(&str, &str, &str, &str); 4] = [
    ("slow push-in", "wide shot", "eye-level", "24mm"),
    ("steady tracking shot", "medium shot", "eye-level", "35mm"),
    ("gentle orbit", "medium close-up", "low angle", "50mm"),
    ("slow pull-back", "wide shot", "high angle", "28mm"),
];
const BEATS: [(&str, &str); 4] = [
    ("establishing", "the scene is introduced"),
    ("development", "the subject moves through the scene"),
    ("climax", "the key moment of the action"),
    ("resolution", "the scene settles"),
];

/// The rule-based planner: an arc of establishing → development → climax → resolution beats
/// over `n` clips, with a fixed camera progression; deterministic.
pub fn offline_plan(prompt: &str, n: usize) -> StoryboardPlan {
    let p = prompt.trim().trim_end_matches('.');
    let mut clips = Vec::with_capacity(n);
    let mut doc = format!(
        "# Unified narrative\n\n## Premise\n{p}.\n\n## Emotional arc\nCalm introduction, rising engagement, a clear peak, a quiet resolution.\n\n## Visual progression\nConsistent subject, palette and lighting across clips; the camera moves from wide to close and back out.\n\n## Clips\n"
    );
    for i in 0..n {
        let beat = if n == 1 {
            BEATS[0]
        } else {
            BEATS[(i * (BEATS.len() - 1)) / (n - 1)]
        };
        let (mv, size, persp, lens) = CAMERAS[i % CAMERAS.len()];
        let motion = format!("{mv} as {} ({}): {p}", beat.1, beat.0);
        doc.push_str(&format!("{}. {} — {motion}.\n", i + 1, beat.0));
        clips.push(PlannedClip {
            motion_description: motion,
            camera_movement: mv.into(),
            shot_size: size.into(),
            perspective: persp.into(),
            lens_type: lens.into(),
            start_frame_prompt: format!(
                "{size}, {persp}, {lens} lens: {p}, {} — opening frame, consistent lighting and palette",
                beat.1
            ),
            end_frame_prompt: format!(
                "{size}, {persp}, {lens} lens: {p}, {} — closing frame after the {mv}, consistent lighting and palette",
                beat.1
            ),
        });
    }
    StoryboardPlan {
        narrative: doc,
        clips,
    }
}

fn system(n: usize) -> String {
    format!(
        "ROLE: storyboard_planner\nYou are a storyboard artist and director. From the user's prompt write a unified narrative document (markdown: premise, emotional arc, visual progression strategy, scene connections) and exactly {n} clips. Each clip has a motion_description (what moves and how, for image-to-video), camera metadata and prompts for its start and end frames (still images; keep subject, palette and lighting consistent across clips). Reply with a JSON object only: {{\"narrative\": \"...\", \"clips\": [{{\"motion_description\": \"...\", \"camera_movement\": \"slow dolly-in\", \"shot_size\": \"medium shot\", \"perspective\": \"eye-level\", \"lens_type\": \"35mm\", \"start_frame_prompt\": \"...\", \"end_frame_prompt\": \"...\"}}]}}"
    )
}

/// How the plan was made, for the trace.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlanRecord {
    pub backend: String,
    pub model: String,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cost_usd: Option<f64>,
    pub attempts: u32,
    /// Set when the LLM reply stayed unusable and the offline plan was used.
    pub fallback_note: Option<String>,
}

/// Plans `n` clips with the LLM (the agents' creative model), or offline.
pub async fn plan(
    agents: &Agents,
    prompt: &str,
    n: usize,
) -> Result<(StoryboardPlan, PlanRecord), LlmError> {
    let offline_rec = |note: Option<String>| PlanRecord {
        backend: "offline".into(),
        model: "offline".into(),
        prompt_tokens: 0,
        completion_tokens: 0,
        cost_usd: Some(0.0),
        attempts: 0,
        fallback_note: note,
    };
    let llm = match &agents.backend {
        Backend::Offline => return Ok((offline_plan(prompt, n), offline_rec(None))),
        Backend::Http(llm) => llm,
    };
    let mut req = ChatRequest {
        model: agents.creative_model.clone(),
        messages: vec![
            Message::system(system(n)),
            Message::user(format!("Prompt:\n{prompt}")),
        ],
        json: true,
        temperature: Some(0.4),
    };
    let (mut pt, mut ct, mut attempts) = (0u64, 0u64, 0u32);
    for round in 0..2 {
        let reply = llm.chat(&req).await?;
        pt += reply.usage.prompt_tokens;
        ct += reply.usage.completion_tokens;
        attempts += reply.attempts;
        let parsed = extract_json(&reply.content)
            .ok_or_else(|| "no JSON object in the reply".to_string())
            .and_then(|j| serde_json::from_str::<StoryboardPlan>(j).map_err(|e| e.to_string()))
            .and_then(|p| p.validate(n).map(|_| p));
        match parsed {
            Ok(p) => {
                let rec = PlanRecord {
                    backend: agents.backend_name().into(),
                    model: agents.creative_model.clone(),
                    prompt_tokens: pt,
                    completion_tokens: ct,
                    cost_usd: agents.prices.cost(&agents.creative_model, pt, ct),
                    attempts,
                    fallback_note: None,
                };
                return Ok((p, rec));
            }
            Err(reason) if round == 0 => {
                req.messages.push(Message::assistant(reply.content));
                req.messages.push(Message::user(format!(
                    "Your reply could not be used: {reason}. Reply again with only the JSON object."
                )));
            }
            Err(reason) => {
                let mut rec = offline_rec(Some(format!(
                    "the LLM storyboard was invalid twice ({reason}); used the offline planner"
                )));
                rec.prompt_tokens = pt;
                rec.completion_tokens = ct;
                rec.attempts = attempts;
                return Ok((offline_plan(prompt, n), rec));
            }
        }
    }
    unreachable!("the loop returns in its second round")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offline_plan_is_valid_and_deterministic() {
        let p = offline_plan("A lighthouse keeper climbs the stairs at dusk.", 3);
        p.validate(3).unwrap();
        assert_eq!(
            p,
            offline_plan("A lighthouse keeper climbs the stairs at dusk.", 3)
        );
        assert!(p.clips[0].motion_description.contains("establishing"));
        assert!(p.clips[2].motion_description.contains("resolution"));
        assert!(p.validate(4).is_err());
    }
}
