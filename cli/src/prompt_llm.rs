//! `vbench-score --prompt-parser llm`: any-prompt mode asks an OpenAI-compatible LLM (the
//! prompt tools' client, `vbench_prompt::llm::HttpLlm`, configured like `enhance-video-prompt`:
//! `--llm-base-url` / `OPENAI_BASE_URL`, key `OPENAI_API_KEY` from the environment or `.env`)
//! for the JSON of [`PromptInfo`], validates the reply with [`PromptInfo::from_llm_json`], and
//! falls back to the rule parser ([`parse_prompt`]) on any failure — request error or unusable
//! reply — with a `note` saying why, which the dimensions write into the per-video record
//! (`prompt_info.note`).

use std::collections::HashMap;
use std::time::Duration;

use vbench_prompt::config::{resolve_http, LlmChoice};
use vbench_prompt::llm::{ChatRequest, HttpLlm, Message};
use vbench_scorer::prompt_info::{parse_prompt, PromptInfo, COCO, COLORS};

/// The system message (its first line lets test servers route the request).
pub fn system_message() -> String {
    format!(
        "ROLE: prompt_info_parser\n\
You read one text-to-video prompt and say what a checker should look for in the video.\n\
Reply with one JSON object and nothing else:\n\
{{\"objects\": [{{\"name\": str, \"count\": int >= 1, \"color\": str or null}}], \"color\": str or null,\n \
\"spatial\": {{\"object_a\": str, \"object_b\": str, \"relationship\": str}} or null, \"scene\": str or null}}\n\
Rules:\n\
- objects: the physical things the prompt shows, in order of mention, singular, lowercase; use the COCO \
class name when one fits (a man, woman or astronaut is \"person\"): {coco}.\n\
- color: the colour the prompt gives its main object, one of: {colors}; null if none. An object's own \
\"color\" is the colour word in front of it.\n\
- spatial: only when the prompt places one object relative to another; relationship is exactly one of \
\"on the left of\", \"on the right of\", \"on the top of\", \"on the bottom of\"; object_a is the object \
placed, object_b the reference.\n\
- scene: the place, as a short noun phrase of 1-3 words (\"beach\", \"train station platform\"); null if \
the prompt names no place. Ignore style phrases such as \"oil painting\".",
        coco = COCO.join(", "),
        colors = COLORS.join(", ")
    )
}

/// Connection settings (`vbench-score` flags).
#[derive(Debug, Clone)]
pub struct LlmParserConfig {
    pub base_url: Option<String>,
    pub model: String,
    pub timeout: Duration,
    pub retries: u32,
}

pub struct LlmPromptParser {
    llm: HttpLlm,
    model: String,
}

impl LlmPromptParser {
    /// Resolves the endpoint and key (`dotenv_dir/.env` is read as the prompt tools do).
    pub fn new(cfg: &LlmParserConfig, dotenv_dir: &std::path::Path) -> anyhow::Result<Self> {
        let (http, _) = resolve_http(LlmChoice::Openai, cfg.base_url.as_deref(), dotenv_dir)?;
        let mut http = http.ok_or_else(|| anyhow::anyhow!("no LLM endpoint configured"))?;
        http.timeout = cfg.timeout;
        http.max_retries = cfg.retries;
        http.backoff_base = Duration::from_millis(500);
        Ok(Self {
            llm: HttpLlm::new(http)?,
            model: cfg.model.clone(),
        })
    }

    pub fn endpoint(&self) -> &str {
        self.llm.endpoint()
    }

    /// The parsed info of one prompt: the LLM's, or the rule parser's with a note.
    pub async fn parse(&self, prompt: &str) -> PromptInfo {
        let req = ChatRequest {
            model: self.model.clone(),
            messages: vec![Message::system(system_message()), Message::user(prompt)],
            json: true,
            temperature: Some(0.0),
        };
        let fallback = |why: String| PromptInfo {
            note: Some(format!("{why}; the rule parser was used instead")),
            ..parse_prompt(prompt)
        };
        match self.llm.chat(&req).await {
            Ok(reply) => match PromptInfo::from_llm_json(&reply.content) {
                Some(info) => info,
                None => {
                    let mut shown: String = reply.content.chars().take(120).collect();
                    if shown.len() < reply.content.len() {
                        shown.push('…');
                    }
                    fallback(format!(
                        "the LLM's reply is not valid prompt info: {shown:?}"
                    ))
                }
            },
            Err(e) => fallback(format!("the LLM request failed: {e}")),
        }
    }

    /// Parses each distinct prompt once.
    pub fn parse_all(&self, prompts: &[String]) -> anyhow::Result<HashMap<String, PromptInfo>> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let mut out = HashMap::new();
        for p in prompts {
            if !out.contains_key(p) {
                let info = rt.block_on(self.parse(p));
                out.insert(p.clone(), info);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_message_lists_the_vocabularies() {
        let s = system_message();
        assert!(s.starts_with("ROLE: prompt_info_parser\n"));
        assert!(s.contains("cell phone") && s.contains("on the bottom of") && s.contains("grey"));
    }
}
