#!/usr/bin/env python3
"""Parity fixtures for GRiT (tests/fixtures/parity_grit/), from VBench 0.1.5's own GRiT code.

  PYTHONPATH=/tmp/detectron2_src:fixtures-work/vbench_wheel /tmp/refenv/bin/python tools/parity/make_fixtures_grit.py

(detectron2 from source, commit 02b5c4e2, pure Python; torchvision 0.20.1 supplies roi_align / nms.)

What is written:
  * ops.safetensors: torchvision 0.20.1 `roi_align(aligned=True, sampling_ratio=0)`, detectron2
    `ROIPooler` (ROIAlignV2, 3 levels), `batched_nms`, `Box2BoxTransform.apply_deltas` and the
    CenterNet kthvalue top-k on random inputs with score ties, identical boxes, boxes crossing the
    border or lying outside the map, tiny, huge and empty boxes.
  * model.safetensors + config.json: a tiny GRiT (grit_common.md: ViT 64/3/4, fpn 32, box head FC 64,
    text decoder 64/2/4/128, vocab 2000, 64 positions) built through VBench's own path: `setup_cfg`
    exactly as `image_dense_captions.init_demo` does it + `cfg.merge_from_list` overrides, with
    `build_vit_fpn_backbone` re-registered with the tiny ViT arguments (the original hard-codes
    ViT-B and asserts FPN width 256), `TransformerDecoderTextualHead` built with
    `max_caption_length=64`, and `BertTokenizer.from_pretrained` returning a tokenizer over the
    local `vocab.txt` written here (bert-base-uncased cannot be downloaded). Weights: fixed-seed
    random with crafted biases (agn_hm, cls_score, text output bias) so decisions are non-trivial.
  * frames.safetensors + pipeline.safetensors + pipeline.json: frames run through VBench's
    `VisualizationDemo.run_on_image` for both test tasks, with wrappers that record the
    input shape, p3..p7, CenterNet head outputs and proposals, per-stage input boxes,
    probs and predicted boxes, pre-threshold final scores/boxes, kept boxes/scores, 14x14 object
    features, generated token ids, and `dense_pred_to_caption_tuple` output.
  * clips/ + dimension_<dim>.json: VBench's own `compute_object_class`, `compute_multiple_objects`,
    `compute_color`, `compute_spatial_relationship` on two small clips with the prompt records stored
    in each file (`DenseCaptioning` built by `init_demo` → replaced by the tiny model; detectron2's
    Visualizer drawing in `run_on_image`, whose image VBench never reads, skipped for speed).
    `--dims-only color` picks the color objects from a first pass (instance 0's ObjectDet text).
    A dimension where VBench itself raises (color with no qualifying video: ZeroDivisionError)
    stores {"error": ...}.
  * grit_b_keys.txt: the state-dict keys (+ shapes) of the real-size GRiT-B built with VBench's
    config (random init; nothing downloaded).
"""
import argparse
import json
import math
import os
import sys
import types
from functools import partial

for _m in ["boto3", "botocore", "botocore.exceptions", "botocore.config"]:
    # grit/modeling/text/file_utils.py imports boto3 at module level (S3 download helpers never
    # called here); the reference env does not have it.
    try:
        __import__(_m)
    except Exception:
        _mod = types.ModuleType(_m)
        _mod.ClientError = Exception
        _mod.Config = object
        sys.modules[_m] = _mod

import numpy as np
import torch
import torch.nn as nn
import torchvision
import transformers
from safetensors.torch import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fixtures", "parity_grit")

VIT = dict(embed_dim=64, depth=3, num_heads=4, mlp_ratio=4.0, patch_size=16, window_size=14,
           window_block_indexes=[0, 1], pretrain_img_size=224, img_size=256)
FPN_DIM = 32
OBJ_FEAT_ROWS = 10
AGN_BIAS, CLS_BIAS, CLS_W, BOX_BIAS, BOX_SCALE = [
    float(x) for x in os.environ.get("GRIT_TUNE", "-3.5,1.0,1.5,4.0,1.5").split(",")]
BOX_FC = 64
TEXT = dict(vocab_size=2000, hidden_size=64, num_layers=2, num_heads=4, intermediate_size=128,
            max_positions=64, max_steps=40, eos_token_id=102)
# GroupNorm(32, 32) in the CenterNet tower needs more than one value per group: p7 must not be 1x1,
# so the small frame is 96x160 (p7 1x2), not 96x128.
FRAME_SIZES = [(96, 160), (200, 330)]

# Words placed right after BERT's special/unused block (ids >= 105) in the fixture vocab, so that
# crafted output biases can make greedy decoding produce COCO class names.
WORDS = ("person bicycle car motorcycle bus train truck boat bird cat dog horse sheep cow bear "
         "zebra giraffe umbrella suitcase bowl chair clock vase tv a red blue green white black "
         "yellow orange purple pink on the left of right top bottom parked street man woman "
         "sitting standing table dining teddy cell phone hair drier hot").split()


def vocab():
    v = ["[PAD]"] + [f"[unused{i}]" for i in range(99)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]", "[unused99]"]
    seen = set(v)
    for w in WORDS:
        if w not in seen:
            seen.add(w)
            v.append(w)
    i = 0
    while len(v) < TEXT["vocab_size"]:
        t = f"w{i}"
        i += 1
        if t not in seen:
            seen.add(t)
            v.append(t)
    return v


def write_vocab(path):
    with open(path, "w") as f:
        f.write("\n".join(vocab()) + "\n")


def patch_environment(vocab_path, tiny):
    """Tokenizer from a local vocab; optionally the tiny backbone and 64 text positions."""
    transformers.BertTokenizer.from_pretrained = classmethod(
        lambda cls, *a, **k: cls(vocab_file=vocab_path, do_lower_case=True))
    if not tiny:
        return
    from detectron2.modeling import BACKBONE_REGISTRY
    from vbench.third_party.grit_src.grit.modeling.backbone import vit as gvit
    from vbench.third_party.grit_src.grit.modeling.text import text_decoder as gtd
    from centernet.modeling.backbone.fpn_p5 import LastLevelP6P7_P5

    def build_tiny(cfg, input_shape):
        # Same as build_vit_fpn_backbone with the tiny ViT arguments (and no `assert out_channels in
        # (256, 768, 1024)`).
        bottom_up = gvit.ViT(img_size=VIT["img_size"], patch_size=VIT["patch_size"],
                             embed_dim=VIT["embed_dim"], depth=VIT["depth"], num_heads=VIT["num_heads"],
                             drop_path_rate=0.1, window_size=VIT["window_size"], mlp_ratio=VIT["mlp_ratio"],
                             qkv_bias=True, norm_layer=partial(nn.LayerNorm, eps=1e-6),
                             window_block_indexes=VIT["window_block_indexes"], residual_block_indexes=[],
                             use_act_checkpoint=cfg.USE_ACT_CHECKPOINT, use_rel_pos=True,
                             pretrain_img_size=VIT["pretrain_img_size"], out_feature="last_feat")
        out = cfg.MODEL.FPN.OUT_CHANNELS
        return gvit.ViT_FPN(bottom_up=bottom_up, top_block=LastLevelP6P7_P5(out, out), out_channels=out,
                            strides=[8, 16, 32, 64, 128], vit_out_dim=VIT["embed_dim"])

    BACKBONE_REGISTRY._obj_map["build_vit_fpn_backbone"] = build_tiny
    orig = gtd.TransformerDecoderTextualHead.__init__

    def init_short(self, *a, **k):
        k["max_caption_length"] = TEXT["max_positions"]
        orig(self, *a, **k)

    gtd.TransformerDecoderTextualHead.__init__ = init_short
    import vbench.third_party.grit_src.grit.modeling.roi_heads.grit_roi_heads as grh
    grh.TransformerDecoderTextualHead = gtd.TransformerDecoderTextualHead


def build_cfg(task, tiny, weights="unused.pth"):
    """`image_dense_captions.setup_cfg(get_parser(...))` as `init_demo(device, path, task)` builds it."""
    from vbench.third_party.grit_src import image_dense_captions as idc
    from detectron2.config import get_cfg
    from centernet.config import add_centernet_config
    from vbench.third_party.grit_src.grit.config import add_grit_config
    args = idc.get_parser(torch.device("cpu"), weights)
    if task != "DenseCap":
        args["test_task"] = task
    if not tiny:
        return idc.setup_cfg(args)
    # setup_cfg body, with the size overrides merged after the yaml (before freeze)
    cfg = get_cfg()
    cfg.MODEL.DEVICE = "cpu"
    add_centernet_config(cfg)
    add_grit_config(cfg)
    cfg.merge_from_file(args["config_file"])
    cfg.merge_from_list(args["opts"])
    cfg.merge_from_list(["MODEL.FPN.OUT_CHANNELS", FPN_DIM, "MODEL.ROI_BOX_HEAD.FC_DIM", BOX_FC,
                         "TEXT_DECODER.VOCAB_SIZE", TEXT["vocab_size"], "TEXT_DECODER.HIDDEN_SIZE", TEXT["hidden_size"],
                         "TEXT_DECODER.NUM_LAYERS", TEXT["num_layers"],
                         "TEXT_DECODER.ATTENTION_HEADS", TEXT["num_heads"],
                         "TEXT_DECODER.FEEDFORWARD_SIZE", TEXT["intermediate_size"]])
    cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = args["confidence_threshold"]
    cfg.MODEL.PANOPTIC_FPN.COMBINE.INSTANCES_CONFIDENCE_THRESH = args["confidence_threshold"]
    if args["test_task"]:
        cfg.MODEL.TEST_TASK = args["test_task"]
    cfg.MODEL.BEAM_SIZE = 1
    cfg.MODEL.ROI_HEADS.SOFT_NMS_ENABLED = False
    cfg.USE_ACT_CHECKPOINT = False
    cfg.freeze()
    return cfg


def make_demo(cfg, state_dict):
    """VisualizationDemo(cfg): DefaultPredictor loads cfg.MODEL.WEIGHTS (a {"model": sd} .pth)."""
    from vbench.third_party.grit_src.grit.predictor import VisualizationDemo
    demo = VisualizationDemo(cfg)
    model = demo.predictor.model
    own = model.state_dict()
    for k, v in state_dict.items():  # the checkpointer only warns on mismatches: check here
        assert torch.equal(own[k], v), k
    assert not [k for k in own if k not in state_dict and "mask_head" not in k]
    return demo


def crafted_state_dict(model, seed):
    """Fixed-seed random weights with biases that make thresholds and greedy decoding non-trivial."""
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for k, v in model.state_dict().items():
        if v.dim() == 1 and k.endswith("weight"):  # LayerNorm / GroupNorm scales
            t = 1.0 + 0.1 * torch.randn(v.shape, generator=g)
        elif v.dim() == 1:
            t = 0.1 * torch.randn(v.shape, generator=g)
        elif k.endswith("pos_embed"):
            t = 0.2 * torch.randn(v.shape, generator=g)
        else:
            fan_in = max(1, v[0].numel())
            t = torch.randn(v.shape, generator=g) / math.sqrt(fan_in)
        sd[k] = t.half().float()  # f16-representable: stored as f16 (fixture size), used as f32
    ch = "proposal_generator.centernet_head."
    # heat map logits spread around -1.5 (most locations pass 1e-4, a few do not; sqrt(sigmoid)
    # reaches the 0.5 range needed for final scores > 0.5)
    sd[ch + "agn_hm.weight"] *= 2.5
    sd[ch + "agn_hm.bias"] = torch.tensor([AGN_BIAS])
    sd[ch + "bbox_pred.weight"] *= 1.5
    sd[ch + "bbox_pred.bias"] = torch.tensor([BOX_BIAS, BOX_BIAS - 0.5, BOX_BIAS + 0.5, BOX_BIAS - 1.0])
    for l in range(5):
        sd[ch + f"scales.{l}.scale"] = torch.tensor([BOX_SCALE + 0.1 * l])
    for k in range(3):
        p = f"roi_heads.box_predictor.{k}."
        sd[p + "cls_score.bias"] = torch.tensor([CLS_BIAS, 0.0])
        sd[p + "cls_score.weight"] *= CLS_W
        sd[p + "bbox_pred.2.weight"] *= 0.5
        sd[p + "bbox_pred.2.bias"] = torch.tensor([0.3, -0.2, 0.4, 0.3])
    # text: a few class words get a large output bias, EOS a moderate one; the tied embedding of EOS
    # and a position component make EOS win after a few steps.
    t = "roi_heads.text_decoder.textual."
    v = vocab()
    n_vocab, hidden = sd[t + "embedding.words.weight"].shape
    bias = -3.0 + 0.5 * torch.randn(n_vocab, generator=g)
    for w, b in [("car", 4.0), ("cat", 3.8), ("bicycle", 3.7), ("red", 3.4), ("dog", 3.6), ("person", 3.5)]:
        bias[v.index(w)] = b
    bias[102] = 3.0
    sd[t + "output.bias"] = bias
    pos = sd[t + "embedding.positions.weight"]
    pos[3:] += 0.8 * sd[t + "embedding.words.weight"][102] / sd[t + "embedding.words.weight"][102].norm() * math.sqrt(hidden)
    for k in list(sd):
        if k.startswith("roi_heads.text_decoder_det."):
            sd[k] = sd["roi_heads.text_decoder." + k[len("roi_heads.text_decoder_det."):]]
    sd[t + "output.weight"] = sd[t + "embedding.words.weight"]
    sd["roi_heads.text_decoder_det.textual.output.weight"] = sd[t + "embedding.words.weight"]
    return {k: v.half().float() for k, v in sd.items()}


def frame(i, h, w):
    """Deterministic uint8 (h, w, 3) RGB frame (same formula in the Rust test)."""
    y, x = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    chans = [((x * (3 + i) + y * (5 + 2 * c) + 40 * c + 29 * i + ((x // 16 + y // 16 + c) % 3) * 70) % 256)
             for c in range(3)]
    return np.stack(chans, -1).astype(np.uint8)


class Recorder:
    def __init__(self):
        self.t = {}
        self.j = {}

    def put(self, k, v):
        assert k not in self.t, k
        self.t[k] = v.detach().float().contiguous().clone()


def instrument(model, rec, prefix):
    """Wrap methods of the detectron2 model so one forward records its intermediates under prefix."""
    state = {"pass": 0, "stage": 0}
    P = lambda: prefix  # noqa: E731
    orig_pre = model.preprocess_image

    def preprocess_image(batched):
        images = orig_pre(batched)
        rec.j[P() + "input_shape"] = list(images.tensor.shape)
        return images
    model.preprocess_image = preprocess_image

    def bb_hook(mod, inp, out):
        for i, k in enumerate(["p3", "p4", "p5", "p6", "p7"]):
            rec.put(P() + k, out[k][0])
    model.backbone.register_forward_hook(bb_hook)

    def head_hook(mod, inp, out):
        _, reg, agn = out
        for l in range(5):
            rec.put(P() + f"head.reg{l}", reg[l][0])
            rec.put(P() + f"head.agn{l}", agn[l][0])
    model.proposal_generator.centernet_head.register_forward_hook(head_hook)

    def pg_hook(mod, inp, out):
        props = out[0][0]
        rec.put(P() + "proposals.boxes", props.proposal_boxes.tensor)
        rec.put(P() + "proposals.scores", props.scores)
    model.proposal_generator.register_forward_hook(pg_hook)

    import centernet.modeling.dense_heads.centernet as cn_mod
    if not hasattr(cn_mod, "_orig_ml_nms"):
        cn_mod._orig_ml_nms = cn_mod.ml_nms

    def ml_nms(boxlist, thr, *a, **k):
        out = cn_mod._orig_ml_nms(boxlist, thr, *a, **k)
        rec.j[P() + "centernet.nms_in_out"] = [len(boxlist), len(out)]
        return out
    cn_mod.ml_nms = ml_nms

    rh = model.roi_heads
    orig_run_stage = rh._run_stage

    def run_stage(features, proposals, stage):
        out = orig_run_stage(features, proposals, stage)
        if state["pass"] == 0:
            rec.put(P() + f"stage{stage}.in_boxes", proposals[0].proposal_boxes.tensor)
            rec.put(P() + f"stage{stage}.probs", torch.softmax(out[0], -1))
            rec.put(P() + f"stage{stage}.pred_boxes",
                    rh.box_predictor[stage].predict_boxes(out, proposals)[0])
        return out
    rh._run_stage = run_stage

    orig_fri = rh.fast_rcnn_inference_GRiT

    def fri(boxes, scores, logits, image_sizes, *a):
        res = orig_fri(boxes, scores, logits, image_sizes, *a)
        if state["pass"] == 0:
            rec.put(P() + "final.boxes_unclipped", boxes[0])
            rec.put(P() + "final.scores_all", scores[0])
            rec.put(P() + "final.kept_boxes", res[0][0].pred_boxes.tensor)
            rec.put(P() + "final.kept_scores", res[0][0].scores)
        return res
    rh.fast_rcnn_inference_GRiT = fri

    def of_hook(mod, inp, out):
        if state["pass"] == 0:
            # first OBJ_FEAT_ROWS objects only (fixture size)
            rec.put(P() + "object_feats", out.view(out.shape[0], out.shape[1], -1).permute(0, 2, 1)[:OBJ_FEAT_ROWS])
    rh.object_feat_pooler.register_forward_hook(of_hook)

    for name, tag in [("text_decoder", None), ("text_decoder_det", "det")]:
        dec = getattr(rh, name)
        orig_fwd = dec.forward

        def fwd(batch, _orig=orig_fwd, _name=name):
            out = _orig(batch)
            key = "ids_test_task" if _name == "text_decoder" else "ids_objectdet"
            rec.j[P() + key] = [[int(t) for t in row[1:] if int(t) != 0] for row in out["predictions"]]
            rec.j[P() + key + "_raw"] = [[int(t) for t in row] for row in out["predictions"]]
            return out
        dec.forward = fwd

    orig_obj = rh.forward_object

    def forward_object(*a, **k):
        state["pass"] = 1
        try:
            return orig_obj(*a, **k)
        finally:
            state["pass"] = 0
    rh.forward_object = forward_object

    def set_prefix(p):
        nonlocal prefix
        prefix = p
    return set_prefix


def ops_fixture():
    """torchvision / detectron2 op reference values on random inputs."""
    from detectron2.modeling.poolers import ROIPooler
    from detectron2.layers import batched_nms
    from detectron2.modeling.box_regression import Box2BoxTransform
    g = torch.Generator().manual_seed(7)
    t = {}
    feat = torch.randn(1, 3, 9, 11, generator=g)
    t["ra.feat"] = feat[0]
    boxes = torch.tensor([
        [0.0, 0.0, 88.0, 72.0],        # whole map at scale 1/8
        [10.3, 5.7, 40.2, 33.9],
        [-20.0, -15.0, 30.0, 20.0],    # crosses top-left border
        [60.0, 50.0, 130.0, 110.0],    # crosses bottom-right border
        [100.0, 90.0, 140.0, 120.0],   # outside the map
        [33.0, 33.0, 33.002, 33.004],  # tiny
        [-200.0, -300.0, 900.0, 800.0],  # huge
        [20.0, 20.0, 20.0, 40.0],      # zero width
        [50.0, 30.0, 45.0, 40.0],      # negative width
        [7.99, 7.99, 8.01, 64.5],
    ])
    boxes = torch.cat([boxes, torch.rand(10, 2, generator=g) * 80 - 5], 0) if False else boxes
    rnd = torch.rand(12, 4, generator=g) * torch.tensor([95.0, 80.0, 60.0, 50.0]) - 5
    rnd[:, 2:] += rnd[:, :2]
    boxes = torch.cat([boxes, rnd], 0)
    t["ra.boxes"] = boxes
    rois = torch.cat([torch.zeros(len(boxes), 1), boxes], 1)
    for name, size in [("7", (7, 7)), ("14", (14, 14)), ("3x5", (3, 5))]:
        t[f"ra.out{name}"] = torchvision.ops.roi_align(feat, rois, size, spatial_scale=1 / 8, sampling_ratio=0,
                                                       aligned=True)
    # multi-level pooler
    feats = [torch.randn(1, 4, 24, 30, generator=g), torch.randn(1, 4, 12, 15, generator=g),
             torch.randn(1, 4, 6, 8, generator=g)]
    wh = torch.tensor([[8.0, 6.0], [60.0, 50.0], [111.9, 112.1], [112.0, 112.0], [224.0, 224.0], [230.0, 210.0],
                       [448.0, 449.0], [447.0, 447.9], [600.0, 500.0], [2000.0, 30.0], [0.0, 50.0], [1.0, 1.0],
                       [150.0, 80.0], [320.0, 240.0]])
    xy = torch.rand(len(wh), 2, generator=g) * torch.tensor([200.0, 150.0]) - 20
    pboxes = torch.cat([xy, xy + wh], 1)
    from detectron2.structures import Boxes
    for res in [7, 14]:
        pooler = ROIPooler(output_size=res, scales=(1 / 8, 1 / 16, 1 / 32), sampling_ratio=0, pooler_type="ROIAlignV2")
        t[f"pool.out{res}"] = pooler(feats, [Boxes(pboxes)])
    for i, f in enumerate(feats):
        t[f"pool.feat{i}"] = f[0]
    t["pool.boxes"] = pboxes
    from detectron2.modeling.poolers import assign_boxes_to_levels
    t["pool.levels"] = assign_boxes_to_levels([Boxes(pboxes)], 3, 5, 224, 4).float()
    # NMS with ties and identical boxes
    n = 300
    xy = torch.rand(n, 2, generator=g) * 100
    wh = torch.rand(n, 2, generator=g) * 40 + 1
    nb = torch.cat([xy, xy + wh], 1)
    nb[50:60] = nb[40]  # identical boxes
    sc = torch.rand(n, generator=g)
    sc[100:140] = sc[3]  # ties
    sc[45:55] = 0.5
    sc = torch.round(sc * 64) / 64  # many more ties
    t["nms.boxes"] = nb
    t["nms.scores"] = sc
    for thr in ["0.5", "0.9", "0.3"]:
        keep = batched_nms(nb, sc, torch.zeros(n, dtype=torch.long), float(thr))
        t[f"nms.keep{thr}"] = keep.float()
    # kthvalue top-k as CenterNet nms_and_topK
    ks = torch.round(torch.rand(600, generator=g) * 100) / 100
    kth, _ = torch.kthvalue(ks, 600 - 256 + 1)
    t["topk.scores"] = ks
    t["topk.keep"] = torch.nonzero(ks >= kth.item()).squeeze(1).float()
    # Box2BoxTransform
    db = torch.rand(40, 4, generator=g) * 100
    db[:, 2:] += db[:, :2] + 0.01
    dd = torch.randn(40, 4, generator=g) * 2
    dd[0, 2] = 50.0
    dd[1, 3] = 80.0  # clamped dw/dh
    dd[2, 2] = -30.0
    t["b2b.boxes"] = db
    t["b2b.deltas"] = dd
    for i, w in enumerate([(10.0, 10.0, 5.0, 5.0), (20.0, 20.0, 10.0, 10.0), (30.0, 30.0, 15.0, 15.0)]):
        t[f"b2b.out{i}"] = Box2BoxTransform(weights=w).apply_deltas(dd, db)
    return {k: v.float().contiguous() for k, v in t.items()}


FF = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y"]
BITEXACT = ["-fflags", "+bitexact", "-flags:v", "+bitexact", "-map_metadata", "-1"]
# Clips of the dimension runs: GroupNorm(32, 32) needs p7 larger than 1x1 (>= 160 px on one side).
CLIP_SPECS = {
    "grit_a.mp4": ("160x96 testsrc2, 8 fps, 16 frames, yuv420p, libx264", [
        "-f", "lavfi", "-i", "testsrc2=size=160x96:rate=8", "-frames:v", "16", "-pix_fmt", "yuv420p",
        "-c:v", "libx264", "-preset", "medium", "-crf", "20", "-x264-params", "threads=1"]),
    "grit_b.mp4": ("224x144 mandelbrot, 6 fps, 10 frames (padded to 16 indices), yuv420p, libx264", [
        "-f", "lavfi", "-i", "mandelbrot=size=224x144:rate=6", "-frames:v", "10", "-pix_fmt", "yuv420p",
        "-c:v", "libx264", "-preset", "medium", "-crf", "20", "-x264-params", "threads=1"]),
}

# Prompt records (VBench_full_info.json format) for the four dimensions; objects chosen among the
# texts the tiny model produces so that matches happen.
DIM_RECORDS = [
    {"prompt_en": "a bicycle", "dimension": ["object_class"], "auxiliary_info": {"object_class": {"object": "bicycle"}}},
    {"prompt_en": "a bicycle and a car", "dimension": ["multiple_objects"],
     "auxiliary_info": {"multiple_objects": {"object": "bicycle and car"}}},
    {"prompt_en": "a red dog car dog", "dimension": ["color"], "auxiliary_info": {"color": {"color": "red"}}},
    {"prompt_en": "a red bicycle", "dimension": ["color"], "auxiliary_info": {"color": {"color": "red"}}},
    {"prompt_en": "a bicycle on the left of a dog car dog, front view", "dimension": ["spatial_relationship"],
     "auxiliary_info": {"spatial_relationship": {"spatial_relationship": {
         "object_a": "bicycle", "object_b": "dog car dog", "relationship": "on the left of"}}}},
    {"prompt_en": "a bicycle on the top of a car", "dimension": ["spatial_relationship"],
     "auxiliary_info": {"spatial_relationship": {"spatial_relationship": {
         "object_a": "bicycle", "object_b": "car", "relationship": "on the top of"}}}},
]


def run_dimensions(out_dir, wpath, dims):
    """VBench's compute_<dim>(json, device, submodules) on the clips, with init_demo building the tiny model."""
    import subprocess
    import tempfile
    clip_dir = os.path.join(out_dir, "clips")
    os.makedirs(clip_dir, exist_ok=True)
    for name, (_, a) in CLIP_SPECS.items():
        if not os.path.exists(os.path.join(clip_dir, name)):
            subprocess.run(FF + a + BITEXACT + [os.path.join(clip_dir, name)], check=True)
    from vbench.third_party import grit_model
    from vbench.third_party.grit_src.grit import predictor as gpred
    from vbench.third_party.grit_src.grit.predictor import VisualizationDemo

    # run_on_image draws the detections with detectron2's Visualizer (matplotlib); VBench never
    # reads that image (object_class etc. use only the predictions). Skipped for speed.
    gpred.Visualizer_GRiT.draw_instance_predictions = lambda self, predictions: None

    def tiny_init_demo(device, model_weight, task="DenseCap"):
        return VisualizationDemo(build_cfg(task, tiny=True, weights=model_weight))
    grit_model.init_demo = tiny_init_demo
    from vbench.object_class import compute_object_class
    from vbench.multiple_objects import compute_multiple_objects
    from vbench.color import compute_color
    from vbench.spatial_relationship import compute_spatial_relationship
    clips = sorted(CLIP_SPECS)
    dim_records = DIM_RECORDS
    if dims == ["color"]:
        # color needs instance 0's ObjectDet text == the prompt's object in some frame (else VBench
        # divides by zero): take the objects from a first pass of VBench's color model.
        from vbench.utils import load_video
        from vbench.third_party.grit_model import DenseCaptioning
        m = DenseCaptioning(torch.device("cpu"))
        m.initialize_model(model_weight=wpath)
        first = {}
        for c in clips:
            for fr in load_video(os.path.join(clip_dir, c), num_frames=16, return_tensor=False):
                ret = m.run_caption_tensor(fr)[0]
                if ret:
                    first[ret[0][2][0]] = first.get(ret[0][2][0], 0) + 1
        objs = [o for o, _ in sorted(first.items(), key=lambda kv: -kv[1]) if o][:2]
        print("instance-0 ObjectDet texts:", first)
        dim_records = [r for r in DIM_RECORDS if "color" not in r["dimension"]] + [
            {"prompt_en": f"a {col} {o}", "dimension": ["color"], "auxiliary_info": {"color": {"color": col}}}
            for o in objs for col in ("red", "blue")]
    records = [dict(r, video_list=[os.path.join(clip_dir, c) for c in clips]) for r in dim_records]
    results = {}
    with tempfile.TemporaryDirectory() as td:
        jpath = os.path.join(td, "info.json")
        with open(jpath, "w") as f:
            json.dump(records, f)
        for dim, fn in [("object_class", compute_object_class), ("multiple_objects", compute_multiple_objects),
                        ("color", compute_color), ("spatial_relationship", compute_spatial_relationship)]:
            if dim not in dims:
                continue
            try:
                agg, per_video = fn(jpath, torch.device("cpu"), {"model_weight": wpath})
            except Exception as e:  # VBench itself fails (e.g. color with no qualifying video)
                results[dim] = {"error": f"{type(e).__name__}: {e}"}
                print(dim, results[dim])
                continue
            for v in per_video:
                v["video_path"] = os.path.relpath(v["video_path"], out_dir)
            results[dim] = [agg, per_video]
            print(dim, agg, [v["video_results"] for v in per_video])
    recs = [dict(r, video_list=[os.path.join("clips", c) for c in clips]) for r in dim_records]
    with open(os.path.join(out_dir, "clips.json"), "w") as f:
        json.dump({"clips": {k: v[0] for k, v in CLIP_SPECS.items()}}, f, indent=1)
    for dim, r in results.items():
        with open(os.path.join(out_dir, f"dimension_{dim}.json"), "w") as f:
            json.dump({"records": [x for x in recs if dim in x["dimension"]], dim: r}, f, indent=1)


def full_size(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    vpath = os.path.join(out_dir, "vocab.txt")
    write_vocab(vpath)
    patch_environment(vpath, tiny=False)
    from detectron2.modeling import build_model
    probe = build_model(build_cfg("ObjectDet", tiny=False))
    sd = crafted_state_dict(probe, seed=4321)
    del probe
    wpath = os.path.join(out_dir, "grit_full_random.pth")
    torch.save({"model": sd}, wpath)
    heads = {k: v.clone().contiguous() for k, v in sd.items()
             if k.startswith(("proposal_generator.", "roi_heads.box_head.", "roi_heads.box_predictor."))}
    save_file(heads, os.path.join(out_dir, "heads.safetensors"))
    rec = Recorder()
    demo = make_demo(build_cfg("ObjectDet", tiny=False, weights=wpath), sd)
    setp = instrument(demo.predictor.model, rec, "")
    setp("f0.")
    h, w = 480, 640
    with torch.no_grad():
        pred, _ = demo.run_on_image(frame(0, h, w))
    rec.j["ObjectDet.f0.image_hw"] = [h, w]
    rec.j["ObjectDet.f0.out_boxes"] = pred["instances"].pred_boxes.tensor.tolist()
    rec.j["ObjectDet.f0.centernet.nms_in_out"] = rec.j.pop("f0.centernet.nms_in_out")
    save_file(rec.t, os.path.join(out_dir, "pipeline.safetensors"))
    with open(os.path.join(out_dir, "pipeline.json"), "w") as f:
        json.dump(rec.j, f)
    s = rec.t["f0.final.scores_all"][:, 0]
    print(f"full size: proposals {len(rec.t['f0.proposals.scores'])}, >0.5: {(s > 0.5).sum().item()}, "
          f"kept {len(rec.t['f0.final.kept_scores'])}, min|s-0.5| {(s - 0.5).abs().min().item():.4g}")


ALL_DIMS = ["object_class", "multiple_objects", "color", "spatial_relationship"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=OUT)
    ap.add_argument("--keys-only", action="store_true")
    ap.add_argument("--skip-keys", action="store_true", help="do not rebuild the real-size key list")
    ap.add_argument("--skip-dims", action="store_true", help="do not run the four VBench dimensions")
    ap.add_argument("--dims-only", default=None,
                    help="comma-separated dimensions: only run these (the tiny weights must exist already)")
    ap.add_argument("--full-size", metavar="DIR",
                    help="real-size GRiT-B with the same kind of crafted random weights on one 480x640 frame: "
                         "write heads.safetensors (detection-head weights) and pipeline.safetensors/json to DIR "
                         "(not committed; ~200 MB)")
    args = ap.parse_args()
    if args.full_size:
        return full_size(args.full_size)
    os.makedirs(args.out, exist_ok=True)
    vpath = os.path.join(args.out, "vocab.txt")
    write_vocab(vpath)
    # tokenizer.json for the Rust side (scorer's BertTokenizer reads the tokenizers format)
    fast = transformers.BertTokenizerFast(vocab_file=vpath, do_lower_case=True)
    fast.backend_tokenizer.save(os.path.join(args.out, "tokenizer.json"))
    torch.manual_seed(0)

    # real-size key list
    patch_environment(vpath, tiny=False)
    from detectron2.modeling import build_model
    if not args.skip_keys:
        real = build_model(build_cfg("ObjectDet", tiny=False))
        with open(os.path.join(args.out, "grit_b_keys.txt"), "w") as f:
            for k, v in real.state_dict().items():
                f.write(f"{k} {list(v.shape)}\n")
        del real
    if args.keys_only:
        return

    if args.dims_only:
        torch.set_num_threads(1)
        patch_environment(vpath, tiny=True)
        wpath = os.path.join(ROOT, "fixtures-work", "grit_tiny.pth")
        return run_dimensions(args.out, wpath, args.dims_only.split(","))
    save_file(ops_fixture(), os.path.join(args.out, "ops.safetensors"))

    patch_environment(vpath, tiny=True)
    from vbench.third_party.grit_src.image_dense_captions import dense_pred_to_caption_tuple
    cfg_det = build_cfg("ObjectDet", tiny=True)
    probe = build_model(cfg_det)
    sd = crafted_state_dict(probe, seed=1234)
    del probe
    # f16 on disk (values are f16-exact); the tied output.weight (= embedding.words.weight), the
    # shared text_decoder_det.* copies and the unused mask head are left out.
    save = {k: v.half().contiguous() for k, v in sd.items()
            if not k.startswith("roi_heads.text_decoder_det.") and "mask_head" not in k
            and k != "roi_heads.text_decoder.textual.output.weight"}
    save_file(save, os.path.join(args.out, "model.safetensors"))

    wpath = os.path.join(ROOT, "fixtures-work", "grit_tiny.pth")
    os.makedirs(os.path.dirname(wpath), exist_ok=True)
    torch.save({"model": {k: v.clone() for k, v in sd.items()}}, wpath)
    rec = Recorder()
    frames = {}
    results = {"frames": []}
    for task in ["ObjectDet", "DenseCap"]:
        demo = make_demo(build_cfg(task, tiny=True, weights=wpath), sd)
        setp = instrument(demo.predictor.model, rec, "")
        for i, (h, w) in enumerate(FRAME_SIZES):
            img = frame(i, h, w)
            frames[f"frame{i}"] = torch.from_numpy(img.copy())
            setp(f"{task}.f{i}.")
            with torch.no_grad():
                pred, _ = demo.run_on_image(img)
            inst = pred["instances"]
            tuples = dense_pred_to_caption_tuple(pred)
            # the third element of every tuple is the same whole det_obj list: stored once
            rec.j[f"{task}.f{i}.tuples"] = [[a, b] for a, b, _ in tuples]
            rec.j[f"{task}.f{i}.det_obj"] = list(tuples[0][2]) if tuples else []
            assert all(list(c) == rec.j[f"{task}.f{i}.det_obj"] for _, _, c in tuples)
            rec.j[f"{task}.f{i}.out_boxes"] = inst.pred_boxes.tensor.tolist()
            rec.j[f"{task}.f{i}.image_hw"] = [h, w]
    # the box path is identical in both tasks: keep only ObjectDet tensors (+ ids of both)
    tensors = {k: v for k, v in rec.t.items() if k.startswith("ObjectDet.")}
    for k in list(rec.t):
        if k.startswith("DenseCap."):
            kk = "ObjectDet." + k[len("DenseCap."):]
            assert torch.equal(rec.t[k], rec.t[kk]), k
    tensors = {k[len("ObjectDet."):]: v for k, v in tensors.items()}
    save_file(tensors, os.path.join(args.out, "pipeline.safetensors"))
    save_file({k: v.contiguous() for k, v in frames.items()}, os.path.join(args.out, "frames.safetensors"))
    config = {"backbone": dict(VIT, fpn_dim=FPN_DIM), "text": dict(TEXT, object_feat_dim=FPN_DIM),
              "box_head_fc_dim": BOX_FC, "frame_sizes": FRAME_SIZES,
              "versions": {"torch": torch.__version__, "torchvision": torchvision.__version__,
                           "transformers": transformers.__version__}}
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(config, f, indent=1)
    with open(os.path.join(args.out, "pipeline.json"), "w") as f:
        json.dump(rec.j, f, indent=None)
    if not args.skip_dims:
        run_dimensions(args.out, wpath, ALL_DIMS)
    # report margins
    for i in range(len(FRAME_SIZES)):
        s = tensors[f"f{i}.final.scores_all"][:, 0]
        print(f"frame {i}: proposals {len(tensors[f'f{i}.proposals.scores'])}, >0.5: {(s > 0.5).sum().item()}, "
              f"kept {len(tensors[f'f{i}.final.kept_scores'])}, min|s-0.5| {(s - 0.5).abs().min().item():.4g}")
        print("  centernet nms in/out", rec.j[f"ObjectDet.f{i}.centernet.nms_in_out"],
              "candidates/level", [int((torch.sigmoid(tensors[f"f{i}.head.agn{l}"]) > 1e-4).sum()) for l in range(5)])
        print("  ObjectDet ids", rec.j[f"ObjectDet.f{i}.ids_test_task"][:6])
        print("  DenseCap ids", rec.j[f"DenseCap.f{i}.ids_test_task"][:6])
        print("  tuples", rec.j[f"DenseCap.f{i}.tuples"][:3], rec.j[f"DenseCap.f{i}.det_obj"][:5])


if __name__ == "__main__":
    main()
