//! GRiT's detection heads as VBench runs them (spec 40-semantic.md §3.5–§3.7, §3.9): CenterNet
//! proposals, the 3-stage cascade ROI heads of `grit/modeling/roi_heads/grit_roi_heads.py::
//! GRiTROIHeadsAndTextDecoder._forward_box` (test branch), `fast_rcnn_inference_single_image_GRiT`,
//! the 14×14 object-feature pooling for the text decoder, and detectron2's `detector_postprocess`.
//!
//! Stage k = 0, 1, 2: input boxes (k = 0: the unclipped proposals; k > 0: the previous stage's
//! boxes clipped to the image) → `ROIPooler(7, 1/8, 1/16, 1/32, ROIAlignV2)` on p3..p5 → flatten →
//! `box_head.k` (fc1 + ReLU, fc2 + ReLU) → `box_predictor.k` (`cls_score` → softmax over
//! [object, background]; `bbox_pred` = Linear → ReLU → Linear → class-agnostic deltas) →
//! `Box2BoxTransform(weights_k).apply_deltas` on stage k's own input boxes.
//! Final: `score = sqrt(((p0 + p1 + p2) · (1/3)) · s_prop)` (object column), boxes = stage-2
//! prediction, clipped; drop non-finite rows; keep `score > 0.5`; NMS 0.5; first 256. Object
//! features: `ROIPooler(14)` on the kept boxes → `(N, 196, C)` (tokens row-major). Then
//! `detector_postprocess` (scale 1, clip, drop boxes with width or height ≤ 0): VBench runs the
//! text decoder before that drop (P11), but decoder rows are independent, so decoding only the
//! surviving rows gives the same result per instance.

use candle_core::{DType, Module, Result, Tensor, D};
use candle_nn::{Linear, VarBuilder};
use serde::{Deserialize, Serialize};

use crate::centernet::{CenterNet, CenterNetConfig, LevelOutput, Proposals};
use crate::nn::detection::{
    batched_nms, clip_box, nonempty, Box2BoxTransform, BoxF, PoolerInput, RoiPooler,
};

/// Everything after the backbone: CenterNet + cascade ROI heads (GRiT-B values in `grit_b`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct GritHeadsConfig {
    pub centernet: CenterNetConfig,
    /// `ROI_BOX_HEAD.FC_DIM` (1024).
    pub fc_dim: usize,
    /// `ROI_BOX_HEAD.POOLER_RESOLUTION` (7).
    pub pooler_resolution: usize,
    /// `ROI_HEADS.OBJECT_FEAT_POOLER_RES` (14).
    pub object_feat_resolution: usize,
    /// Strides of the pooled maps p3, p4, p5.
    pub pooler_strides: Vec<usize>,
    /// `ROI_BOX_CASCADE_HEAD.BBOX_REG_WEIGHTS`, one per stage.
    pub bbox_reg_weights: Vec<[f32; 4]>,
    /// `ROI_HEADS.SCORE_THRESH_TEST` as VBench forces it (0.5, strict `>`).
    pub score_thresh: f32,
    /// `ROI_HEADS.NMS_THRESH_TEST` (0.5).
    pub nms_thresh: f64,
    /// `TEST.DETECTIONS_PER_IMAGE` (256).
    pub detections_per_image: usize,
}

impl GritHeadsConfig {
    pub fn grit_b() -> Self {
        Self::with_dims(256, 1024)
    }

    /// VBench's settings for an FPN of width `fpn_dim` and box-head FC width `fc_dim`.
    pub fn with_dims(fpn_dim: usize, fc_dim: usize) -> Self {
        Self {
            centernet: CenterNetConfig::with_channels(fpn_dim),
            fc_dim,
            pooler_resolution: 7,
            object_feat_resolution: 14,
            pooler_strides: vec![8, 16, 32],
            bbox_reg_weights: vec![
                [10.0, 10.0, 5.0, 5.0],
                [20.0, 20.0, 10.0, 10.0],
                [30.0, 30.0, 15.0, 15.0],
            ],
            score_thresh: 0.5,
            nms_thresh: 0.5,
            detections_per_image: 256,
        }
    }
}

/// Detections of one image after `detector_postprocess`, in VBench's order.
#[derive(Debug, Clone)]
pub struct GritDetections {
    pub boxes: Vec<[f32; 4]>,
    pub scores: Vec<f32>,
    /// `(N, 196, C)` 14×14 pooled object tokens, rows in the order of `boxes`.
    pub object_feats: Tensor,
}

/// One cascade stage's intermediates.
#[derive(Debug, Clone)]
pub struct StageTrace {
    pub in_boxes: Vec<BoxF>,
    /// `softmax(cls_score)`, `[object, background]` per box.
    pub probs: Vec<[f32; 2]>,
    pub pred_boxes: Vec<BoxF>,
}

/// Every intermediate of [`GritHeads::run`] (for parity tests and margin reports).
#[derive(Debug, Clone)]
pub struct HeadsTrace {
    pub levels: Vec<LevelOutput>,
    pub proposals: Proposals,
    pub stages: Vec<StageTrace>,
    /// Final object score of every proposal, before the 0.5 threshold.
    pub scores_all: Vec<f32>,
    /// Stage-2 boxes clipped to the image (before the threshold).
    pub boxes_clipped: Vec<BoxF>,
    /// Kept boxes / scores after threshold, NMS and the 256 cut (before `detector_postprocess`).
    pub kept_boxes: Vec<BoxF>,
    pub kept_scores: Vec<f32>,
    /// `(N_kept, 196, C)` object features of the kept boxes.
    pub kept_object_feats: Tensor,
    pub detections: GritDetections,
}

#[derive(Debug, Clone)]
struct BoxHead {
    fc1: Linear,
    fc2: Linear,
}

#[derive(Debug, Clone)]
struct Predictor {
    cls_score: Linear,
    bbox_pred0: Linear,
    bbox_pred2: Linear,
}

/// CenterNet + cascade ROI heads + post-processing (weights at the checkpoint root:
/// `proposal_generator.centernet_head.*`, `roi_heads.box_head.{0,1,2}.*`,
/// `roi_heads.box_predictor.{0,1,2}.*`).
#[derive(Debug, Clone)]
pub struct GritHeads {
    centernet: CenterNet,
    box_heads: Vec<BoxHead>,
    predictors: Vec<Predictor>,
    transforms: Vec<Box2BoxTransform>,
    box_pooler: RoiPooler,
    object_pooler: RoiPooler,
    cfg: GritHeadsConfig,
}

impl GritHeads {
    /// `vb` at the checkpoint root.
    pub fn new(cfg: &GritHeadsConfig, vb: VarBuilder) -> Result<Self> {
        let c = cfg.centernet.in_channels;
        let centernet = CenterNet::new(
            &cfg.centernet,
            vb.pp("proposal_generator").pp("centernet_head"),
        )?;
        let r = cfg.pooler_resolution;
        let in_dim = c * r * r;
        let mut box_heads = Vec::new();
        let mut predictors = Vec::new();
        let rh = vb.pp("roi_heads");
        for k in 0..cfg.bbox_reg_weights.len() {
            let bh = rh.pp("box_head").pp(k);
            box_heads.push(BoxHead {
                fc1: candle_nn::linear(in_dim, cfg.fc_dim, bh.pp("fc1"))?,
                fc2: candle_nn::linear(cfg.fc_dim, cfg.fc_dim, bh.pp("fc2"))?,
            });
            let bp = rh.pp("box_predictor").pp(k);
            predictors.push(Predictor {
                cls_score: candle_nn::linear(cfg.fc_dim, 2, bp.pp("cls_score"))?,
                bbox_pred0: candle_nn::linear(cfg.fc_dim, cfg.fc_dim, bp.pp("bbox_pred.0"))?,
                bbox_pred2: candle_nn::linear(cfg.fc_dim, 4, bp.pp("bbox_pred.2"))?,
            });
        }
        Ok(Self {
            centernet,
            box_heads,
            predictors,
            transforms: cfg
                .bbox_reg_weights
                .iter()
                .map(|w| Box2BoxTransform::new(*w))
                .collect(),
            box_pooler: RoiPooler::new((r, r), &cfg.pooler_strides),
            object_pooler: RoiPooler::new(
                (cfg.object_feat_resolution, cfg.object_feat_resolution),
                &cfg.pooler_strides,
            ),
            cfg: cfg.clone(),
        })
    }

    pub fn config(&self) -> &GritHeadsConfig {
        &self.cfg
    }

    /// One cascade stage on `boxes`: (probs, predicted boxes).
    fn stage(
        &self,
        k: usize,
        pooled_in: &PoolerInput,
        boxes: &[BoxF],
    ) -> Result<(Vec<[f32; 2]>, Vec<BoxF>)> {
        let x = self.box_pooler.forward(pooled_in, boxes)?.flatten_from(1)?;
        let bh = &self.box_heads[k];
        let x = bh.fc1.forward(&x)?.relu()?;
        let x = bh.fc2.forward(&x)?.relu()?;
        let p = &self.predictors[k];
        let probs = candle_nn::ops::softmax(&p.cls_score.forward(&x)?, D::Minus1)?
            .to_dtype(DType::F32)?
            .to_vec2::<f32>()?
            .into_iter()
            .map(|r| [r[0], r[1]])
            .collect();
        let deltas: Vec<[f32; 4]> = p
            .bbox_pred2
            .forward(&p.bbox_pred0.forward(&x)?.relu()?)?
            .to_dtype(DType::F32)?
            .to_vec2::<f32>()?
            .into_iter()
            .map(|r| [r[0], r[1], r[2], r[3]])
            .collect();
        Ok((probs, self.transforms[k].apply_deltas(&deltas, boxes)))
    }

    /// Everything, with intermediates. `features` = `[p3, p4, p5, p6, p7]`, each `(1, C, h, w)`;
    /// `image_hw` = the unpadded image size (boxes are clipped to it).
    pub fn run(&self, features: &[Tensor], image_hw: (usize, usize)) -> Result<HeadsTrace> {
        let (h, w) = image_hw;
        let levels = self.centernet.head(features)?;
        let proposals = self.centernet.decode(&levels)?;
        let pooled_in = self
            .box_pooler
            .prepare(&features[..self.cfg.pooler_strides.len()])?;
        let dev = features[0].device();
        let c = self.cfg.centernet.in_channels;
        let t = self.cfg.object_feat_resolution;
        let empty_feats = Tensor::zeros((0, t * t, c), features[0].dtype(), dev)?;

        let mut stages = Vec::new();
        let mut boxes = proposals.boxes.clone();
        for k in 0..self.box_heads.len() {
            if k > 0 {
                boxes = boxes.iter().map(|b| clip_box(b, h, w)).collect();
            }
            let (probs, pred) = if boxes.is_empty() {
                (Vec::new(), Vec::new())
            } else {
                self.stage(k, &pooled_in, &boxes)?
            };
            stages.push(StageTrace {
                in_boxes: boxes.clone(),
                probs,
                pred_boxes: pred.clone(),
            });
            boxes = pred;
        }
        // mean of the stage probabilities (python `sum` then `* (1.0 / 3)`), × proposal score, sqrt
        let inv = (1.0f64 / self.box_heads.len() as f64) as f32;
        let scores_all: Vec<f32> = (0..proposals.scores.len())
            .map(|i| {
                let mut s = 0.0f32;
                for st in &stages {
                    s += st.probs[i][0];
                }
                (s * inv * proposals.scores[i]).sqrt()
            })
            .collect();
        let last = stages
            .last()
            .map(|s| s.pred_boxes.clone())
            .unwrap_or_default();
        let boxes_clipped: Vec<BoxF> = last.iter().map(|b| clip_box(b, h, w)).collect();

        // fast_rcnn_inference_single_image_GRiT
        let cand: Vec<usize> = (0..scores_all.len())
            .filter(|&i| {
                // the non-finite filter uses the unclipped stage-2 boxes and all score columns
                last[i].iter().all(|v| v.is_finite())
                    && scores_all[i].is_finite()
                    && scores_all[i] > self.cfg.score_thresh
            })
            .collect();
        let cb: Vec<BoxF> = cand.iter().map(|&i| boxes_clipped[i]).collect();
        let cs: Vec<f32> = cand.iter().map(|&i| scores_all[i]).collect();
        let labels = vec![0u32; cb.len()];
        let mut keep = batched_nms(&cb, &cs, &labels, self.cfg.nms_thresh);
        keep.truncate(self.cfg.detections_per_image);
        let kept_boxes: Vec<BoxF> = keep.iter().map(|&i| cb[i]).collect();
        let kept_scores: Vec<f32> = keep.iter().map(|&i| cs[i]).collect();

        let kept_object_feats = if kept_boxes.is_empty() {
            empty_feats.clone()
        } else {
            // same maps, same flattening: the box pooler's input serves the object pooler too
            self.object_pooler
                .forward(&pooled_in, &kept_boxes)?
                .flatten_from(2)?
                .transpose(1, 2)?
                .contiguous()?
        };

        // detector_postprocess: scale 1.0, clip, drop empty boxes
        let surv: Vec<usize> = (0..kept_boxes.len())
            .filter(|&i| nonempty(&clip_box(&kept_boxes[i], h, w)))
            .collect();
        let object_feats = if surv.len() == kept_boxes.len() {
            kept_object_feats.clone()
        } else if surv.is_empty() {
            empty_feats
        } else {
            let idx = Tensor::from_vec(
                surv.iter().map(|&i| i as u32).collect::<Vec<_>>(),
                surv.len(),
                dev,
            )?;
            kept_object_feats.index_select(&idx, 0)?
        };
        let detections = GritDetections {
            boxes: surv
                .iter()
                .map(|&i| clip_box(&kept_boxes[i], h, w))
                .collect(),
            scores: surv.iter().map(|&i| kept_scores[i]).collect(),
            object_feats,
        };
        Ok(HeadsTrace {
            levels,
            proposals,
            stages,
            scores_all,
            boxes_clipped,
            kept_boxes,
            kept_scores,
            kept_object_feats,
            detections,
        })
    }

    /// Detections of one image: `features` = `[p3, p4, p5, p6, p7]` (each `(1, C, h, w)`),
    /// `image_hw` = unpadded image size.
    pub fn detect(&self, features: &[Tensor], image_hw: (usize, usize)) -> Result<GritDetections> {
        Ok(self.run(features, image_hw)?.detections)
    }
}
