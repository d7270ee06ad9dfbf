//! CLIP tokenisation as `clip.tokenize` does it: the text is cleaned the way OpenAI's
//! `SimpleTokenizer` cleans it (ftfy + HTML unescape + whitespace collapse; we implement the
//! parts that change ids on real prompts), then BPE-encoded with the checkpoint's
//! `tokenizer.json`, wrapped in SOT/EOT and zero-padded to the context length.

use std::path::Path;

use crate::error::ScoreError;

/// `whitespace_clean(basic_clean(text)).lower()` of OpenAI's `SimpleTokenizer` (shared by
/// ViCLIP's copy): `ftfy.fix_text` (its character-level fixes, [`crate::ftfy`]; ftfy first
/// unescapes HTML entities itself unless the text contains `<`), `html.unescape` twice, `\s+`
/// → one space, strip, then Python's `str.lower` (Rust's `to_lowercase` agrees with it,
/// final sigma included; the tokenizer's own Lowercase normaliser does not handle final sigma).
pub fn clean_text(text: &str) -> String {
    let ftfy_unescaped;
    let text = if text.contains('<') {
        text
    } else {
        ftfy_unescaped = html_unescape(text);
        &ftfy_unescaped
    };
    let fixed = crate::ftfy::fix_text_chars(text);
    let unescaped = html_unescape(&html_unescape(&fixed));
    unescaped
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
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
                "apos" => Some('\''),
                n if n.starts_with("#x") || n.starts_with("#X") => u32::from_str_radix(&n[2..], 16)
                    .ok()
                    .and_then(char::from_u32),
                n if n.starts_with('#') => n[1..].parse().ok().and_then(char::from_u32),
                n => crate::ftfy::HTML4_ENTITIES
                    .binary_search_by_key(&n, |e| e.0)
                    .ok()
                    .map(|i| crate::ftfy::HTML4_ENTITIES[i].1),
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
        assert_eq!(clean_text("AT&T &unknown; &"), "at&t &unknown; &");
        // Python: "ΣΊΣΥΦΟΣ".lower() == "σίσυφος" (final sigma)
        assert_eq!(clean_text("ΣΊΣΥΦΟΣ"), "σίσυφος");
    }
}
