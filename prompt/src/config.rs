//! Choosing the backend: flags, environment, and a `.env` file in the working directory.
//! The key is read from `OPENAI_API_KEY` (environment first, then `.env`); it is never printed or
//! written anywhere.

use std::path::Path;

use crate::error::InputError;
use crate::llm::{ApiKey, HttpConfig, OPENAI_BASE_URL};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LlmChoice {
    /// An endpoint if a key or a base URL is configured, else offline (with a notice).
    Auto,
    /// Any OpenAI-compatible endpoint.
    Openai,
    Offline,
}

impl std::str::FromStr for LlmChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Self::Auto),
            "openai" => Ok(Self::Openai),
            "offline" => Ok(Self::Offline),
            _ => Err(format!("unknown backend {s:?} (auto, openai, offline)")),
        }
    }
}

/// Values of a `.env` file (`KEY=value`, optional `export `, optional quotes, `#` comments).
pub fn parse_dotenv(text: &str, key: &str) -> Option<String> {
    for line in text.lines() {
        let line = line.trim();
        let line = line.strip_prefix("export ").unwrap_or(line);
        if line.starts_with('#') {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            if k.trim() == key {
                let v = v.trim();
                let v = v
                    .strip_prefix('"')
                    .and_then(|x| x.strip_suffix('"'))
                    .or_else(|| v.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')))
                    .unwrap_or(v);
                return (!v.is_empty()).then(|| v.to_string());
            }
        }
    }
    None
}

fn lookup(name: &str, dotenv: Option<&str>) -> Option<String> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .or_else(|| dotenv.and_then(|t| parse_dotenv(t, name)))
}

/// `None` = offline. The notice (if any) tells why offline was chosen.
pub fn resolve_http(
    choice: LlmChoice,
    base_url_flag: Option<&str>,
    dotenv_dir: &Path,
) -> Result<(Option<HttpConfig>, Option<String>), InputError> {
    if choice == LlmChoice::Offline {
        return Ok((None, None));
    }
    let dotenv = std::fs::read_to_string(dotenv_dir.join(".env")).ok();
    let key = lookup("OPENAI_API_KEY", dotenv.as_deref()).and_then(ApiKey::new);
    let base = base_url_flag
        .map(str::to_string)
        .filter(|s| !s.trim().is_empty())
        .or_else(|| lookup("OPENAI_BASE_URL", dotenv.as_deref()));
    if key.is_none() && base.is_none() {
        return match choice {
            LlmChoice::Openai => Err(InputError::Option(
                "--llm openai needs OPENAI_API_KEY (environment or .env) or --llm-base-url / OPENAI_BASE_URL".into(),
            )),
            _ => Ok((None, Some("no OPENAI_API_KEY and no --llm-base-url/OPENAI_BASE_URL: using the offline rule-based agents (--llm offline)".into()))),
        };
    }
    let base = base.unwrap_or_else(|| OPENAI_BASE_URL.to_string());
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        return Err(InputError::Option(format!(
            "LLM base URL {base:?} must start with http:// or https://"
        )));
    }
    Ok((Some(HttpConfig::new(base, key)), None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotenv_parsing() {
        let t = "# c\nexport OPENAI_API_KEY=\"sk-1\"\nOTHER=2\nOPENAI_BASE_URL='http://x'\n";
        assert_eq!(parse_dotenv(t, "OPENAI_API_KEY").as_deref(), Some("sk-1"));
        assert_eq!(
            parse_dotenv(t, "OPENAI_BASE_URL").as_deref(),
            Some("http://x")
        );
        assert_eq!(parse_dotenv(t, "MISSING"), None);
    }
}
