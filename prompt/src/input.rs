//! Reading and checking the user's prompt.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::InputError;

/// `-` means stdin.
#[derive(Debug, Clone)]
pub enum PromptSource {
    Stdin,
    File(PathBuf),
}

impl PromptSource {
    pub fn from_arg(arg: &str) -> Self {
        if arg == "-" {
            PromptSource::Stdin
        } else {
            PromptSource::File(PathBuf::from(arg))
        }
    }
}

/// Reads the prompt and checks it is UTF-8 and not blank.
pub fn read_prompt(src: &PromptSource) -> Result<String, InputError> {
    let (bytes, path) = match src {
        PromptSource::Stdin => {
            let mut b = Vec::new();
            std::io::stdin()
                .read_to_end(&mut b)
                .map_err(|e| InputError::Read {
                    path: "<stdin>".into(),
                    source: e,
                })?;
            (b, PathBuf::from("<stdin>"))
        }
        PromptSource::File(p) => (read_file(p)?, p.clone()),
    };
    let text = String::from_utf8(bytes).map_err(|e| InputError::NotUtf8 {
        path,
        offset: e.utf8_error().valid_up_to(),
    })?;
    let text = text.trim().to_string();
    if text.is_empty() {
        return Err(InputError::EmptyPrompt);
    }
    Ok(text)
}

pub(crate) fn read_file(p: &Path) -> Result<Vec<u8>, InputError> {
    if p.is_dir() {
        return Err(InputError::PromptIsDirectory(p.into()));
    }
    std::fs::read(p).map_err(|e| InputError::Read {
        path: p.into(),
        source: e,
    })
}

/// Cuts `text` to at most `max_chars` characters, at a word boundary when one is near.
/// Returns the text and whether it was cut.
pub fn truncate_prompt(text: &str, max_chars: usize) -> (String, bool) {
    if text.chars().count() <= max_chars {
        return (text.to_string(), false);
    }
    let cut: String = text.chars().take(max_chars).collect();
    let trimmed = match cut.rfind(char::is_whitespace) {
        Some(i) if i > max_chars / 2 => cut[..i].to_string(),
        _ => cut,
    };
    (trimmed.trim_end().to_string(), true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_at_word_boundary() {
        assert_eq!(truncate_prompt("abc def", 10), ("abc def".into(), false));
        assert_eq!(truncate_prompt("abc def ghi", 9), ("abc def".into(), true));
        let long = "é".repeat(20);
        assert_eq!(truncate_prompt(&long, 5).0.chars().count(), 5);
    }

    #[test]
    fn rejects_dirs_bad_utf8_and_blank() {
        let d = tempfile::tempdir().unwrap();
        assert!(matches!(
            read_prompt(&PromptSource::File(d.path().into())),
            Err(InputError::PromptIsDirectory(_))
        ));
        let p = d.path().join("x.txt");
        std::fs::write(&p, b"ok \xff\xfe").unwrap();
        assert!(matches!(
            read_prompt(&PromptSource::File(p.clone())),
            Err(InputError::NotUtf8 { offset: 3, .. })
        ));
        std::fs::write(&p, "  \n ").unwrap();
        assert!(matches!(
            read_prompt(&PromptSource::File(p.clone())),
            Err(InputError::EmptyPrompt)
        ));
        std::fs::write(&p, " a cat \n").unwrap();
        assert_eq!(read_prompt(&PromptSource::File(p)).unwrap(), "a cat");
    }
}
