#!/usr/bin/env python3
"""Unit-level parity fixtures for GRiT's ViTDet backbone + pyramid and its text decoder
(tests/fixtures/parity_grit_vit/), from VBench 0.1.5's own GRiT code.

  PYTHONPATH=/tmp/detectron2_src:fixtures-work/vbench_wheel /tmp/refenv/bin/python \
      tools/parity/make_fixtures_grit_vit.py [--out DIR] [--full-size]

Backbone: VBench's `grit/modeling/backbone/vit.py` classes `ViT` + `ViT_FPN` with
`centernet/.../fpn_p5.py::LastLevelP6P7_P5`, built exactly as `build_vit_fpn_backbone` does
but with the tiny sizes of the GRiT parity plan (embed 64, depth 3, 4 heads, window 14 on
blocks 0 and 1, block 2 global, pretrain 224 -> abs pos (1,197,64) with a cls row, img_size
256 -> global rel-pos tables of 31 rows, pyramid width 32). Inputs are deterministic patterns
(formula shared with the Rust test), normalised with GRiT's RGB mean/std and zero-padded to a
multiple of 32 like `GeneralizedRCNN.preprocess_image`; three sizes so that the window padding,
the bicubic abs-pos resize and the linear resize of the global rel-pos tables (both axes, and
one axis without resize) are exercised.

Text decoder: `text_decoder.py::TransformerDecoderTextualHead` (decoder_type 'bert_en', post
norm) inside `GRiTTextDecoder` with `AutoRegressiveBeamSearch(end_token_id=102, max_steps=40,
beam_size=1, per_node_beam_size=1)` exactly as `GRiTROIHeadsAndTextDecoder.__init__` builds it
(BEAM_SIZE forced to 1 by VBench's setup_cfg); hidden 64, 2 layers, 4 heads, FF 128, vocab
2000, object features of width 32. `max_caption_length` is 64 here (GRiT builds it with the
constructor default 1024; only rows < 40 are ever read). Generated for both begin tokens (101
ObjectDet, 104 DenseCap) on 6 objects; the raw step logits (`decoding_step`'s output, before the
repetition rule) are recorded through a wrapper.

Weights: fixed-seed random (normal 0.1-0.15; LayerNorm weights 1 + normal 0.1; rel-pos and abs-pos
tables random so they matter) and a crafted text output bias (EOS raised) so that rows stop at
different steps, one runs to the 40-token limit, and one stops at step 1.

Key names are those of the real GRiT model's state dict (printed from `build_model(cfg)` with
VBench's yaml): `backbone.bottom_up.*`, `backbone.fpn_stride*`, `backbone.top_block.p6/p7.*`,
`roi_heads.text_decoder.textual.*` (the model also holds the same module again under
`roi_heads.text_decoder_det.textual.*` and the tied `textual.output.weight`; both are left out
here: the port reads `embedding.words.weight` for the output layer).

--full-size writes (to --out, not committed) the real ViT-B backbone with random weights on one
512x512 and one 720x1280 input, and the real-size text decoder on 20 objects.
"""
import argparse
import json
import math
import os
import sys
import types
from functools import partial

import numpy as np
import torch
import torch.nn as nn
from safetensors.torch import save_file

# GRiT's text package imports boto3/botocore for unused download helpers.
sys.modules.setdefault("boto3", types.ModuleType("boto3"))
_bc = types.ModuleType("botocore")
_bce = types.ModuleType("botocore.exceptions")
_bce.ClientError = Exception
sys.modules.setdefault("botocore", _bc)
sys.modules.setdefault("botocore.exceptions", _bce)

from vbench.third_party.grit_src import image_dense_captions  # noqa: E402,F401  (sets sys.path for centernet)
from vbench.third_party.grit_src.grit.modeling.backbone.vit import ViT, ViT_FPN  # noqa: E402
from centernet.modeling.backbone.fpn_p5 import LastLevelP6P7_P5  # noqa: E402
from vbench.third_party.grit_src.grit.modeling.text.text_decoder import (  # noqa: E402
    AutoRegressiveBeamSearch, GRiTTextDecoder, TransformerDecoderTextualHead)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fixtures", "parity_grit_vit")

MEAN = [123.675, 116.280, 103.530]
STD = [58.395, 57.12, 57.375]

TINY_VIT = dict(embed_dim=64, depth=3, num_heads=4, mlp_ratio=4.0, patch_size=16, window_size=14,
                window_block_indexes=[0, 1], pretrain_img_size=224, img_size=256, fpn_dim=32)
FULL_VIT = dict(embed_dim=768, depth=12, num_heads=12, mlp_ratio=4.0, patch_size=16, window_size=14,
                window_block_indexes=[0, 1, 3, 4, 6, 7, 9, 10], pretrain_img_size=224, img_size=1024,
                fpn_dim=256)
TINY_TEXT = dict(vocab_size=2000, hidden_size=64, num_layers=2, num_heads=4, intermediate_size=128,
                 max_positions=64, object_feat_dim=32, max_steps=40, eos_token_id=102)
FULL_TEXT = dict(vocab_size=30522, hidden_size=768, num_layers=6, num_heads=12, intermediate_size=3072,
                 max_positions=1024, object_feat_dim=256, max_steps=40, eos_token_id=102)


def image(h, w, k):
    """Deterministic (3, h, w) uint8-valued pattern number k (same formula in the Rust test)."""
    y, x = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    chans = [((x * (3 + c + k) + y * (5 + 2 * c) + (x * y) % (7 + k) * 11 + 40 * c + 29 * k) % 256)
             for c in range(3)]
    return np.stack(chans, 0).astype(np.float32)


def normalise_pad(img):
    """GeneralizedRCNN.preprocess_image: (x - mean) / std, then zero pad bottom/right to /32."""
    x = torch.from_numpy(img)
    mean = torch.tensor(MEAN, dtype=torch.float32).view(3, 1, 1)
    std = torch.tensor(STD, dtype=torch.float32).view(3, 1, 1)
    x = (x - mean) / std
    h, w = x.shape[1:]
    hp, wp = int(math.ceil(h / 32) * 32), int(math.ceil(w / 32) * 32)
    out = torch.zeros(1, 3, hp, wp)
    out[0, :, :h, :w] = x
    return out


def build_backbone(c):
    vit = ViT(img_size=c["img_size"], patch_size=c["patch_size"], embed_dim=c["embed_dim"], depth=c["depth"],
              num_heads=c["num_heads"], drop_path_rate=0.1, window_size=c["window_size"],
              mlp_ratio=c["mlp_ratio"], qkv_bias=True, norm_layer=partial(nn.LayerNorm, eps=1e-6),
              window_block_indexes=c["window_block_indexes"], residual_block_indexes=[],
              use_act_checkpoint=False, use_rel_pos=True, out_feature="last_feat",
              pretrain_img_size=c["pretrain_img_size"])
    fpn = ViT_FPN(bottom_up=vit, top_block=LastLevelP6P7_P5(c["fpn_dim"], c["fpn_dim"]), out_channels=c["fpn_dim"],
                  strides=[8, 16, 32, 64, 128], vit_out_dim=c["embed_dim"])
    g = torch.Generator().manual_seed(20261201)
    with torch.no_grad():
        for name, p in fpn.named_parameters():
            if "norm" in name and name.endswith("weight"):
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=g))
            elif name.endswith("pos_embed"):
                p.copy_(0.5 * torch.randn(p.shape, generator=g))
            elif "rel_pos" in name:
                p.copy_(0.3 * torch.randn(p.shape, generator=g))
            elif p.dim() == 4:  # convs: fan-in scaled
                fan_in = p.shape[1] * p.shape[2] * p.shape[3]
                if name.endswith("fpn_stride_16_8.weight"):
                    fan_in = p.shape[0]
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(fan_in))
            elif p.dim() == 2:
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(p.shape[1]))
            else:
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
    return fpn.eval()


def build_text(c, seed=7):
    head = TransformerDecoderTextualHead(
        object_feature_size=c["object_feat_dim"], vocab_size=c["vocab_size"], hidden_size=c["hidden_size"],
        num_layers=c["num_layers"], attention_heads=c["num_heads"], feedforward_size=c["intermediate_size"],
        mask_future_positions=True, padding_idx=0, decoder_type="bert_en", use_act_checkpoint=False,
        max_caption_length=c["max_positions"])
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in head.named_parameters():
            if ("LayerNorm" in name or "layer_norm" in name or "projection.1" in name) and name.endswith("weight"):
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=g))
            elif name.endswith("words.weight"):
                p.copy_(0.5 * torch.randn(p.shape, generator=g))
            elif name.endswith("positions.weight"):
                p.copy_(0.3 * torch.randn(p.shape, generator=g))
            elif p.dim() == 2:
                p.copy_(1.5 * torch.randn(p.shape, generator=g) / math.sqrt(p.shape[1]))
            else:
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
        head.output.bias.copy_(torch.randn(head.output.bias.shape, generator=g))
    return head.eval()


def decoder(head, begin, steps_log):
    search = AutoRegressiveBeamSearch(end_token_id=102, max_steps=40, beam_size=1, objectdet=begin == 101,
                                      per_node_beam_size=1)
    dec = GRiTTextDecoder(head, beamsearch_decode=search, begin_token_id=begin, loss_type="smooth")
    orig = dec.decoding_step

    def step(object_features, partial_text):
        out = orig(object_features, partial_text)
        steps_log.append(out.detach().clone())
        return out

    dec.decoding_step = step
    return dec.eval()


def generated_ids(pred):
    """predictions row (with begin token, or the early-return [eos]) -> ids w/o begin, up to EOS."""
    rows = []
    for r in pred.tolist():
        if not isinstance(r, list):
            r = [r]
        toks = r[1:] if len(r) > 1 else []
        out = []
        for t in toks:
            if t == 102:
                break
            out.append(int(t))
        rows.append(out)
    return rows


def run_text(head, feats, begin):
    log = []
    dec = decoder(head, begin, log)
    with torch.no_grad():
        out = dec({"object_features": feats})
    return out, log


def state(prefix, module, skip=()):
    return {prefix + k: v.detach().clone().contiguous() for k, v in module.state_dict().items()
            if not any(s in k for s in skip)}


def tiny(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    torch.set_num_threads(2)
    meta = {"vit": TINY_VIT, "text": TINY_TEXT, "mean": MEAN, "std": STD, "cases": [], "text_cases": []}
    tensors = {}

    fpn = build_backbone(TINY_VIT)
    weights = state("backbone.", fpn)
    block_out = []
    hooks = [b.register_forward_hook(lambda m, i, o: block_out.append(o.detach().clone()))
             for b in fpn.bottom_up.blocks]
    for k, (h, w) in enumerate([(96, 128), (200, 300), (250, 180)]):
        x = normalise_pad(image(h, w, k))
        block_out.clear()
        with torch.no_grad():
            feats = fpn(x)
        name = f"case{k}"
        meta["cases"].append({"name": name, "h": h, "w": w, "k": k, "padded": list(x.shape[2:])})
        tensors[f"{name}.input_sum"] = x.sum().reshape(1)
        for lvl in ["p3", "p4", "p5", "p6", "p7"]:
            tensors[f"{name}.{lvl}"] = feats[lvl].contiguous()
        if k == 1:
            for i, b in enumerate(block_out):
                if i == 1:
                    continue
                tensors[f"{name}.block{i}"] = b.contiguous()
    for hk in hooks:
        hk.remove()

    head = build_text(TINY_TEXT)
    with torch.no_grad():
        # crafted: EOS raised so rows stop at different steps (1 to the 39-token limit)
        head.output.bias[102] += 4.0
    weights.update(state("roi_heads.text_decoder.textual.", head, skip=("output.weight",)))
    # 64 candidate rows of growing scale; the 6 kept give lengths 39/10/1/31/2/16 (begin 101)
    # and 39/2/1/31/39/2 (begin 104)
    g = torch.Generator().manual_seed(5)
    cand = torch.randn(64, 196, TINY_TEXT["object_feat_dim"], generator=g) * torch.linspace(0.05, 2.0, 64).view(64, 1, 1)
    feats = cand[[12, 7, 0, 30, 1, 22]].contiguous()
    tensors["text.object_feats"] = feats.contiguous()
    for begin in (101, 104):
        out, log = run_text(head, feats, begin)
        ids = generated_ids(out["predictions"])
        n_steps = len(log)
        meta["text_cases"].append({"begin": begin, "ids": ids, "steps": n_steps,
                                   "logprobs": out["logprobs"].tolist()})
        # full raw logits for the first 2 steps; for every step the logits at a fixed id subset
        ended = [False] * feats.shape[0]
        gaps = []
        subset = list(range(0, TINY_TEXT["vocab_size"], 37)) + [102]
        for s, lg in enumerate(log):
            active = [i for i in range(feats.shape[0]) if not ended[i]]
            if s < 2:
                tensors[f"text.b{begin}.step{s}"] = lg[active].contiguous()
            tensors[f"text.b{begin}.sub{s}"] = lg[active][:, subset].contiguous()
            meta["text_cases"][-1].setdefault("active", []).append(active)
            for i in active:
                row = lg[i].clone()
                if s > 0:  # repetition rule: the row's last token
                    row[ids[i][s - 1]] = -10000.0
                top2 = row.topk(2).values
                gaps.append(float(top2[0] - top2[1]))
                tok = ids[i][s] if s < len(ids[i]) else 102
                if tok == 102:
                    ended[i] = True
        meta["text_cases"][-1]["subset"] = subset
        meta["text_cases"][-1]["min_top2_gap"] = min(gaps)
        print("min top1-top2 logit gap", min(gaps))
        print("begin", begin, "lengths", [len(r) for r in ids], "steps", n_steps)

    save_file(weights, os.path.join(out_dir, "model.safetensors"))
    save_file(tensors, os.path.join(out_dir, "tensors.safetensors"))
    with open(os.path.join(out_dir, "outputs.json"), "w") as f:
        json.dump(meta, f, indent=1)
    total = sum(os.path.getsize(os.path.join(out_dir, n)) for n in os.listdir(out_dir))
    print("fixture bytes", total)


def full(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    meta = {"vit": FULL_VIT, "text": FULL_TEXT, "mean": MEAN, "std": STD, "cases": []}
    tensors = {}
    fpn = build_backbone(FULL_VIT)
    weights = state("backbone.", fpn)
    for k, (h, w) in enumerate([(512, 512), (720, 1280)]):
        x = normalise_pad(image(h, w, k))
        with torch.no_grad():
            feats = fpn(x)
        name = f"case{k}"
        meta["cases"].append({"name": name, "h": h, "w": w, "k": k, "padded": list(x.shape[2:])})
        for lvl in ["p3", "p4", "p5", "p6", "p7"]:
            tensors[f"{name}.{lvl}"] = feats[lvl].contiguous()
    del fpn
    head = build_text(FULL_TEXT)
    with torch.no_grad():
        head.output.bias[102] += 2.0
    weights.update(state("roi_heads.text_decoder.textual.", head, skip=("output.weight",)))
    g = torch.Generator().manual_seed(99)
    feats = torch.randn(20, 196, 256, generator=g)
    tensors["text.object_feats"] = feats
    for begin in (101, 104):
        out, log = run_text(head, feats, begin)
        ids = generated_ids(out["predictions"])
        meta.setdefault("text_cases", []).append({"begin": begin, "ids": ids, "steps": len(log)})
        tensors[f"text.b{begin}.step0"] = log[0].contiguous()
        print("begin", begin, "lengths", [len(r) for r in ids])
    save_file(weights, os.path.join(out_dir, "model.safetensors"))
    save_file(tensors, os.path.join(out_dir, "tensors.safetensors"))
    with open(os.path.join(out_dir, "outputs.json"), "w") as f:
        json.dump(meta, f, indent=1)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=None)
    ap.add_argument("--full-size", action="store_true")
    a = ap.parse_args()
    torch.manual_seed(0)
    if a.full_size:
        full(a.out or "/tmp/grit_vit_full")
    else:
        tiny(a.out or OUT)
