#!/usr/bin/env python3
"""Parity fixtures for `human_action` (UMT-L/16, Kinetics-400) from VBench 0.1.5's own code.

Writes tests/fixtures/parity_umt/:
  clips/*.mp4           five small H.264 clips whose file names carry the label (VBench reads the label
                        from the name): 20 frames (>= 16, so the sampler skips frames), 6, 5 (portrait),
                        4 frames already 256 high (resize_clip returns them untouched), 3 frames 512x512
                        (cv2 runs its exact-2x INTER_AREA shortcut), the last one with no label in its name
  models/umt_tiny.pth   a shrunken UMT (width 128, 2 blocks, 2 heads of 64; same 224/16 patch grid, 16 frames,
                        400 classes, same sinusoid table) with fixed random weights, saved like the real
                        checkpoint: a flat, unprefixed fp16 state dict without pos_embed (spec §4.5); the head
                        is designed (rows along each clip's feature direction, biases solved for target
                        logits) so that the top-5 decision is non-trivial: true at rank 1, false below the
                        0.85 threshold, false at rank 6 above the threshold, true at rank 3, false (no label)
  scores.json           {"human_action": [aggregate, [records]]} as vbench.human_action.human_action returns
  tensors.safetensors   logits/<clip> (1,400) = the model output VBench's sigmoid receives,
                        features/<clip> (1,128), input_patch/<clip> = the network input [..., :8, :8]
                        (1,3,16,8,8), crop_fnv/<clip> = FNV-1a 64 of the uint8 (16,224,224,3) clip after
                        Resize(256) + CenterCrop(224) (as two u32 halves), pos_embed_cols = the model's
                        computed pos_embed[0][:, cols] (3136, 8)
  cv_resize.safetensors cv2.resize(INTER_LINEAR) golden data on generated images (see CV_CASES)
  inputs.json           clip specs, constructor, seeds, design, versions

VBench is run unmodified: `vbench.human_action.human_action(umt_path, video_list, 'cpu')`. The only
substitution is `vbench.human_action.create_model`, which VBench calls as
`create_model("vit_large_patch16_224", pretrained=False, num_classes=400, all_frames=16, ...)`; the
replacement builds the same `modeling_finetune.VisionTransformer` with those keyword arguments (minus
`pretrained` and the None-valued ones, as timm does) but with the shrunken width/depth/heads. A forward
hook records the logits.

Usage (environment of tools/parity/README.md):
  PYTHONPATH=fixtures-work/vbench_wheel /tmp/refenv/bin/python tools/parity/make_fixtures_umt.py
  ... make_fixtures_umt.py --full-size OUT_DIR   real-size UMT-L (1024/24/16) with random weights, two clips;
      writes OUT_DIR/OpenGVLab/VBench_Used_Models/l16_ptk710_ftk710_ftk400_f16_res224.pth (fp16, ~580 MB),
      OUT_DIR/scores.json, OUT_DIR/tensors.safetensors; not committed (test full_size_umt_matches_vbench)
"""
import argparse
import json
import math
import os
import subprocess
import sys
import time
from functools import partial

import numpy as np
import torch
import torch.nn as nn

torch.set_num_threads(2)
torch.use_deterministic_algorithms(True)

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))

FF = ['ffmpeg', '-hide_banner', '-loglevel', 'error', '-y']
BITEXACT = ['-map_metadata', '-1', '-fflags', '+bitexact', '-flags:v', '+bitexact', '-threads', '1']
X264 = ['-pix_fmt', 'yuv420p', '-c:v', 'libx264', '-preset', 'medium', '-crf', '23', '-x264-params', 'threads=1']
CLIPS = {
    'A person is riding a bike-0.mp4': ('testsrc2 96x64, 8 fps, 20 frames', [
        '-f', 'lavfi', '-i', 'testsrc2=size=96x64:rate=8', '-frames:v', '20'] + X264),
    'A person is marching-1.mp4': ('testsrc 128x72 with a hue sweep, 6 frames', [
        '-f', 'lavfi', '-i', 'testsrc=size=128x72:rate=6', '-vf', 'hue=h=t*40', '-frames:v', '6'] + X264),
    'a person is dodgeball_extra-0.mp4': ('portrait testsrc2 64x96 with a hue sweep, 5 frames', [
        '-f', 'lavfi', '-i', 'testsrc2=size=64x96:rate=5', '-vf', 'hue=h=t*60:s=1.2', '-frames:v', '5'] + X264),
    'A person is playing cymbals-2.mp4': ('testsrc2 384x256 (already 256 high: no resize), 4 frames', [
        '-f', 'lavfi', '-i', 'testsrc2=size=384x256:rate=4', '-frames:v', '4'] + X264),
    'no label here.mp4': ('smptehdbars 512x512 (exact 2x down: INTER_AREA fast), 3 frames', [
        '-f', 'lavfi', '-i', 'smptehdbars=size=512x512:rate=3', '-vf', 'hue=h=t*90', '-frames:v', '3'] + X264),
}
CLIP_NAMES = list(CLIPS)
# the decision each clip is designed to get (checked after the VBench run)
EXPECTED_FLAGS = [True, False, False, True, False]
FULL_CLIPS = CLIP_NAMES[:2]

TINY = dict(embed_dim=128, depth=2, num_heads=2)   # head dim 64 as in ViT-L (the loader infers heads = width / 64)
FULL = dict(embed_dim=1024, depth=24, num_heads=16)
SEED = {'tiny': 4216, 'full': 5216}
THRESH = 0.84995   # round(v, 4) >= 0.85  <=>  v >= f32(0.84995)

# cv2.resize(INTER_LINEAR) golden cases: (src w, src h, dst w, dst h, store full output?)
CV_CASES = [
    (96, 64, 384, 256, True), (64, 96, 256, 384, False), (128, 72, 455, 256, False),
    (512, 512, 256, 256, False), (128, 128, 256, 256, False), (1280, 720, 455, 256, False),
    (854, 480, 455, 256, False), (720, 1280, 256, 455, False), (400, 300, 341, 256, False),
    (37, 23, 50, 31, True), (200, 150, 61, 47, True), (5, 3, 17, 2, True), (33, 17, 16, 9, True),
    (1, 1, 4, 4, True), (3, 2, 5, 4, True), (7, 5, 3, 2, True), (2, 9, 11, 3, True),
]


def gen_image(w, h, seed):
    """Deterministic bytes (also generated by the Rust test): x = (i*2654435761 + seed*97) mod 2^32,
    x ^= x >> 15, x = x*2246822519 mod 2^32, x ^= x >> 13, byte = x >> 24, for i over (h, w, 3)."""
    i = np.arange(h * w * 3, dtype=np.uint64)
    m = np.uint64(0xFFFFFFFF)
    x = (i * np.uint64(2654435761) + np.uint64(seed * 97)) & m
    x ^= x >> np.uint64(15)
    x = (x * np.uint64(2246822519)) & m
    x ^= x >> np.uint64(13)
    return (x >> np.uint64(24)).astype(np.uint8).reshape(h, w, 3)


def fnv64(buf):
    h = 0xcbf29ce484222325
    for b in bytes(buf):
        h ^= b
        h = (h * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def fnv_tensor(h):
    return torch.tensor([h & 0xFFFFFFFF, h >> 32], dtype=torch.int64)


def make_clips(clip_dir, names, regenerate):
    os.makedirs(clip_dir, exist_ok=True)
    for name in names:
        path = os.path.join(clip_dir, name)
        if os.path.exists(path) and not regenerate:
            continue
        subprocess.run(FF + CLIPS[name][1] + BITEXACT + [path], check=True)


def build_umt(cfg, **kwargs):
    """What vit_large_patch16_224(**kwargs) builds, with cfg's width/depth/heads."""
    from vbench.third_party.umt.models.modeling_finetune import VisionTransformer
    kwargs.pop('pretrained_cfg', None)
    kwargs.pop('pretrained_cfg_overlay', None)
    return VisionTransformer(patch_size=16, mlp_ratio=4, qkv_bias=True,
                             norm_layer=partial(nn.LayerNorm, eps=1e-6), **cfg, **kwargs)


VBENCH_KWARGS = dict(num_classes=400, all_frames=16, tubelet_size=1, use_learnable_pos_emb=False,
                     fc_drop_rate=0., drop_rate=0., drop_path_rate=0.2, attn_drop_rate=0., use_checkpoint=False,
                     checkpoint_num=16, use_mean_pooling=True, init_scale=0.001)


def patched_create_model(cfg, captured):
    def create_model(name, pretrained=False, **kwargs):
        assert name == 'vit_large_patch16_224' and not pretrained
        kwargs = {k: v for k, v in kwargs.items() if v is not None}   # timm drops None kwargs
        m = build_umt(cfg, **kwargs)
        m.register_forward_hook(lambda mod, inp, out: captured.append(out.detach().clone()))
        m.fc_norm.register_forward_hook(lambda mod, inp, out: captured_feats.append(out.detach().clone()))
        captured_models.append(m)
        return m
    return create_model


captured_models = []
captured_feats = []


def init_weights_(model, seed, gain=1.5):
    """LayerNorm weight 1 + N(0, 0.2), bias N(0, 0.1); matrices N(0, gain / sqrt(fan_in)); biases (also
    q_bias, v_bias) N(0, 0.05); then rounded to fp16 (the checkpoint is fp16)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            if name == 'pos_embed':
                continue
            leaf = name.split('.')[-1]
            if 'norm' in name:
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g) if leaf == 'weight'
                        else 0.1 * torch.randn(p.shape, generator=g))
            elif p.dim() == 1:
                p.copy_(0.05 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(gain * torch.randn(p.shape, generator=g) / math.sqrt(p[0].numel()))
            p.copy_(p.half().float())


PLAN = [(0, [(3.0, 'own')]), (1, [(1.2, 'own')]),
        (2, [(2.5, 'own'), (3.0, 20), (3.2, 21), (3.4, 22), (3.6, 23), (3.8, 24)]),
        (3, [(2.2, 'own'), (3.0, 30), (3.5, 31)]),
        (4, [(3.0, 40), (3.3, 41), (3.6, 42), (3.9, 43)])]


def design_head(feats, labels, label_index, seed, dim, plan, alpha=8.0):
    """Head rows along the dual basis of the clips' features (row k for a target on clip i is alpha * v_i
    with f_j . v_i = delta_ij, v = pinv(F)), biases solved for target logits, so that each designed class
    scores its target on its clip and target - alpha on the others. Tiny plan: clip 0 own class 3.0 (rank 1,
    true); clip 1 own class 1.2 (p 0.77 < 0.85, false); clip 2 own class 2.5 with five distractors at
    3.0..3.8 (rank 6 at p 0.92, false); clip 3 own class 2.2 with two distractors (rank 3, true); clip 4 (no
    label) four distractors. Distractor classes: 20+, 30+, 40+. Other rows small random, biases about -3."""
    g = torch.Generator().manual_seed(seed)
    w = 0.02 * torch.randn(400, dim, generator=g)
    b = -3.0 + 0.1 * torch.randn(400, generator=g)
    f = feats.double()
    dual = torch.linalg.pinv(f)            # (dim, clips)
    targets = []   # (class, clip, logit)
    for clip, items in plan:
        for logit, cls in items:
            k = label_index[labels[clip]] if cls == 'own' else cls
            targets.append((k, clip, logit))
    for k, clip, logit in targets:
        w[k] = (alpha * dual[:, clip]).float()
    w = w.half().float()
    base = f @ w.double().t()
    for k, clip, logit in targets:
        b[k] = float(logit - base[clip, k])
    b = b.half().float()
    print('design: |dual| per clip', dual.norm(dim=0).tolist())
    return w, b


def run(out, cfg, clip_names, seed, clip_dir_rel, model_path, tag):
    import cv2
    import decord
    import torchvision
    import timm
    from safetensors.torch import save_file
    import vbench.human_action as ha
    from vbench.utils import load_video
    from vbench.third_party.umt.datasets.video_transforms import Compose, Resize, CenterCrop, Normalize
    from vbench.third_party.umt.datasets.volume_transforms import ClipToTensor

    paths = [f'{clip_dir_rel}/{c}' for c in clip_names]
    names = ha.build_dict()
    label_index = {v: int(k) for k, v in names.items()}
    labels = [p.split('/')[-1].lower().split('-')[0].split("person is ")[-1].split('_')[0] for p in paths]

    # ---- random model, saved like the real checkpoint: flat, fp16, no pos_embed ----
    torch.manual_seed(seed)
    m = build_umt(cfg, **VBENCH_KWARGS)
    init_weights_(m, seed)
    sd = {k: v.detach().half().contiguous().clone() for k, v in m.state_dict().items() if k != 'pos_embed'}
    # ---- features of each clip (for the head design), through VBench's transform and the model as
    #      VBench will load it ----
    transform = Compose([Resize(256, interpolation='bilinear'), CenterCrop(size=(224, 224)), ClipToTensor(),
                         Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])])
    probe = build_umt(cfg, **VBENCH_KWARGS)
    probe.load_state_dict(sd, strict=False)
    probe.eval()
    feats = []
    with torch.no_grad():
        for p in paths:
            feats.append(probe.forward_features(load_video(p, transform, num_frames=16).unsqueeze(0))[0])
    feats = torch.stack(feats)
    # full size (two clips): clip 0 true at rank 1, clip 1 false below the threshold
    plan = PLAN[:len(paths)]
    w, b = design_head(feats, labels, label_index, seed + 1, cfg['embed_dim'], plan)
    sd['head.weight'] = w.half()
    sd['head.bias'] = b.half()
    os.makedirs(os.path.dirname(model_path), exist_ok=True)
    torch.save(sd, model_path)

    # ---- VBench's own human_action ----
    captured = []
    captured_models.clear()
    captured_feats.clear()
    ha.create_model = patched_create_model(cfg, captured)
    t0 = time.perf_counter()
    with torch.no_grad():
        acc, records = ha.human_action(model_path, paths, 'cpu')
    seconds = time.perf_counter() - t0
    model = captured_models[0]
    assert len(captured) == len(paths)
    flags = [r['video_results'] for r in records]
    tens, margins = {}, {}
    for c, p, logits, feats_c in zip(clip_names, paths, captured, captured_feats):
        tens[f'logits/{c}'] = logits
        tens[f'features/{c}'] = feats_c
        probs = torch.sigmoid(logits)[0]
        top6 = torch.topk(probs, 6).values.tolist()
        margins[c] = {'top6': top6, 'min_dist_to_threshold': min(abs(v - THRESH) for v in top6),
                      'gap_rank5_rank6': top6[4] - top6[5]}
    for c, fl, want in zip(clip_names, flags, EXPECTED_FLAGS):
        assert fl == want, (tag, c, fl, want, margins[c])
    for c in clip_names:
        assert margins[c]['min_dist_to_threshold'] > 2e-3, (c, margins[c])
        assert margins[c]['gap_rank5_rank6'] > 1e-4, (c, margins[c])

    with torch.no_grad():
        for c, p in zip(clip_names, paths):
            x = load_video(p, transform, num_frames=16).unsqueeze(0)
            tens[f'input_patch/{c}'] = x[..., :8, :8].contiguous()
            crop = load_video(p, Compose([Resize(256, interpolation='bilinear'), CenterCrop(size=(224, 224))]),
                              num_frames=16)
            crop = np.ascontiguousarray(np.stack(crop).astype(np.uint8))
            assert crop.shape == (16, 224, 224, 3)
            tens[f'crop_fnv/{c}'] = fnv_tensor(fnv64(crop.tobytes()))
    d = cfg['embed_dim']
    cols = [0, 1, 2, 3, d // 2, d // 2 + 1, d - 2, d - 1]
    tens['pos_embed_cols'] = model.pos_embed.detach()[0][:, cols].contiguous()
    save_file({k: v.contiguous() for k, v in tens.items()}, os.path.join(out, 'tensors.safetensors'))

    scores = {'human_action': [acc, records]}
    with open(os.path.join(out, 'scores.json'), 'w') as f:
        json.dump(scores, f, indent=2)
    inputs = {
        'generator': 'tools/parity/make_fixtures_umt.py' + (' --full-size' if tag == 'full' else ''),
        'clips': {c: {'path': p, 'description': CLIPS[c][0], 'ffmpeg_args': CLIPS[c][1] + BITEXACT,
                      'label_from_name': lab} for c, p, lab in zip(clip_names, paths, labels)},
        'model': {'file': os.path.relpath(model_path, out), 'ctor': dict(cfg, patch_size=16, mlp_ratio=4,
                  qkv_bias=True, norm_eps=1e-6, **VBENCH_KWARGS), 'seed': seed,
                  'layout': 'flat fp16 state dict without pos_embed (pos_embed is computed)'},
        'vbench_call': "vbench.human_action.human_action(umt_path, video_list, 'cpu') with create_model "
                       "building modeling_finetune.VisionTransformer at the sizes above",
        'expected_flags': dict(zip(clip_names, EXPECTED_FLAGS)),
        'decision_margins': margins,
        'pos_embed_cols': cols,
        'vbench_seconds': seconds,
        'versions': {'python': sys.version.split()[0], 'torch': torch.__version__,
                     'torchvision': torchvision.__version__, 'numpy': np.__version__, 'timm': timm.__version__,
                     'decord': decord.__version__, 'opencv': cv2.__version__, 'vbench': '0.1.5',
                     'ffmpeg': subprocess.run(['ffmpeg', '-version'], capture_output=True,
                                              text=True).stdout.split('\n')[0]},
    }
    with open(os.path.join(out, 'inputs.json'), 'w') as f:
        json.dump(inputs, f, indent=2)
    print(json.dumps({'aggregate': acc, 'flags': flags, 'seconds': seconds}, indent=1))


def cv_golden(out):
    import cv2
    from safetensors.torch import save_file
    t, meta = {}, []
    for k, (sw, sh, dw, dh, full) in enumerate(CV_CASES):
        img = gen_image(sw, sh, k + 1)
        r = cv2.resize(img, (dw, dh), interpolation=cv2.INTER_LINEAR)
        key = f'{sw}x{sh}_{dw}x{dh}'
        t[f'fnv/{key}'] = fnv_tensor(fnv64(r.tobytes()))
        t[f'src_fnv/{key}'] = fnv_tensor(fnv64(img.tobytes()))
        if full:
            t[f'out/{key}'] = torch.from_numpy(np.ascontiguousarray(r))
        meta.append({'key': key, 'seed': k + 1, 'src': [sw, sh], 'dst': [dw, dh], 'full_output': full})
    save_file(t, os.path.join(out, 'cv_resize.safetensors'))
    return meta


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--out', default=os.path.join(REPO_ROOT, 'tests', 'fixtures', 'parity_umt'))
    ap.add_argument('--regenerate-clips', action='store_true')
    ap.add_argument('--full-size', metavar='OUT_DIR')
    args = ap.parse_args()
    fixtures = os.path.join(REPO_ROOT, 'tests', 'fixtures', 'parity_umt')
    if args.full_size:
        out = os.path.abspath(args.full_size)
        os.makedirs(out, exist_ok=True)
        make_clips(os.path.join(fixtures, 'clips'), CLIP_NAMES, args.regenerate_clips)
        os.chdir(fixtures)     # video paths read clips/<name>, as in the committed scores
        run(out, FULL, FULL_CLIPS, SEED['full'], 'clips',
            os.path.join(out, 'OpenGVLab', 'VBench_Used_Models', 'l16_ptk710_ftk710_ftk400_f16_res224.pth'),
            'full')
        return
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    make_clips(os.path.join(out, 'clips'), CLIP_NAMES, args.regenerate_clips)
    meta = cv_golden(out)
    os.chdir(out)
    run(out, TINY, CLIP_NAMES, SEED['tiny'], 'clips', os.path.join(out, 'models', 'umt_tiny.pth'), 'tiny')
    with open(os.path.join(out, 'inputs.json')) as f:
        inputs = json.load(f)
    inputs['cv_resize_cases'] = meta
    inputs['cv_resize_generator'] = gen_image.__doc__
    with open(os.path.join(out, 'inputs.json'), 'w') as f:
        json.dump(inputs, f, indent=2)


if __name__ == '__main__':
    main()
