//! The two agents (Director and Prompt Engineer) and the plan step, on either backend.
//! Only the instructions and the score dimensions differ between video, image-to-video and image.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::LlmError;
use crate::llm::{estimate_tokens, ChatRequest, HttpLlm, Message, Usage};
use crate::offline;
use crate::plan::{VideoPlan, PLAN_SCHEMA_HINT};
use crate::pricing::PriceTable;
use crate::rubric::{PromptKind, Scores};

/// Camera metadata of a storyboard clip.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CameraHints {
    pub camera_movement: String,
    pub shot_size: String,
    pub perspective: String,
    pub lens_type: String,
}

/// Extra context for the Director (storyboard mode).
#[derive(Debug, Clone, Default)]
pub struct EnhanceContext {
    pub narrative: Option<String>,
    pub camera: Option<CameraHints>,
    pub start_frame: Option<String>,
    pub end_frame: Option<String>,
    pub clip_label: Option<String>,
}

impl EnhanceContext {
    fn describe(&self) -> String {
        let mut s = String::new();
        if let Some(l) = &self.clip_label {
            s.push_str(&format!("Storyboard clip: {l}\n"));
        }
        if let Some(c) = &self.camera {
            s.push_str(&format!(
                "Camera metadata: movement={}, shot size={}, perspective={}, lens={}\n",
                c.camera_movement, c.shot_size, c.perspective, c.lens_type
            ));
        }
        if let (Some(a), Some(b)) = (&self.start_frame, &self.end_frame) {
            s.push_str(&format!("Start frame: {a}; end frame: {b} (the motion must lead from the first to the second)\n"));
        }
        if let Some(n) = &self.narrative {
            s.push_str(&format!(
                "Unified narrative (keep story coherence, the emotional arc, the visual progression and smooth transitions):\n{n}\n"
            ));
        }
        s
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Critique {
    pub scores: Scores,
    pub feedback: String,
    pub suggestions: Vec<String>,
}

/// Usage, cost and timing of one agent call (written to every trace).
#[derive(Debug, Clone, Serialize)]
pub struct CallRecord {
    pub step: String,
    pub role: String,
    pub model: String,
    pub backend: String,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    pub usage_reported: bool,
    /// `None` when the model is not in the price table.
    pub cost_usd: Option<f64>,
    pub elapsed_seconds: f64,
    pub attempts: u32,
    pub json_mode: Option<bool>,
    /// Replies rejected as malformed and asked again.
    pub malformed_retries: u32,
}

pub enum Backend {
    Http(HttpLlm),
    Offline,
}

pub struct Agents {
    pub backend: Backend,
    pub prices: PriceTable,
    pub creative_model: String,
    pub critique_model: String,
}

pub const ROLE_DIRECTOR: &str = "ROLE: director";
pub const ROLE_ENGINEER: &str = "ROLE: prompt_engineer";
pub const ROLE_PLANNER: &str = "ROLE: videodirectorgpt_planner";

const GUIDE: &str = "Prompt Scoring Guide: structure the prompt like a one-sentence screenplay (subject -> action -> setting -> style -> mood); use film terminology; one scene or action per prompt; visual language (describe what the camera sees); specify camera framing, depth of field, action beats, lighting and palette.";

fn director_system(kind: PromptKind) -> String {
    let task = match kind {
        PromptKind::Video => "You are the Video Director (Creative Director) for text-to-video generation. Rewrite the prompt to add camera framing and movement (e.g. wide aerial shot, steady tracking shot, low-angle view), action beats and timing cues, lighting and color palette, motion intensity and style, and temporal continuity hints.",
        PromptKind::ImageToVideo => "You are the Video Director for image-to-video generation. Write a motion prompt for animating the given still frame: camera movement (pan, tilt, dolly, static, tracking), motion intensity (subtle, moderate, dynamic), action beats and timing, and continuity with the start frame (same subject, composition, lighting). Do not re-describe things the frame already shows unless they move.",
        PromptKind::Image => "You are the Creative Director for still image generation. Rewrite the prompt to specify framing (shot size, camera angle), a clearly described subject, lighting, lens and depth of field, composition and visual style (palette, mood).",
    };
    format!("{ROLE_DIRECTOR}\n{task}\n{GUIDE}\nReply with the improved prompt only: one paragraph, no title, no quotes, no commentary.")
}

fn engineer_system(kind: PromptKind) -> String {
    let dims = kind.dimensions();
    let list: Vec<String> = dims
        .iter()
        .map(|d| format!("- {}: {}", d.key, d.guide))
        .collect();
    let keys: Vec<String> = dims
        .iter()
        .map(|d| format!("\"{}\": 0-100", d.key))
        .collect();
    format!(
        "{ROLE_ENGINEER}\nYou are the Prompt Engineer. Critique the {} prompt you are given and score it from 0 to 100 on each dimension:\n{}\n{GUIDE}\nReply with a JSON object only, exactly this shape: {{\"scores\": {{{}}}, \"feedback\": \"specific critique\", \"suggestions\": [\"concrete change\", ...]}}",
        kind.name(),
        list.join("\n"),
        keys.join(", ")
    )
}

fn planner_system() -> String {
    format!(
        "{ROLE_PLANNER}\nYou are a VideoDirectorGPT-style planner. Turn the video prompt into a plan: a shot list with camera metadata, scene dependencies, the narrative flow and consistency groupings of entities that must look the same across shots. Reply with a JSON object only, with this shape: {PLAN_SCHEMA_HINT}"
    )
}

/// The JSON object in a reply: the whole text, a ```json fence, or the outermost `{...}`.
pub fn extract_json(text: &str) -> Option<&str> {
    let t = text.trim();
    if t.starts_with('{') && t.ends_with('}') {
        return Some(t);
    }
    if let Some(start) = t.find("```") {
        let rest = &t[start + 3..];
        let rest = rest.strip_prefix("json").unwrap_or(rest);
        if let Some(end) = rest.find("```") {
            let inner = rest[..end].trim();
            if inner.starts_with('{') {
                return Some(inner);
            }
        }
    }
    let a = t.find('{')?;
    let b = t.rfind('}')?;
    (b > a).then(|| &t[a..=b])
}

#[derive(Deserialize)]
struct CritiqueWire {
    scores: serde_json::Map<String, serde_json::Value>,
    feedback: String,
    #[serde(default)]
    suggestions: Vec<String>,
}

/// Parses and validates a critic reply for `kind`.
pub fn parse_critique(kind: PromptKind, reply: &str) -> Result<Critique, String> {
    let json = extract_json(reply).ok_or("no JSON object found in the reply")?;
    let wire: CritiqueWire = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let mut values = Vec::new();
    for d in kind.dimensions() {
        let v = wire
            .scores
            .get(d.key)
            .ok_or_else(|| format!("scores.{} is missing", d.key))?
            .as_f64()
            .ok_or_else(|| format!("scores.{} is not a number", d.key))?;
        if !(0.0..=100.0).contains(&v) {
            return Err(format!("scores.{} = {v} is outside 0-100", d.key));
        }
        values.push(v);
    }
    if wire.feedback.trim().is_empty() {
        return Err("feedback is empty".into());
    }
    let mut it = values.into_iter();
    let scores = Scores::from_fn(kind, |_| it.next().unwrap_or(0.0));
    Ok(Critique {
        scores,
        feedback: wire.feedback.trim().to_string(),
        suggestions: wire.suggestions,
    })
}

fn parse_plan(reply: &str) -> Result<VideoPlan, String> {
    let json = extract_json(reply).ok_or("no JSON object found in the reply")?;
    let plan: VideoPlan = serde_json::from_str(json).map_err(|e| e.to_string())?;
    plan.validate()?;
    Ok(plan)
}

/// Strips quotes, fences and a leading "Prompt:" label from a Director reply.
pub fn clean_prompt_reply(reply: &str) -> String {
    let mut t = reply.trim();
    if let Some(inner) = t.strip_prefix("```") {
        let inner = inner.trim_start_matches(|c: char| c.is_alphanumeric());
        t = inner.trim_end().strip_suffix("```").unwrap_or(inner).trim();
    }
    for label in ["Enhanced prompt:", "Prompt:", "Motion prompt:"] {
        if let Some(rest) = t.strip_prefix(label) {
            t = rest.trim();
        }
    }
    let t = t
        .trim_matches(|c| c == '"' || c == '\u{201c}' || c == '\u{201d}')
        .trim();
    t.to_string()
}

impl Agents {
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Http(_) => "openai-compatible",
            Backend::Offline => "offline",
        }
    }

    /// [`HttpLlm::set_journal`] on the HTTP backend (the offline backend makes no paid call and
    /// keeps none); returns whether a journal is in use.
    pub fn set_journal(
        &self,
        journal: Option<std::sync::Arc<crate::journal::ChatJournal>>,
    ) -> bool {
        match &self.backend {
            Backend::Http(h) => {
                let on = journal.is_some();
                h.set_journal(journal);
                on
            }
            Backend::Offline => false,
        }
    }

    pub fn endpoint(&self) -> Option<&str> {
        match &self.backend {
            Backend::Http(h) => Some(h.endpoint()),
            Backend::Offline => None,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        step: &str,
        role: &str,
        model: &str,
        usage: Usage,
        elapsed: Duration,
        attempts: u32,
        json_mode: Option<bool>,
        malformed: u32,
    ) -> CallRecord {
        CallRecord {
            step: step.into(),
            role: role.into(),
            model: model.into(),
            backend: self.backend_name().into(),
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            total_tokens: usage.total_tokens,
            usage_reported: usage.reported,
            cost_usd: match self.backend {
                Backend::Offline => Some(0.0),
                Backend::Http(_) => {
                    self.prices
                        .cost(model, usage.prompt_tokens, usage.completion_tokens)
                }
            },
            elapsed_seconds: (elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
            attempts,
            json_mode,
            malformed_retries: malformed,
        }
    }

    fn offline_record(
        &self,
        step: &str,
        role: &str,
        input: &str,
        output: &str,
        start: Instant,
    ) -> CallRecord {
        let p = estimate_tokens(input);
        let c = estimate_tokens(output);
        let usage = Usage {
            prompt_tokens: p,
            completion_tokens: c,
            total_tokens: p + c,
            reported: false,
        };
        self.record(step, role, "offline", usage, start.elapsed(), 1, None, 0)
    }

    /// Sends `req`; parses with `parse`; on a parse error asks once more with the error, then fails.
    async fn chat_parsed<T>(
        &self,
        llm: &HttpLlm,
        mut req: ChatRequest,
        role: &str,
        what: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<(T, Usage, Duration, u32, bool, u32), LlmError> {
        let mut usage = Usage {
            reported: true,
            ..Usage::default()
        };
        let mut elapsed = Duration::ZERO;
        let mut attempts = 0;
        for round in 0..2u32 {
            let reply = llm.chat(&req).await?;
            usage.prompt_tokens += reply.usage.prompt_tokens;
            usage.completion_tokens += reply.usage.completion_tokens;
            usage.total_tokens += reply.usage.total_tokens;
            usage.reported &= reply.usage.reported;
            if !reply.usage.reported {
                let input: usize = req.messages.iter().map(|m| m.content.len()).sum();
                usage.prompt_tokens += (input as u64).div_ceil(4);
                usage.completion_tokens += estimate_tokens(&reply.content);
                usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
            }
            elapsed += reply.elapsed;
            attempts += reply.attempts;
            match parse(&reply.content) {
                Ok(v) => return Ok((v, usage, elapsed, attempts, reply.json_mode, round)),
                Err(reason) if round == 0 => {
                    req.messages.push(Message::assistant(reply.content));
                    req.messages.push(Message::user(format!(
                        "Your reply could not be used: {reason}. Reply again with only the {what}, nothing else."
                    )));
                }
                Err(reason) => {
                    return Err(LlmError::Malformed {
                        role: role.into(),
                        what: what.into(),
                        reason,
                    })
                }
            }
        }
        unreachable!("the loop returns in its second round")
    }

    /// Director step: returns the new prompt.
    pub async fn direct(
        &self,
        kind: PromptKind,
        step: &str,
        original: &str,
        current: &str,
        last: Option<&Critique>,
        ctx: &EnhanceContext,
    ) -> Result<(String, CallRecord), LlmError> {
        let start = Instant::now();
        match &self.backend {
            Backend::Offline => {
                let out = offline::enhance(kind, current, ctx);
                let rec = self.offline_record(step, "director", current, &out, start);
                Ok((out, rec))
            }
            Backend::Http(llm) => {
                let mut user =
                    format!("Original prompt:\n{original}\n\nCurrent prompt:\n{current}\n");
                if let Some(c) = last {
                    user.push_str(&format!(
                        "\nPrompt Engineer critique (overall {}):\n{}\nSuggestions:\n- {}\n",
                        c.scores.overall,
                        c.feedback,
                        c.suggestions.join("\n- ")
                    ));
                }
                let extra = ctx.describe();
                if !extra.is_empty() {
                    user.push('\n');
                    user.push_str(&extra);
                }
                let req = ChatRequest {
                    model: self.creative_model.clone(),
                    messages: vec![Message::system(director_system(kind)), Message::user(user)],
                    json: false,
                    temperature: Some(0.7),
                };
                let (text, usage, el, att, _, mal) = self
                    .chat_parsed(llm, req, "director", "improved prompt text", |r| {
                        let t = clean_prompt_reply(r);
                        if t.is_empty() {
                            Err("the reply is empty".to_string())
                        } else {
                            Ok(t)
                        }
                    })
                    .await?;
                let model = self.creative_model.clone();
                Ok((
                    text,
                    self.record(step, "director", &model, usage, el, att, None, mal),
                ))
            }
        }
    }

    /// Prompt Engineer step.
    pub async fn critique(
        &self,
        kind: PromptKind,
        step: &str,
        prompt: &str,
        ctx: &EnhanceContext,
    ) -> Result<(Critique, CallRecord), LlmError> {
        let start = Instant::now();
        match &self.backend {
            Backend::Offline => {
                let c = offline::critique(kind, prompt);
                let rec = self.offline_record(step, "prompt_engineer", prompt, &c.feedback, start);
                Ok((c, rec))
            }
            Backend::Http(llm) => {
                let mut user = format!("Prompt to critique:\n{prompt}\n");
                let extra = ctx.describe();
                if !extra.is_empty() {
                    user.push_str(&format!("\nContext:\n{extra}"));
                }
                let req = ChatRequest {
                    model: self.critique_model.clone(),
                    messages: vec![Message::system(engineer_system(kind)), Message::user(user)],
                    json: true,
                    temperature: Some(0.0),
                };
                let (c, usage, el, att, json_mode, mal) = self
                    .chat_parsed(llm, req, "prompt_engineer", "JSON object", |r| {
                        parse_critique(kind, r)
                    })
                    .await?;
                let model = self.critique_model.clone();
                Ok((
                    c,
                    self.record(
                        step,
                        "prompt_engineer",
                        &model,
                        usage,
                        el,
                        att,
                        Some(json_mode),
                        mal,
                    ),
                ))
            }
        }
    }

    /// VideoDirectorGPT plan. With an LLM, a plan that stays invalid after one retry falls back
    /// to the rule-based plan; the returned note says so.
    pub async fn plan(
        &self,
        prompt: &str,
    ) -> Result<(VideoPlan, CallRecord, Option<String>), LlmError> {
        let start = Instant::now();
        match &self.backend {
            Backend::Offline => {
                let p = offline::plan(prompt);
                let rec =
                    self.offline_record("videodirectorgpt_plan", "planner", prompt, "", start);
                Ok((p, rec, None))
            }
            Backend::Http(llm) => {
                let req = ChatRequest {
                    model: self.creative_model.clone(),
                    messages: vec![
                        Message::system(planner_system()),
                        Message::user(format!("Video prompt:\n{prompt}")),
                    ],
                    json: true,
                    temperature: Some(0.2),
                };
                match self
                    .chat_parsed(llm, req, "planner", "JSON plan", parse_plan)
                    .await
                {
                    Ok((p, usage, el, att, jm, mal)) => {
                        let model = self.creative_model.clone();
                        Ok((
                            p,
                            self.record(
                                "videodirectorgpt_plan",
                                "planner",
                                &model,
                                usage,
                                el,
                                att,
                                Some(jm),
                                mal,
                            ),
                            None,
                        ))
                    }
                    Err(LlmError::Malformed { reason, .. }) => {
                        let p = offline::plan(prompt);
                        let rec = self.offline_record(
                            "videodirectorgpt_plan",
                            "planner",
                            prompt,
                            "",
                            start,
                        );
                        Ok((p, rec, Some(format!("the LLM plan was invalid twice ({reason}); used the rule-based plan"))))
                    }
                    Err(e) => Err(e),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_extraction_variants() {
        assert_eq!(extract_json(" {\"a\":1} "), Some("{\"a\":1}"));
        assert_eq!(
            extract_json("Here:\n```json\n{\"a\":1}\n```\nbye"),
            Some("{\"a\":1}")
        );
        assert_eq!(
            extract_json("Sure! {\"a\":{\"b\":2}} done"),
            Some("{\"a\":{\"b\":2}}")
        );
        assert_eq!(extract_json("no json"), None);
    }

    #[test]
    fn critique_validation() {
        let ok = r#"{"scores":{"completeness":80,"specificity":70,"professionalism":90,"cinematography":60,"temporal_coherence":50,"brand_alignment":100},"feedback":"ok","suggestions":["x"]}"#;
        let c = parse_critique(PromptKind::Video, ok).unwrap();
        assert_eq!(c.scores.overall, 73.0);
        assert!(
            parse_critique(PromptKind::Video, &ok.replace("\"completeness\":80,", ""))
                .unwrap_err()
                .contains("completeness")
        );
        assert!(parse_critique(PromptKind::Video, &ok.replace("80", "180")).is_err());
        assert!(parse_critique(PromptKind::Image, ok).is_err());
        assert!(parse_critique(PromptKind::Video, "{not json").is_err());
    }

    #[test]
    fn director_reply_cleanup() {
        assert_eq!(
            clean_prompt_reply("\"Wide shot of a cat.\""),
            "Wide shot of a cat."
        );
        assert_eq!(
            clean_prompt_reply("```\nPrompt: Wide shot\n```"),
            "Wide shot"
        );
    }
}
