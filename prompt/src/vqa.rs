//! VQAScore (Lin et al., 2024) through an OpenAI-compatible **vision** chat model, for
//! `generate-images` when `--vqa-model` is given.
//!
//! Method: one chat completion with the image (a `data:image/png;base64,…` URL part) and the
//! question `Does this figure show "{prompt}"? Please answer yes or no.` (VQAScore's template),
//! `max_tokens: 1`, `temperature: 0`, `logprobs: true`, `top_logprobs: 20`.
//! * When the reply carries log-probabilities for the first token, the score is
//!   `P(yes) / (P(yes) + P(no))`, each the summed probability of the top tokens that read "yes"
//!   (resp. "no") after trimming and lower-casing (method `logprobs`). VQAScore proper is the
//!   unnormalised `P(yes)`; normalising over yes/no removes the mass that chat models put on
//!   other first tokens (capitalisation, punctuation) and keeps the value in [0, 1].
//! * Otherwise (servers without logprobs) the answer text is read: "yes…" → 1, "no…" → 0
//!   (method `answer`); anything else is an error for that image.

use base64::Engine;
use serde_json::{json, Value};

use crate::error::LlmError;
use crate::llm::HttpLlm;

/// VQAScore's question template.
pub fn question(prompt: &str) -> String {
    format!(
        "Does this figure show \"{}\"? Please answer yes or no.",
        prompt.trim()
    )
}

/// The chat-completions body for one image.
pub fn request_body(model: &str, prompt: &str, png: &[u8]) -> Value {
    let url = format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(png)
    );
    json!({
        "model": model,
        "messages": [
            {"role": "system", "content": "ROLE: vqa\nAnswer the question about the image with yes or no."},
            {"role": "user", "content": [
                {"type": "text", "text": question(prompt)},
                {"type": "image_url", "image_url": {"url": url}}
            ]}
        ],
        "max_tokens": 1,
        "temperature": 0,
        "logprobs": true,
        "top_logprobs": 20
    })
}

/// Score in [0, 1] and the method used (`logprobs` or `answer`) from a reply.
pub fn parse_score(reply: &Value) -> Result<(f64, &'static str), String> {
    if let Some(top) = reply
        .pointer("/choices/0/logprobs/content/0/top_logprobs")
        .and_then(Value::as_array)
    {
        let (mut yes, mut no) = (0f64, 0f64);
        for t in top {
            let tok = t["token"]
                .as_str()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            let p = t["logprob"].as_f64().map(f64::exp).unwrap_or(0.0);
            match tok.as_str() {
                "yes" => yes += p,
                "no" => no += p,
                _ => {}
            }
        }
        if yes + no > 0.0 {
            return Ok((yes / (yes + no), "logprobs"));
        }
    }
    let answer = reply
        .pointer("/choices/0/message/content")
        .and_then(Value::as_str)
        .ok_or("the reply has no choices[0].message.content")?
        .trim()
        .to_ascii_lowercase();
    if answer.starts_with("yes") {
        Ok((1.0, "answer"))
    } else if answer.starts_with("no") {
        Ok((0.0, "answer"))
    } else {
        Err(format!("the answer {answer:?} is neither yes nor no"))
    }
}

/// One VQAScore query.
pub async fn score(
    llm: &HttpLlm,
    model: &str,
    prompt: &str,
    png: &[u8],
) -> Result<(f64, &'static str), LlmError> {
    let (reply, _) = llm.post_json(&request_body(model, prompt, png)).await?;
    parse_score(&reply).map_err(|reason| LlmError::BadResponse {
        endpoint: llm.endpoint().to_string(),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logprobs_normalise_yes_over_no() {
        let r = json!({"choices":[{"message":{"content":"Yes"},"logprobs":{"content":[{"token":"Yes",
            "top_logprobs":[{"token":"Yes","logprob":(0.6f64).ln()},{"token":" yes","logprob":(0.1f64).ln()},
            {"token":"No","logprob":(0.2f64).ln()},{"token":".","logprob":(0.1f64).ln()}]}]}}]});
        let (s, m) = parse_score(&r).unwrap();
        assert_eq!(m, "logprobs");
        assert!((s - 0.7 / 0.9).abs() < 1e-12);
    }

    #[test]
    fn answer_text_without_logprobs() {
        let r = |c: &str| json!({"choices":[{"message":{"content":c}}]});
        assert_eq!(parse_score(&r("Yes.")).unwrap(), (1.0, "answer"));
        assert_eq!(parse_score(&r(" no")).unwrap(), (0.0, "answer"));
        assert!(parse_score(&r("maybe")).is_err());
        let b = request_body("m", "a cat", b"\x89PNG");
        assert_eq!(b["messages"][1]["content"][1]["type"], "image_url");
        assert!(b["messages"][1]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("Does this figure show \"a cat\"?"));
    }
}
