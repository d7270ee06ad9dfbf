//! CLIP tokenisation as `clip.tokenize` does it: the text is cleaned the way OpenAI's
//! `SimpleTokenizer` cleans it (ftfy + HTML unescape + whitespace collapse; we implement the
//! parts that change ids on real prompts), then BPE-encoded with the checkpoint's
//! `tokenizer.json`, wrapped in SOT/EOT and zero-padded to the context length.

use std::path::Path;

use crate::error::ScoreError;

/// The subset of `ftfy.fix_text` + `html.unescape` that matters for prompts: HTML entities,
/// curly quotes and dashes that ftfy uncurls, control characters; then `whitespace_clean`.
pub fn clean_text(text: &str) -> String {
    let unescaped = html_unescape(&html_unescape(text));
    let mut s = String::with_capacity(unescaped.len());
    for c in unescaped.chars() {
        let c = match c {
            '\u{2018}' | '\u{2019}' | '\u{201a}' | '\u{201b}' | '\u{2032}' => '\'',
            '\u{201c}' | '\u{201d}' | '\u{201e}' | '\u{201f}' | '\u{2033}' => '"',
            '\u{00a0}' => ' ',
            c if c.is_control() && !c.is_whitespace() => continue,
            c => c,
        };
        s.push(c);
    }
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn html_unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let end = rest[1..].find(';').map(|j| j + 1);
        let decoded = end.and_then(|e| {
            let name = &rest[1..e];
            let c = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some('\u{a0}'),
                n if n.starts_with("#x") || n.starts_with("#X") => u32::from_str_radix(&n[2..], 16)
                    .ok()
                    .and_then(char::from_u32),
                n if n.starts_with('#') => n[1..].parse().ok().and_then(char::from_u32),
                _ => None,
            };
            c.map(|c| (c, e + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

pub const SOT: u32 = 49406;
pub const EOT: u32 = 49407;

/// A CLIP BPE tokenizer loaded from a `tokenizer.json`.
pub struct ClipTokenizer {
    inner: tokenizers::Tokenizer,
}

/// Token ids padded to the context length, and whether the text had to be truncated.
pub struct Tokenized {
    pub ids: Vec<u32>,
    pub truncated: bool,
}

impl ClipTokenizer {
    pub fn from_file(path: &Path) -> Result<Self, ScoreError> {
        let inner = tokenizers::Tokenizer::from_file(path).map_err(|e| ScoreError::Tokenizer {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Ok(Self { inner })
    }

    /// `clip.tokenize([text], context_length)[0]`. Where OpenAI's raises on a text longer than
    /// the context, we truncate (keeping EOT last) and say so.
    pub fn tokenize(&self, text: &str, context_length: usize) -> Result<Tokenized, ScoreError> {
        let cleaned = clean_text(text);
        let enc =
            self.inner
                .encode(cleaned.as_str(), false)
                .map_err(|e| ScoreError::Tokenizer {
                    path: "tokenizer.json".into(),
                    reason: e.to_string(),
                })?;
        let mut ids: Vec<u32> = enc
            .get_ids()
            .iter()
            .copied()
            .filter(|&i| i != SOT && i != EOT)
            .collect();
        let truncated = ids.len() + 2 > context_length;
        ids.truncate(context_length.saturating_sub(2));
        let mut out = Vec::with_capacity(context_length);
        out.push(SOT);
        out.extend(ids);
        out.push(EOT);
        out.resize(context_length, 0);
        Ok(Tokenized {
            ids: out,
            truncated,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleaning_uncurls_and_unescapes() {
        assert_eq!(
            clean_text("a “cat’s”  toy &amp; more\n"),
            "a \"cat's\" toy & more"
        );
        assert_eq!(clean_text("&#39;x&#x27;"), "'x'");
        assert_eq!(clean_text("plain ascii, kept."), "plain ascii, kept.");
        assert_eq!(clean_text("AT&T &unknown; &"), "AT&T &unknown; &");
    }
}
