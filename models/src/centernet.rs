//! CenterNet proposal generator as GRiT runs it (agnostic heat-map only, `ONLY_PROPOSAL`), spec
//! 40-semantic.md §3.5: `centernet2/centernet/modeling/dense_heads/centernet_head.py::CenterNetHead`
//! and `centernet.py::CenterNet.inference` → `predict_instances` → `predict_single_level` →
//! `nms_and_topK`.
//!
//! Head (shared over p3..p7): `bbox_tower` = 4 × [Conv3×3 + bias, GroupNorm(32), ReLU];
//! `agn_hm` = Conv3×3 → 1; `bbox_pred` = Conv3×3 → 4, times the per-level scalar `scales.l`, ReLU.
//! Decoding per level (stride s): location (y, x) ↦ `(x·s + s//2, y·s + s//2)` row-major;
//! candidates `sigmoid(agn) > 1e-4`; at most 1000 per level by heat-map value; box
//! `(x − l·s, y − t·s, x + r·s, y + b·s)` with `x1 = max(x1, x0 + 0.01)`, `y1 = max(y1, y0 + 0.01)`
//! (not clipped); score `sqrt(sigmoid(agn))`. All levels together: NMS 0.9, then the kthvalue
//! top-256 that keeps ties.
//!
//! Tie order (only matters for exactly equal heat-map values): torch's `topk(sorted=False)` returns
//! an unspecified order and torchvision's `batched_nms` re-sorts more than 1000 boxes with an
//! unstable sort; here candidates stay in location order and every sort is stable.

use candle_core::{Module, Result, Tensor};
use candle_nn::{Conv2d, Conv2dConfig, GroupNorm, VarBuilder};
use serde::{Deserialize, Serialize};

use crate::nn::detection::{kth_top_k, nms, BoxF};

/// CenterNet settings in force for GRiT (Base.yaml + centernet defaults).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct CenterNetConfig {
    /// FPN width (`MODEL.FPN.OUT_CHANNELS`, 256).
    pub in_channels: usize,
    /// `NUM_BOX_CONVS` (4).
    pub num_box_convs: usize,
    /// Strides of p3..p7.
    pub strides: Vec<usize>,
    /// `INFERENCE_TH` (1e-4).
    pub inference_th: f32,
    /// `PRE_NMS_TOPK_TEST` (1000).
    pub pre_nms_topk: usize,
    /// `POST_NMS_TOPK_TEST` (256).
    pub post_nms_topk: usize,
    /// `NMS_TH_TEST` (0.9).
    pub nms_th: f64,
}

impl CenterNetConfig {
    pub fn grit_b() -> Self {
        Self::with_channels(256)
    }

    /// GRiT's settings for an FPN of width `in_channels`.
    pub fn with_channels(in_channels: usize) -> Self {
        Self {
            in_channels,
            num_box_convs: 4,
            strides: vec![8, 16, 32, 64, 128],
            inference_th: 1e-4,
            pre_nms_topk: 1000,
            post_nms_topk: 256,
            nms_th: 0.9,
        }
    }
}

/// Raw head outputs of one level.
#[derive(Debug, Clone)]
pub struct LevelOutput {
    /// `agn_hm` logits `(1, 1, h, w)`.
    pub agn: Tensor,
    /// `relu(scale_l · bbox_pred)` `(1, 4, h, w)` (before × stride).
    pub reg: Tensor,
}

/// Proposals of one image, in VBench's order (descending score).
#[derive(Debug, Clone, Default)]
pub struct Proposals {
    pub boxes: Vec<BoxF>,
    /// `sqrt(sigmoid(agn_hm))`.
    pub scores: Vec<f32>,
    /// Candidates per level above the heat-map threshold (before the per-level top-k).
    pub candidates: Vec<usize>,
    /// Boxes entering / leaving the NMS.
    pub nms_in_out: (usize, usize),
}

/// `CenterNetHead` (weights under `proposal_generator.centernet_head`) + decoding.
#[derive(Debug, Clone)]
pub struct CenterNet {
    tower: Vec<(Conv2d, GroupNorm)>,
    agn_hm: Conv2d,
    bbox_pred: Conv2d,
    scales: Vec<Tensor>,
    cfg: CenterNetConfig,
}

impl CenterNet {
    /// `vb` at `proposal_generator.centernet_head`.
    pub fn new(cfg: &CenterNetConfig, vb: VarBuilder) -> Result<Self> {
        let c = cfg.in_channels;
        let conv_cfg = Conv2dConfig {
            padding: 1,
            ..Default::default()
        };
        // detectron2 get_norm("GN") = GroupNorm(32, C); CenterNetHead uses GroupNorm(25, C) when C % 32 != 0
        let groups = if c.is_multiple_of(32) { 32 } else { 25 };
        let mut tower = Vec::with_capacity(cfg.num_box_convs);
        for i in 0..cfg.num_box_convs {
            let conv =
                candle_nn::conv2d(c, c, 3, conv_cfg, vb.pp(format!("bbox_tower.{}", 3 * i)))?;
            let gn =
                candle_nn::group_norm(groups, c, 1e-5, vb.pp(format!("bbox_tower.{}", 3 * i + 1)))?;
            tower.push((conv, gn));
        }
        let agn_hm = candle_nn::conv2d(c, 1, 3, conv_cfg, vb.pp("agn_hm"))?;
        let bbox_pred = candle_nn::conv2d(c, 4, 3, conv_cfg, vb.pp("bbox_pred"))?;
        let scales = (0..cfg.strides.len())
            .map(|l| vb.pp(format!("scales.{l}")).get(1, "scale"))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            tower,
            agn_hm,
            bbox_pred,
            scales,
            cfg: cfg.clone(),
        })
    }

    pub fn config(&self) -> &CenterNetConfig {
        &self.cfg
    }

    /// Head outputs for p3..p7 (each `(1, C, h, w)`).
    pub fn head(&self, features: &[Tensor]) -> Result<Vec<LevelOutput>> {
        if features.len() != self.scales.len() {
            candle_core::bail!(
                "CenterNet: {} feature maps for {} levels",
                features.len(),
                self.scales.len()
            );
        }
        features
            .iter()
            .zip(&self.scales)
            .map(|(f, scale)| {
                let mut x = f.clone();
                for (conv, gn) in &self.tower {
                    x = gn.forward(&conv.forward(&x)?)?.relu()?;
                }
                let agn = self.agn_hm.forward(&x)?;
                let reg = self.bbox_pred.forward(&x)?.broadcast_mul(scale)?.relu()?;
                Ok(LevelOutput { agn, reg })
            })
            .collect()
    }

    /// Proposals from the head outputs (`CenterNet.inference` with `ONLY_PROPOSAL`).
    pub fn decode(&self, levels: &[LevelOutput]) -> Result<Proposals> {
        let mut boxes = Vec::new();
        let mut scores = Vec::new();
        let mut candidates = Vec::with_capacity(levels.len());
        for (lvl, out) in levels.iter().enumerate() {
            let stride = self.cfg.strides[lvl];
            let (_, _, h, w) = out.agn.dims4()?;
            let hm = candle_nn::ops::sigmoid(&out.agn)?
                .flatten_all()?
                .to_vec1::<f32>()?;
            // `reg_pred * stride` as a tensor op (exact for power-of-two strides anyway)
            let reg = (&out.reg * stride as f64)?
                .squeeze(0)?
                .flatten_from(1)?
                .to_vec2::<f32>()?;
            let mut cand: Vec<usize> = (0..h * w)
                .filter(|&i| hm[i] > self.cfg.inference_th)
                .collect();
            candidates.push(cand.len());
            if cand.len() > self.cfg.pre_nms_topk {
                // top-k by heat-map value (ties: lower location first), kept in location order
                let mut by_score = cand.clone();
                by_score.sort_by(|&a, &b| hm[b].total_cmp(&hm[a]));
                by_score.truncate(self.cfg.pre_nms_topk);
                by_score.sort_unstable();
                cand = by_score;
            }
            let half = (stride / 2) as f32;
            for i in cand {
                let gx = ((i % w) * stride) as f32 + half;
                let gy = ((i / w) * stride) as f32 + half;
                let x0 = gx - reg[0][i];
                let y0 = gy - reg[1][i];
                let x1 = gx + reg[2][i];
                let y1 = gy + reg[3][i];
                boxes.push([x0, y0, x1.max(x0 + 0.01), y1.max(y0 + 0.01)]);
                scores.push(hm[i].sqrt());
            }
        }
        let keep = nms(&boxes, &scores, self.cfg.nms_th);
        let kept_scores: Vec<f32> = keep.iter().map(|&i| scores[i]).collect();
        let top = kth_top_k(&kept_scores, self.cfg.post_nms_topk);
        Ok(Proposals {
            boxes: top.iter().map(|&t| boxes[keep[t]]).collect(),
            scores: top.iter().map(|&t| kept_scores[t]).collect(),
            candidates,
            nms_in_out: (boxes.len(), keep.len()),
        })
    }

    /// Head + decoding.
    pub fn forward(&self, features: &[Tensor]) -> Result<Proposals> {
        self.decode(&self.head(features)?)
    }
}
