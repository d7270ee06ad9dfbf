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

/// The whole GRiT-B as VBench builds it: backbone, heads and text decoder.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct GritConfig {
    pub backbone: crate::vitdet::VitDetConfig,
    pub heads: GritHeadsConfig,
    pub text: crate::grit_text::GritTextConfig,
}

impl GritConfig {
    /// `GRiT_B_DenseCap_ObjectDet.yaml` with VBench's test-time settings.
    pub fn grit_b() -> Self {
        Self {
            backbone: crate::vitdet::VitDetConfig::grit_b(),
            heads: GritHeadsConfig::grit_b(),
            text: crate::grit_text::GritTextConfig::grit_b(),
        }
    }
}

/// `MODEL.PIXEL_MEAN` / `PIXEL_STD` of GRiT's Base.yaml, in RGB order (VBench feeds RGB and
/// never flips, spec §3.2).
const PIXEL_MEAN: [f32; 3] = [123.675, 116.28, 103.53];
const PIXEL_STD: [f32; 3] = [58.395, 57.12, 57.375];
/// `ViT_FPN.size_divisibility`: the input is zero-padded (after normalising) to a multiple.
const SIZE_DIVISIBILITY: usize = 32;
/// Begin tokens from `TRAIN_TASK = ["ObjectDet", "DenseCap"]`: `[CLS]` and `103 + 1`.
pub const OBJECT_DET_BEGIN: u32 = 101;
pub const DENSE_CAP_BEGIN: u32 = 104;

/// One image's result: the surviving instances in VBench's order and their descriptions.
#[derive(Debug, Clone)]
pub struct GritOutput {
    pub boxes: Vec<[f32; 4]>,
    pub scores: Vec<f32>,
    /// ObjectDet pass (begin 101): token ids per instance, without the begin token and EOS.
    pub object_det_ids: Vec<Vec<u32>>,
    /// DenseCap pass (begin 104), when asked for.
    pub dense_cap_ids: Option<Vec<Vec<u32>>>,
}

/// GRiT (`grit/modeling/meta_arch/grit.py::GRiT.inference`): the box path once, the text
/// decoder once per task on the same boxes (the two ROI-head passes of VBench share every
/// box computation, spec §3.9).
#[derive(Debug, Clone)]
pub struct Grit {
    backbone: crate::vitdet::VitDetFpn,
    heads: GritHeads,
    text: crate::grit_text::GritTextDecoder,
}

impl Grit {
    /// `vb` at the checkpoint root (`backbone.*`, `proposal_generator.*`, `roi_heads.*`).
    pub fn new(cfg: &GritConfig, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            backbone: crate::vitdet::VitDetFpn::new(&cfg.backbone, vb.pp("backbone"))?,
            heads: GritHeads::new(&cfg.heads, vb.clone())?,
            text: crate::grit_text::GritTextDecoder::new(
                &cfg.text,
                vb.pp("roi_heads").pp("text_decoder"),
            )?,
        })
    }

    /// detectron2's `preprocess_image`: `(x − mean)/std`, then zero padding bottom/right to a
    /// multiple of 32. `image`: `(3, H, W)` RGB 0..255 → `(1, 3, Hp, Wp)`.
    pub fn preprocess(image: &Tensor) -> Result<Tensor> {
        let (c, h, w) = image.dims3()?;
        if c != 3 {
            candle_core::bail!("grit: expected a (3, H, W) RGB image, got {c} channels");
        }
        let dev = image.device();
        let mean = Tensor::new(&PIXEL_MEAN, dev)?.reshape((3, 1, 1))?;
        let std = Tensor::new(&PIXEL_STD, dev)?.reshape((3, 1, 1))?;
        let x = image
            .to_dtype(DType::F32)?
            .broadcast_sub(&mean)?
            .broadcast_div(&std)?;
        let hp = h.div_ceil(SIZE_DIVISIBILITY) * SIZE_DIVISIBILITY;
        let wp = w.div_ceil(SIZE_DIVISIBILITY) * SIZE_DIVISIBILITY;
        x.pad_with_zeros(1, 0, hp - h)?
            .pad_with_zeros(2, 0, wp - w)?
            .unsqueeze(0)
    }

    /// Features `[p3..p7]` and the detections of one image (no text).
    pub fn detections(&self, image: &Tensor) -> Result<GritDetections> {
        let (_, h, w) = image.dims3()?;
        let x = Self::preprocess(image)?;
        let features = self.backbone.forward(&x)?;
        self.heads.detect(&features, (h, w))
    }

    /// Token ids of every detection for one begin token (101 ObjectDet, 104 DenseCap).
    pub fn describe(&self, dets: &GritDetections, begin_token: u32) -> Result<Vec<Vec<u32>>> {
        if dets.boxes.is_empty() {
            return Ok(Vec::new());
        }
        self.text.generate(&dets.object_feats, begin_token)
    }

    /// `image`: `(3, H, W)` f32 RGB 0..255 exactly as VBench hands the frame to the predictor
    /// (already resized by the dimension if needed).
    pub fn detect(&self, image: &Tensor, dense_cap: bool) -> Result<GritOutput> {
        let dets = self.detections(image)?;
        let object_det_ids = self.describe(&dets, OBJECT_DET_BEGIN)?;
        let dense_cap_ids = if dense_cap {
            Some(self.describe(&dets, DENSE_CAP_BEGIN)?)
        } else {
            None
        };
        Ok(GritOutput {
            boxes: dets.boxes,
            scores: dets.scores,
            object_det_ids,
            dense_cap_ids,
        })
    }
}
