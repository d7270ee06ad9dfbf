//! Tag2Text captioner as VBench's `scene` runs it (`vbench/third_party/tag2Text/tag2text.py`,
//! `Tag2Text_Caption.generate` with `tag_input=None`, beam search): Swin-B image encoder, the
//! query-to-label tagging head (`vision_multi`, mode `mlr`, `GroupWiseLinear`), the tag encoder
//! (BERT with cross-attention to the image) and the caption decoder (causal BERT with
//! cross-attention to the tag encoder and an LM head), decoded with HuggingFace's beam search as
//! transformers 4.33.2 (default) or 4.46.3 run it (spec 40-semantic.md §4).
//!
//! Keys are those of `tag2text_swin_14m.pth['model']`: `visual_encoder.*` ([`crate::swin`]),
//! `label_embed.weight`, `fc.{W,b}`, `vision_multi.encoder.layer.{0,1}.{crossattention,
//! intermediate, output}.*`, `tag_encoder.{embeddings, encoder.layer.N}.*`,
//! `text_decoder.{bert.{embeddings, encoder.layer.N}, cls.predictions}.*`. The tag encoder's layers
//! 0–1 read their cross-attention and FFN from `vision_multi` (tied; the `vision_multi` values are
//! loaded last in VBench, spec §4.1).
//!
//! Tokenisation and caption text are the caller's (the scorer owns the tokenizer file); this
//! module works on token ids.

use candle_core::{DType, IndexOp, Result, Tensor, D};
use candle_nn::{Embedding, VarBuilder};
use serde::{Deserialize, Serialize};

use crate::bert::{self, BertEmbeddings, BertLayer, BertModel, LmHead, Mode};
use crate::swin::{self, SwinTransformer};

/// The 3429 tag strings of `tag_class.py::tra_array`, one per line, in index order.
pub const TAG_LIST: &str = include_str!("../data/tag2text_tags.txt");

/// `delete_tag_index` of `tag2text.py`: 'quarter', 'two', 'three', 'four', 'five', 'one'.
pub const DELETE_TAG_INDEX: [usize; 6] = [127, 3351, 3265, 3338, 3355, 3359];

/// The tag list as a vector of strings (index = class).
pub fn tag_list() -> Vec<&'static str> {
    TAG_LIST.lines().collect()
}

/// Network sizes and generation constants.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    pub swin: swin::Config,
    /// `med_config.json` (tag encoder: encoder_width = Swin width; decoder: encoder_width = hidden).
    pub med: bert::Config,
    /// `q2l_config.json` heads/layers (hidden and FFN sizes equal `med`'s).
    pub q2l_heads: usize,
    pub q2l_layers: usize,
    pub num_class: usize,
    /// Tag threshold on the sigmoid (strict `>`).
    pub threshold: f64,
}

impl Config {
    /// Tag2Text Swin-B/384 as VBench builds it.
    pub fn tag2text_swin_b_384() -> Self {
        Self {
            swin: swin::Config::swin_b_384(),
            med: bert::Config::med(768),
            q2l_heads: 4,
            q2l_layers: 2,
            num_class: 3429,
            threshold: 0.7,
        }
    }
}

/// Which transformers' beam-search length normalisation to follow (spec §4.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum BeamRules {
    /// transformers 4.33.2 (VBench's pin): scores divided by the full sequence length.
    #[default]
    V4_33,
    /// transformers 4.46.3: scores divided by the number of generated tokens.
    V4_46,
}

/// `generate(num_beams=3, max_length=30, min_length=10, repetition_penalty=1.0)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BeamConfig {
    pub num_beams: usize,
    pub max_length: usize,
    pub min_length: usize,
    pub eos_token_id: u32,
    pub rules: BeamRules,
}

impl Default for BeamConfig {
    fn default() -> Self {
        Self {
            num_beams: 3,
            max_length: 30,
            min_length: 10,
            eos_token_id: 102,
            rules: BeamRules::V4_33,
        }
    }
}

/// The chosen hypothesis of one caption.
#[derive(Debug, Clone, PartialEq)]
pub struct BeamOutput {
    /// Prompt + generated tokens, without the final EOS.
    pub tokens: Vec<u32>,
    /// Its normalised score (`sequences_scores`).
    pub score: f64,
}

/// Tag2Text captioning network.
#[derive(Debug, Clone)]
pub struct Tag2Text {
    visual_encoder: SwinTransformer,
    label_embed: Embedding,
    fc_w: Tensor,
    fc_b: Tensor,
    vision_multi: BertModel,
    tag_encoder: BertModel,
    decoder: BertModel,
    lm_head: LmHead,
    cfg: Config,
}

impl Tag2Text {
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        let visual_encoder = SwinTransformer::new(&cfg.swin, vb.pp("visual_encoder"))?;
        let vision_width = cfg.swin.num_features();
        let hidden = cfg.med.hidden_size;
        let q2l = bert::Config {
            num_hidden_layers: cfg.q2l_layers,
            num_attention_heads: cfg.q2l_heads,
            encoder_width: vision_width,
            ..cfg.med.clone()
        };
        let vm = vb.pp("vision_multi").pp("encoder").pp("layer");
        let vision_multi = BertModel {
            embeddings: None,
            layers: (0..cfg.q2l_layers)
                .map(|i| BertLayer::new(&q2l, false, vm.pp(i), None))
                .collect::<Result<_>>()?,
        };
        let enc_cfg = bert::Config {
            encoder_width: vision_width,
            ..cfg.med.clone()
        };
        let te = vb.pp("tag_encoder");
        let tag_encoder = BertModel {
            embeddings: Some(BertEmbeddings::new(&enc_cfg, te.pp("embeddings"))?),
            layers: (0..enc_cfg.num_hidden_layers)
                .map(|i| {
                    let tied = (i < cfg.q2l_layers).then(|| vm.pp(i));
                    BertLayer::new(&enc_cfg, true, te.pp("encoder").pp("layer").pp(i), tied)
                })
                .collect::<Result<_>>()?,
        };
        let dec_cfg = bert::Config {
            encoder_width: hidden,
            ..cfg.med.clone()
        };
        let td = vb.pp("text_decoder");
        let emb = BertEmbeddings::new(&dec_cfg, td.pp("bert").pp("embeddings"))?;
        let lm_head = LmHead::new(
            &dec_cfg,
            td.pp("cls").pp("predictions"),
            emb.word_embeddings(),
        )?;
        let decoder = BertModel {
            embeddings: Some(emb),
            layers: (0..dec_cfg.num_hidden_layers)
                .map(|i| {
                    BertLayer::new(
                        &dec_cfg,
                        true,
                        td.pp("bert").pp("encoder").pp("layer").pp(i),
                        None,
                    )
                })
                .collect::<Result<_>>()?,
        };
        Ok(Self {
            visual_encoder,
            label_embed: candle_nn::embedding(cfg.num_class, hidden, vb.pp("label_embed"))?,
            fc_w: vb.get((1, cfg.num_class, hidden), "fc.W")?,
            fc_b: vb.get((1, cfg.num_class), "fc.b")?,
            vision_multi,
            tag_encoder,
            decoder,
            lm_head,
            cfg: cfg.clone(),
        })
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Swin features (B, 1 + L, C) of normalised images (B, 3, R, R).
    pub fn image_embeds(&self, images: &Tensor) -> Result<Tensor> {
        self.visual_encoder.forward(images)
    }

    /// Tag logits (B, num_class) (`fc(vision_multi(label_embed, image_embeds, mode='mlr'))`).
    pub fn tag_logits(&self, image_embeds: &Tensor) -> Result<Tensor> {
        let b = image_embeds.dim(0)?;
        let labels = self.label_embed.embeddings();
        let (k, h) = labels.dims2()?;
        let q = labels.unsqueeze(0)?.broadcast_as((b, k, h))?.contiguous()?;
        let kv = self.vision_multi.cross_key_values(image_embeds)?;
        // encoder_attention_mask = ones → invert_attention_mask gives an all-zero mask.
        let y = self.vision_multi.forward(&q, None, &kv, None, Mode::Mlr)?;
        bert::groupwise_dot(&self.fc_w, &y)?.broadcast_add(&self.fc_b)
    }

    /// Selected tag indices per image, ascending: `sigmoid(logit) > threshold`, minus
    /// [`DELETE_TAG_INDEX`].
    pub fn select_tags(&self, logits: &Tensor) -> Result<Vec<Vec<usize>>> {
        let probs = candle_nn::ops::sigmoid(&logits.to_dtype(DType::F32)?)?.to_vec2::<f32>()?;
        let thr = self.cfg.threshold;
        Ok(probs
            .iter()
            .map(|row| {
                row.iter()
                    .enumerate()
                    .filter(|(i, p)| (**p as f64) > thr && !DELETE_TAG_INDEX.contains(i))
                    .map(|(i, _)| i)
                    .collect()
            })
            .collect())
    }

    /// Tag-encoder output (B, N, H) for token ids (B, N) (first id already `[ENC]`), their 0/1
    /// attention mask (B, N) and the image features of the same rows.
    pub fn encode_tags(
        &self,
        ids: &Tensor,
        mask: &Tensor,
        image_embeds: &Tensor,
    ) -> Result<Tensor> {
        let x = self.tag_encoder.embed(ids)?;
        let self_mask = bert::padding_mask(mask)?;
        let kv = self.tag_encoder.cross_key_values(image_embeds)?;
        self.tag_encoder
            .forward(&x, Some(&self_mask), &kv, None, Mode::Multimodal)
    }

    /// Log-probabilities (rows, V) of the next token after the last of `ids` (rows, n), the new
    /// tokens at positions `start..start + n`, given the decoder's self-attention `caches` of
    /// positions `0..start` (empty at the first call) and the cross-attention keys/values of
    /// each row's tag states. Returns the extended caches too.
    pub fn decoder_step(
        &self,
        ids: &Tensor,
        start: usize,
        caches: &[bert::KeyValue],
        cross: &[bert::KeyValue],
    ) -> Result<(Tensor, Vec<bert::KeyValue>)> {
        let n = ids.dim(1)?;
        let (h, caches) = self.decoder.forward_cached(ids, start, caches, cross)?;
        let last = h.i((.., n - 1, ..))?.contiguous()?;
        let logits = self.lm_head.forward(&last)?;
        let lp = candle_nn::ops::log_softmax(&logits.to_dtype(DType::F32)?, D::Minus1)?;
        Ok((lp, caches))
    }

    /// Beam search (HF `beam_search` with `BeamSearchScorer`, length_penalty 1.0,
    /// early_stopping False) for each row of `tag_states` (n, N, H): every caption starts from
    /// `prompt` and its beams cross-attend to its own row (no encoder mask, padded tag positions
    /// included). Captions are independent, as in HF's per-batch bookkeeping.
    ///
    /// VBench's decoder re-runs the whole sequence at every step (med.py names its cache
    /// argument `past`, which transformers never passes); here each step runs only the new
    /// token against cached self-attention keys/values, reordered with the beams, and
    /// cross-attention keys/values computed once per caption: the same numbers up to float
    /// rounding. Finished captions leave the batch.
    pub fn generate(
        &self,
        tag_states: &Tensor,
        prompt: &[u32],
        bc: &BeamConfig,
    ) -> Result<Vec<BeamOutput>> {
        let n = tag_states.dim(0)?;
        let nb = bc.num_beams;
        let dev = tag_states.device().clone();
        let prompt_len = prompt.len();
        let mut frames: Vec<BeamState> = (0..n).map(|_| BeamState::new(prompt, nb)).collect();
        if n == 0 || prompt_len >= bc.max_length {
            return Ok(frames
                .into_iter()
                .map(|fr| fr.finalize(prompt_len, bc))
                .collect());
        }
        // Batch rows: (caption, beam) for every caption in `active`, beams consecutive.
        let mut active: Vec<usize> = (0..n).collect();
        let rows: Vec<u32> = (0..n as u32)
            .flat_map(|f| std::iter::repeat_n(f, nb))
            .collect();
        let row_idx = Tensor::from_vec(rows, n * nb, &dev)?;
        let mut cross: Vec<bert::KeyValue> = self
            .decoder
            .cross_key_values(tag_states)?
            .iter()
            .map(|kv| kv.index_rows(&row_idx))
            .collect::<Result<_>>()?;
        let mut caches: Vec<bert::KeyValue> = Vec::new();
        let mut ids = Tensor::from_vec(prompt.repeat(n * nb), (n * nb, prompt_len), &dev)?;
        let mut start = 0;
        let mut cur_len = prompt_len;
        while cur_len < bc.max_length {
            let (lp, next_caches) = self.decoder_step(&ids, start, &caches, &cross)?;
            let lp = lp.to_vec2::<f32>()?;
            for (a, &f) in active.iter().enumerate() {
                frames[f].step(&lp[a * nb..(a + 1) * nb], cur_len, prompt_len, bc);
            }
            start = cur_len;
            cur_len += 1;
            let next_active: Vec<usize> = active
                .iter()
                .copied()
                .filter(|&f| !frames[f].done)
                .collect();
            if next_active.is_empty() || cur_len >= bc.max_length {
                break;
            }
            // Each new beam continues its parent's cache row; finished captions drop out.
            let mut rows = Vec::with_capacity(next_active.len() * nb);
            let mut last = Vec::with_capacity(next_active.len() * nb);
            for (a, &f) in active.iter().enumerate() {
                if frames[f].done {
                    continue;
                }
                for b in 0..nb {
                    rows.push((a * nb + frames[f].parents[b]) as u32);
                    last.push(frames[f].seqs[b].last().copied().unwrap_or(0));
                }
            }
            let m = rows.len();
            let idx = Tensor::from_vec(rows, m, &dev)?;
            caches = next_caches
                .iter()
                .map(|kv| kv.index_rows(&idx))
                .collect::<Result<_>>()?;
            if next_active.len() != active.len() {
                // rows of one caption hold the same tag states: any beam's row will do.
                cross = cross
                    .iter()
                    .map(|kv| kv.index_rows(&idx))
                    .collect::<Result<_>>()?;
            }
            ids = Tensor::from_vec(last, (m, 1), &dev)?;
            active = next_active;
        }
        Ok(frames
            .into_iter()
            .map(|fr| fr.finalize(prompt_len, bc))
            .collect())
    }
}

/// One caption's beams and finished hypotheses (`BeamHypotheses`).
#[derive(Debug, Clone)]
struct BeamState {
    seqs: Vec<Vec<u32>>,
    /// float32, as HF keeps `beam_scores`.
    scores: Vec<f32>,
    /// Finished hypotheses in HF's list order: (normalised score, tokens).
    hyps: Vec<(f64, Vec<u32>)>,
    worst: f64,
    done: bool,
    /// For each beam after the last step, the beam it continues (its cache row).
    parents: Vec<usize>,
}

impl BeamState {
    fn new(prompt: &[u32], nb: usize) -> Self {
        let mut scores = vec![-1e9f32; nb];
        scores[0] = 0.0;
        Self {
            seqs: vec![prompt.to_vec(); nb],
            scores,
            hyps: Vec::new(),
            worst: 1e9,
            done: false,
            parents: (0..nb).collect(),
        }
    }

    /// `BeamHypotheses.add`.
    fn add(&mut self, tokens: Vec<u32>, sum_logprobs: f64, len: usize, nb: usize) {
        let score = sum_logprobs / len as f64;
        if self.hyps.len() < nb || score > self.worst {
            self.hyps.push((score, tokens));
            if self.hyps.len() > nb {
                // sorted([(s, idx)]): the smallest score, the lowest index on ties.
                let mut order: Vec<(f64, usize)> = self
                    .hyps
                    .iter()
                    .enumerate()
                    .map(|(i, h)| (h.0, i))
                    .collect();
                order.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                self.hyps.remove(order[0].1);
                self.worst = order[1].0;
            } else {
                self.worst = self.worst.min(score);
            }
        }
    }

    /// One step of `beam_search` + `BeamSearchScorer.process` for this caption. `lp`: the
    /// beams' log-probabilities over the vocabulary; `cur_len`: sequence length before the step.
    fn step(&mut self, lp: &[Vec<f32>], cur_len: usize, prompt_len: usize, bc: &BeamConfig) {
        let nb = bc.num_beams;
        let eos = bc.eos_token_id as usize;
        let v = lp[0].len();
        // candidates: beam score + processed log-prob (MinLength: EOS → −inf below min_length).
        let mut cand: Vec<(f32, usize)> = Vec::with_capacity(nb * v);
        for (b, row) in lp.iter().enumerate() {
            for (t, &x) in row.iter().enumerate() {
                let x = if t == eos && cur_len < bc.min_length {
                    f32::NEG_INFINITY
                } else {
                    x
                };
                cand.push((x + self.scores[b], b * v + t));
            }
        }
        // topk(2·nb, sorted): descending score, lower flat index first on ties.
        let k = 2 * nb;
        cand.select_nth_unstable_by(k - 1, |a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        cand.truncate(k);
        cand.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let hf_cur_len = cur_len + 1;
        let mut next: Vec<(f32, u32, usize)> = Vec::with_capacity(nb);
        for (rank, &(score, idx)) in cand.iter().enumerate() {
            let (beam, tok) = (idx / v, idx % v);
            if tok == eos {
                if rank >= nb {
                    continue;
                }
                let len = match bc.rules {
                    BeamRules::V4_33 => cur_len,
                    BeamRules::V4_46 => hf_cur_len - prompt_len,
                };
                let hyp = self.seqs[beam].clone();
                self.add(hyp, score as f64, len, nb);
            } else {
                next.push((score, tok as u32, beam));
            }
            if next.len() == nb {
                break;
            }
        }
        let best = cand[0].0 as f64;
        if self.hyps.len() >= nb {
            let denom = match bc.rules {
                BeamRules::V4_33 => hf_cur_len,
                BeamRules::V4_46 => hf_cur_len - prompt_len,
            } as f64;
            if self.worst >= best / denom {
                self.done = true;
            }
        }
        let seqs = next
            .iter()
            .map(|&(_, tok, beam)| {
                let mut s = self.seqs[beam].clone();
                s.push(tok);
                s
            })
            .collect();
        self.seqs = seqs;
        self.scores = next.iter().map(|n| n.0).collect();
        self.parents = next.iter().map(|n| n.2).collect();
    }

    /// `BeamSearchScorer.finalize` + picking the best hypothesis.
    fn finalize(mut self, prompt_len: usize, bc: &BeamConfig) -> BeamOutput {
        let nb = bc.num_beams;
        if !self.done {
            for b in 0..nb {
                let toks = self.seqs[b].clone();
                let len = match bc.rules {
                    BeamRules::V4_33 => toks.len(),
                    BeamRules::V4_46 => toks.len() - prompt_len,
                };
                let s = self.scores[b] as f64;
                self.add(toks, s, len, nb);
            }
        }
        // sorted(beams, key=score).pop(): the last of the highest scores in list order.
        let mut best: Option<&(f64, Vec<u32>)> = None;
        for h in &self.hyps {
            if best.is_none_or(|b| h.0 >= b.0) {
                best = Some(h);
            }
        }
        let (score, tokens) = best.cloned().unwrap_or((f64::NEG_INFINITY, Vec::new()));
        BeamOutput { tokens, score }
    }
}
