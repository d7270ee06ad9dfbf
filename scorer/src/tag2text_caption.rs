//! Tag2Text captioning as `vbench.scene.get_caption` runs it: the BERT tokenizer Tag2Text builds
//! (`tag2text.py::init_tokenizer`: `bert-base-uncased` + `[DEC]` as bos + `[ENC]`), frame
//! preprocessing (`utils.py::tag2text_transform(384)` on frames already 384×384), tags →
//! tag-encoder ids, the prompt, beam search and transformers 4.33's `decode`.
//!
//! Only the captions VBench actually scores are computed: caption *i* of the 16 sampled frames is
//! generated from frame *i // 3*'s tag-encoder output (spec 40-semantic.md §2.5.5–2.5.6), so
//! [`Captioner::captions`] takes the frames that matter and [`vbench_captions`] expands them.

use std::path::Path;

use candle_core::{Device, Tensor};
use vbench_models::tag2text::{tag_list, BeamConfig, Tag2Text};

use crate::error::ScoreError;

/// `Tag2Text_Caption.prompt`.
pub const PROMPT: &str = "a picture of ";
/// `max_length=40` of the tag tokenisation.
pub const TAG_MAX_LEN: usize = 40;
/// ImageNet mean/std of `tag2text_transform`.
const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
const STD: [f32; 3] = [0.229, 0.224, 0.225];

/// The BERT WordPiece tokenizer with Tag2Text's two added special tokens.
pub struct BertTokenizer {
    inner: tokenizers::Tokenizer,
    pub pad: u32,
    pub unk: u32,
    pub cls: u32,
    pub sep: u32,
    pub mask: u32,
    /// `[DEC]` (bos), appended after the vocabulary (30522 for bert-base-uncased).
    pub dec: u32,
    /// `[ENC]` (30523 for bert-base-uncased).
    pub enc: u32,
}

fn tok_err(path: &Path, reason: impl ToString) -> ScoreError {
    ScoreError::Tokenizer {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

impl BertTokenizer {
    /// From `bert-base-uncased`'s `tokenizer.json` (or one written by `BertTokenizerFast` from a
    /// `vocab.txt`).
    pub fn from_file(path: &Path) -> Result<Self, ScoreError> {
        let inner = tokenizers::Tokenizer::from_file(path).map_err(|e| tok_err(path, e))?;
        let id = |t: &str| {
            inner
                .token_to_id(t)
                .ok_or_else(|| tok_err(path, format!("no {t} token")))
        };
        let (pad, unk, cls, sep, mask) = (
            id("[PAD]")?,
            id("[UNK]")?,
            id("[CLS]")?,
            id("[SEP]")?,
            id("[MASK]")?,
        );
        // add_special_tokens appends new tokens after the whole vocabulary.
        let n = inner.get_vocab_size(true) as u32;
        let dec = inner.token_to_id("[DEC]").unwrap_or(n);
        let enc = inner
            .token_to_id("[ENC]")
            .unwrap_or(if dec == n { n + 1 } else { n });
        Ok(Self {
            inner,
            pad,
            unk,
            cls,
            sep,
            mask,
            dec,
            enc,
        })
    }

    fn encode_plain(&self, text: &str) -> Result<Vec<u32>, ScoreError> {
        Ok(self
            .inner
            .encode(text, false)
            .map_err(|e| tok_err(Path::new("tokenizer.json"), e))?
            .get_ids()
            .to_vec())
    }

    /// `tokenizer(tags, padding='max_length', truncation=True, max_length=40)` with position 0
    /// replaced by `[ENC]`: (ids, attention mask).
    pub fn tag_ids(&self, tags: &str) -> Result<(Vec<u32>, Vec<u32>), ScoreError> {
        let mut ids = self.encode_plain(tags)?;
        ids.truncate(TAG_MAX_LEN - 2);
        let mut out = Vec::with_capacity(TAG_MAX_LEN);
        out.push(self.enc);
        out.extend(ids);
        out.push(self.sep);
        let mask: Vec<u32> = (0..TAG_MAX_LEN).map(|i| (i < out.len()) as u32).collect();
        out.resize(TAG_MAX_LEN, self.pad);
        Ok((out, mask))
    }

    /// `tokenizer('a picture of ').input_ids` with position 0 → `[DEC]`, the final `[SEP]` dropped.
    pub fn prompt_ids(&self) -> Result<Vec<u32>, ScoreError> {
        let mut ids = vec![self.dec];
        ids.extend(self.encode_plain(PROMPT)?);
        Ok(ids)
    }

    fn is_special(&self, id: u32) -> bool {
        [
            self.pad, self.unk, self.cls, self.sep, self.mask, self.dec, self.enc,
        ]
        .contains(&id)
    }

    /// `tokenizer.decode(ids, skip_special_tokens=True)` of transformers 4.33 (`BertTokenizer`):
    /// WordPiece join and `clean_up_tokenization` (not the `tokenizers` crate's decoder, whose
    /// clean-up also rewrites "do not").
    pub fn decode(&self, ids: &[u32]) -> String {
        let toks: Vec<String> = ids
            .iter()
            .filter(|&&i| !self.is_special(i))
            .map(|&i| {
                self.inner
                    .id_to_token(i)
                    .unwrap_or_else(|| "[UNK]".to_string())
            })
            .collect();
        let text = toks.join(" ").replace(" ##", "");
        clean_up_tokenization(text.trim())
    }
}

/// transformers' `clean_up_tokenization` (4.33).
pub fn clean_up_tokenization(s: &str) -> String {
    s.replace(" .", ".")
        .replace(" ?", "?")
        .replace(" !", "!")
        .replace(" ,", ",")
        .replace(" ' ", "'")
        .replace(" n't", "n't")
        .replace(" 'm", "'m")
        .replace(" 's", "'s")
        .replace(" 've", "'ve")
        .replace(" 're", "'re")
}

/// `caption[len(prompt):]` (Python slices code points).
pub fn strip_prompt(text: &str) -> String {
    text.chars().skip(PROMPT.chars().count()).collect()
}

/// `tag2text_transform(384)` on frames that are already `size`×`size` RGB (decord scaled them):
/// `(x/255 − mean)/std`, (N, 3, size, size).
pub fn preprocess(frames: &[&[u8]], size: usize, dev: &Device) -> Result<Tensor, ScoreError> {
    let plane = size * size;
    let mut out = vec![0f32; frames.len() * 3 * plane];
    for (f, data) in frames.iter().enumerate() {
        if data.len() != plane * 3 {
            return Err(ScoreError::Options(format!(
                "tag2text: frame of {} bytes, expected {size}×{size}×3",
                data.len()
            )));
        }
        for (p, px) in data.chunks_exact(3).enumerate() {
            for c in 0..3 {
                out[(f * 3 + c) * plane + p] = (px[c] as f32 / 255.0 - MEAN[c]) / STD[c];
            }
        }
    }
    Ok(Tensor::from_vec(out, (frames.len(), 3, size, size), dev)?)
}

/// One frame's caption and what led to it.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameCaption {
    pub tags: String,
    pub tokens: Vec<u32>,
    pub score: f64,
    /// Decoded text minus the prompt (what `scene` matches against).
    pub caption: String,
}

/// Tag2Text + tokenizer.
pub struct Captioner<'a> {
    pub model: &'a Tag2Text,
    pub tokenizer: &'a BertTokenizer,
    pub beam: BeamConfig,
}

impl Captioner<'_> {
    /// Captions for normalised images (N, 3, R, R), each from its own tags and features.
    pub fn captions(&self, images: &Tensor) -> Result<Vec<FrameCaption>, ScoreError> {
        let emb = self.model.image_embeds(images)?;
        let logits = self.model.tag_logits(&emb)?;
        let selected = self.model.select_tags(&logits)?;
        let names = tag_list();
        let mut ids = Vec::new();
        let mut mask = Vec::new();
        let mut tag_strings = Vec::new();
        for sel in &selected {
            let s = sel
                .iter()
                .filter_map(|&i| names.get(i).copied())
                .collect::<Vec<_>>()
                .join(" | ");
            let (i, m) = self.tokenizer.tag_ids(&s)?;
            ids.extend(i);
            mask.extend(m);
            tag_strings.push(s);
        }
        let n = selected.len();
        let dev = images.device();
        let ids = Tensor::from_vec(ids, (n, TAG_MAX_LEN), dev)?;
        let mask = Tensor::from_vec(mask, (n, TAG_MAX_LEN), dev)?;
        let states = self.model.encode_tags(&ids, &mask, &emb)?;
        let prompt = self.tokenizer.prompt_ids()?;
        let outs = self.model.generate(&states, &prompt, &self.beam)?;
        Ok(outs
            .into_iter()
            .zip(tag_strings)
            .map(|(o, tags)| FrameCaption {
                caption: strip_prompt(&self.tokenizer.decode(&o.tokens)),
                tags,
                tokens: o.tokens,
                score: o.score,
            })
            .collect())
    }
}

/// Number of sampled frames whose captions matter: captions 0..16 come from frames 0..5.
pub const EFFECTIVE_FRAMES: usize = 6;

/// The 16 captions VBench scores, given the captions of sampled frames 0..5: caption *i* is
/// frame *i // 3*'s (spec §2.5.5). With `corrected`, every frame's own caption instead (needs all
/// 16).
pub fn vbench_captions(caps: &[String], n_frames: usize, corrected: bool) -> Vec<String> {
    (0..n_frames)
        .filter_map(|i| caps.get(if corrected { i } else { i / 3 }).cloned())
        .collect()
}

/// `scene.py::check_generate`: captions containing every space-separated word of `key` as a
/// substring.
pub fn check_generate(key: &str, captions: &[String]) -> usize {
    captions
        .iter()
        .filter(|c| key.split(' ').all(|q| c.contains(q)))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching_is_substring_per_word() {
        let caps = vec!["a barn by the river".to_string(), "a driver".to_string()];
        assert_eq!(check_generate("bar", &caps), 1);
        assert_eq!(check_generate("river", &caps), 2);
        assert_eq!(check_generate("barn river", &caps), 1);
        // Python's ''.split(' ') == [''] and '' is in every string.
        assert_eq!(check_generate("", &caps), 2);
    }

    #[test]
    fn frame_i_uses_frame_i_div_3() {
        let caps: Vec<String> = (0..6).map(|i| i.to_string()).collect();
        let v = vbench_captions(&caps, 16, false);
        assert_eq!(v.concat(), "0001112223334445");
    }

    #[test]
    fn cleanup_and_prompt() {
        assert_eq!(
            clean_up_tokenization("it is n't ok , right ?"),
            "it isn't ok, right?"
        );
        assert_eq!(strip_prompt("a picture of a dog"), "a dog");
    }
}
