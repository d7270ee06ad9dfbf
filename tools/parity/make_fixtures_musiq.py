#!/usr/bin/env python3
"""Parity fixtures for imaging_quality / MUSIQ (tests/fixtures/parity_musiq/) from VBench 0.1.5's own code
and pyiqa 0.1.13's own MUSIQ.

What it does:
  1. makes two extra clips with the ffmpeg CLI (parity_musiq/clips/): clip_wide.mp4, 640x96, 3 frames
     (longer side > 512, so VBench's 'longer' preprocessing resizes it to 76x512, and the original-resolution
     patch grid gets row padding), and clip_tiny.mp4, 20x20, 2 frames (smaller than one 32x32 patch);
     the four clips of tests/fixtures/parity/clips are reused;
  2. builds pyiqa's MUSIQ with a shrunken transformer (hidden 16, mlp 32, 2 heads, 2 layers; the ResNet root,
     patch size 32, scales [224, 384] + original, hash grid 10 and 3 scale embeddings are the real ones) and
     fixed-seed random weights, saves its state dict as a real-layout .pth (models/musiq_tiny.pth) and
     reloads it through pyiqa's own `MUSIQ(pretrained_model_path=...)` (strict load_state_dict);
  3. runs vbench.imaging_quality.technical_quality (mode 'longer', VBench's default) on the clips (scores.json);
  4. stores intermediate tensors of frame 0 of each clip (VBench's preprocessed frame, the multi-scale
     patch sequence (token metadata in full, values subsampled), the embedding output) and the CLS features
     and scores of every frame (tensors.safetensors).

pyiqa: only pyiqa/archs/musiq_arch.py and the modules it imports are used, from an unpacked
`pip download --no-deps pyiqa==0.1.13` wheel (--pyiqa-src). pyiqa's package __init__ files (which import
every metric and their dependencies) are replaced by empty packages; `pyiqa.matlab_utils` gets the two names
musiq_arch imports from it (ExactPadding2d, exact_padding_2d) from pyiqa's own matlab_utils/padding.py.
No maths is stubbed. VBench's `from pyiqa.archs.musiq_arch import MUSIQ` then resolves to the real class.

Usage:
  /tmp/refenv/bin/pip download --no-deps pyiqa==0.1.13 -d fixtures-work/
  (cd fixtures-work && unzip -q -o pyiqa-0.1.13-py3-none-any.whl -d pyiqa_src)
  PYTHONPATH=fixtures-work/vbench_wheel /tmp/refenv/bin/python tools/parity/make_fixtures_musiq.py \
      --pyiqa-src fixtures-work/pyiqa_src      # [--out tests/fixtures/parity_musiq] [--regenerate-clips]
  ... --full-size OUT_DIR
      instead: the real-size MUSIQ (VBench's `MUSIQ(pretrained_model_path=...)`, 14 layers, 384 wide) with
      fixed-seed random weights at OUT_DIR/chaofengc/IQA-PyTorch-Weights/musiq_spaq_ckpt-358bb6af.pth (a
      --weights-dir layout), run through vbench.imaging_quality.compute_imaging_quality on the same clips;
      writes OUT_DIR/scores_musiq.json and OUT_DIR/tensors_musiq.safetensors (not committed, ~150 MB).
"""
import argparse
import importlib
import json
import math
import os
import subprocess
import sys
import time
import types

import numpy as np
import torch

torch.set_num_threads(2)
torch.use_deterministic_algorithms(True)

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
FIXTURES = os.path.join(REPO_ROOT, 'tests', 'fixtures')

FF = ['ffmpeg', '-hide_banner', '-loglevel', 'error', '-y']
BITEXACT = ['-map_metadata', '-1', '-fflags', '+bitexact', '-flags:v', '+bitexact', '-threads', '1']
CLIP_SPECS = {
    'clip_wide.mp4': ('testsrc2 640x96 with a hue sweep, 8 fps, 3 frames, yuv420p, libx264, untagged', [
        '-f', 'lavfi', '-i', 'testsrc2=size=640x96:rate=8',
        '-vf', 'hue=h=t*90', '-frames:v', '3', '-pix_fmt', 'yuv420p', '-c:v', 'libx264', '-preset', 'medium',
        '-crf', '20', '-x264-params', 'threads=1']),
    'clip_tiny.mp4': ('testsrc2 20x20, 8 fps, 2 frames, yuv420p, libx264, untagged (decord 0.6.0 fails on 16x16 and 24x18: DECORDArrayCopyFromTo size mismatch)', [
        '-f', 'lavfi', '-i', 'testsrc2=size=20x20:rate=8',
        '-frames:v', '2', '-pix_fmt', 'yuv420p', '-c:v', 'libx264', '-preset', 'medium', '-crf', '20',
        '-x264-params', 'threads=1']),
}
# video paths as VBench records them (relative to tests/fixtures, the working directory of the run)
CLIPS = ['parity/clips/clip_a.mp4', 'parity/clips/clip_b.mp4', 'parity/clips/clip_c.mp4',
         'parity/clips/clip_d.mp4', 'parity_musiq/clips/clip_wide.mp4', 'parity_musiq/clips/clip_tiny.mp4']

TINY = dict(hidden_size=16, mlp_dim=32, num_heads=2, num_layers=2)
SEED_TINY = 4242
SEED_FULL = 5384
HEAD_BIAS = 50.0       # puts the random head's output on a 0-100-like scale
HEAD_STD = 10.0        # head weight std times sqrt(hidden): scores spread by about ±10
PATCH_STRIDE = 61      # subsampling step of the stored patch values (the full sequence is ~2.4 MB per frame)
FULL_DIR = 'chaofengc/IQA-PyTorch-Weights'
FULL_FILE = 'musiq_spaq_ckpt-358bb6af.pth'


def install_pyiqa_shim(src):
    """Empty packages for pyiqa's __init__ files; the real submodules load from `src`."""
    root = os.path.join(os.path.abspath(src), 'pyiqa')
    if not os.path.exists(os.path.join(root, 'archs', 'musiq_arch.py')):
        raise SystemExit(f'{root}/archs/musiq_arch.py not found (unpack pyiqa 0.1.13 there)')
    for name, sub in [('pyiqa', ''), ('pyiqa.archs', 'archs'), ('pyiqa.utils', 'utils'),
                      ('pyiqa.data', 'data'), ('pyiqa.matlab_utils', 'matlab_utils')]:
        m = types.ModuleType(name)
        m.__path__ = [os.path.join(root, sub)] if sub else [root]
        sys.modules[name] = m
    padding = importlib.import_module('pyiqa.matlab_utils.padding')
    mu = sys.modules['pyiqa.matlab_utils']
    mu.ExactPadding2d = padding.ExactPadding2d
    mu.exact_padding_2d = padding.exact_padding_2d
    return importlib.import_module('pyiqa.archs.musiq_arch')


def make_clips(clip_dir, regenerate):
    os.makedirs(clip_dir, exist_ok=True)
    for name, (_, args) in CLIP_SPECS.items():
        path = os.path.join(clip_dir, name)
        if os.path.exists(path) and not regenerate:
            continue
        subprocess.run(FF + args + BITEXACT + [path], check=True)


def init_random_(model, seed):
    """Deterministic init: conv/linear weights N(0, 1/fan_in) (x1.7), biases N(0, 0.05); GroupNorm/LayerNorm
    weight 1 + N(0, 0.2), bias N(0, 0.1); position/scale embeddings and CLS N(0, 0.5); head N(0, HEAD_STD^2 /
    hidden) with bias HEAD_BIAS."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            leaf = name.split('.')[-1]
            is_norm = any(k in name for k in ('gn', 'norm'))
            if name.startswith('head.'):
                if leaf == 'weight':
                    p.copy_(HEAD_STD * torch.randn(p.shape, generator=g) / math.sqrt(p.shape[1]))
                else:
                    p.fill_(HEAD_BIAS)
            elif is_norm and p.dim() == 1:
                if leaf == 'weight':
                    p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
                else:
                    p.copy_(0.1 * torch.randn(p.shape, generator=g))
            elif leaf in ('position_emb', 'scale_emb', 'cls'):
                p.copy_(0.5 * torch.randn(p.shape, generator=g))
            elif leaf == 'bias':
                p.copy_(0.05 * torch.randn(p.shape, generator=g))
            elif p.dim() >= 2:
                p.copy_(1.7 * torch.randn(p.shape, generator=g) / math.sqrt(p[0].numel()))
            else:
                raise ValueError(f'unhandled parameter {name} {tuple(p.shape)}')


def build_and_save(musiq_arch, path, seed, **cfg):
    """A randomly initialised MUSIQ saved as a plain state dict, then reloaded through pyiqa's own loader."""
    torch.manual_seed(seed)
    m = musiq_arch.MUSIQ(pretrained=False, **cfg)
    init_random_(m, seed)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    torch.save(m.state_dict(), path)
    # as VBench builds it: MUSIQ(pretrained_model_path=path) (+ the shrunken sizes), then training = False
    model = musiq_arch.MUSIQ(pretrained_model_path=path, **cfg)
    model.training = False
    return model


def intermediates(model, musiq_arch, clips, full_frames):
    """Frame-0 inputs / patches / embeddings and every frame's CLS feature and score, with VBench's
    load_video and transform."""
    from vbench.utils import load_video
    from vbench.imaging_quality import transform
    from pyiqa.data.multiscale_trans_util import get_multiscale_patches
    tens, per_video = {}, {}
    captured = {}
    h1 = model.embedding.register_forward_hook(lambda m, i, o: captured.__setitem__('emb', o.detach()))
    h2 = model.transformer_encoder.register_forward_hook(
        lambda m, i, o: captured.__setitem__('cls', o[:, 0].detach()))
    with torch.no_grad():
        for c in clips:
            key = os.path.basename(c)
            images = transform(load_video(c), 'longer')
            feats, scores = [], []
            for i in range(len(images)):
                frame = images[i].unsqueeze(0)
                s = model(frame)
                scores.append(float(s))
                feats.append(captured['cls'][0])
                if i == 0:
                    tens[f'vbench_input/{key}'] = frame.clone()
                    seq = get_multiscale_patches((frame - 0.5) * 2, **model.data_preprocess_opts)[0]
                    tens[f'token_hash/{key}'] = seq[:, -3].to(torch.int64)
                    tens[f'token_scale/{key}'] = seq[:, -2].to(torch.int64)
                    tens[f'token_mask/{key}'] = seq[:, -1].to(torch.int64)
                    vals = seq[:, :-3].contiguous()
                    tens[f'token_sum/{key}'] = vals.double().sum(dim=1).float()
                    if full_frames:
                        tens[f'patches/{key}'] = vals.clone()
                    else:
                        tens[f'patches_sub/{key}'] = vals.flatten()[::PATCH_STRIDE].clone()
                    tens[f'embedding/{key}'] = captured['emb'][0].clone()
            tens[f'features/{key}'] = torch.stack(feats)
            tens[f'scores/{key}'] = torch.tensor(scores, dtype=torch.float64)
            acc = 0.
            for s in scores:
                acc += s
            per_video[c] = acc / len(scores)
    h1.remove()
    h2.remove()
    return {k: v.detach().contiguous().clone() for k, v in tens.items()}, per_video


def to_json(o):
    if isinstance(o, dict):
        return {k: to_json(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [to_json(v) for v in o]
    if isinstance(o, (float, np.floating)):
        return None if math.isnan(o) else float(o)
    return o


def versions():
    import decord
    import torchvision
    return {'python': sys.version.split()[0], 'torch': torch.__version__, 'torchvision': torchvision.__version__,
            'numpy': np.__version__, 'decord': decord.__version__, 'pyiqa': '0.1.13 (musiq_arch only)',
            'vbench': '0.1.5',
            'ffmpeg': subprocess.run(['ffmpeg', '-version'], capture_output=True, text=True).stdout.split('\n')[0]}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--pyiqa-src', required=True, help='directory holding the unpacked pyiqa/ package')
    ap.add_argument('--out', default=os.path.join(FIXTURES, 'parity_musiq'))
    ap.add_argument('--regenerate-clips', action='store_true')
    ap.add_argument('--full-size', metavar='OUT_DIR')
    args = ap.parse_args()
    from safetensors.torch import save_file

    musiq_arch = install_pyiqa_shim(args.pyiqa_src)
    make_clips(os.path.join(FIXTURES, 'parity_musiq', 'clips'), args.regenerate_clips)
    from vbench.imaging_quality import technical_quality, compute_imaging_quality

    if args.full_size:
        out = os.path.abspath(args.full_size)
        path = os.path.join(out, FULL_DIR, FULL_FILE)
        os.chdir(FIXTURES)
        model = build_and_save(musiq_arch, path, SEED_FULL)           # VBench's constructor: all defaults
        info = [{'prompt_en': 'parity', 'dimension': ['imaging_quality'], 'video_list': CLIPS}]
        info_path = os.path.join(out, 'full_info_musiq.json')
        with open(info_path, 'w') as f:
            json.dump(info, f)
        t0 = time.perf_counter()
        with torch.no_grad():
            scores = compute_imaging_quality(info_path, 'cpu', {'model_path': path},
                                             imaging_quality_preprocessing_mode='longer')
        seconds = time.perf_counter() - t0
        tens, per_video = intermediates(model, musiq_arch, CLIPS, full_frames=True)
        for rec in scores[1]:
            assert abs(per_video[rec['video_path']] - rec['video_results']) < 1e-9
        save_file(tens, os.path.join(out, 'tensors_musiq.safetensors'))
        with open(os.path.join(out, 'scores_musiq.json'), 'w') as f:
            json.dump({'imaging_quality': to_json(list(scores)), 'seconds': seconds, 'seed': SEED_FULL,
                       'versions': versions()}, f, indent=2)
        print(json.dumps(to_json(list(scores)), indent=1), f'{seconds:.1f} s')
        return

    out = os.path.abspath(args.out)
    os.makedirs(os.path.join(out, 'models'), exist_ok=True)
    os.chdir(FIXTURES)
    pth = os.path.join(out, 'models', 'musiq_tiny.pth')
    model = build_and_save(musiq_arch, pth, SEED_TINY, **TINY)
    with torch.no_grad():
        scores = technical_quality(model, CLIPS, 'cpu', imaging_quality_preprocessing_mode='longer')
    tens, per_video = intermediates(model, musiq_arch, CLIPS, full_frames=False)
    for rec in scores[1]:
        assert abs(per_video[rec['video_path']] - rec['video_results']) < 1e-9, rec
    save_file(tens, os.path.join(out, 'tensors.safetensors'))
    with open(os.path.join(out, 'scores.json'), 'w') as f:
        json.dump({'imaging_quality': to_json(list(scores))}, f, indent=2)
    inputs = {
        'generator': 'tools/parity/make_fixtures_musiq.py',
        'clips': CLIPS,
        'new_clips': {k: {'description': v[0], 'ffmpeg_args': v[1] + BITEXACT} for k, v in CLIP_SPECS.items()},
        'model': {'file': 'models/musiq_tiny.pth', 'ctor': dict(TINY, pretrained_model_path='models/musiq_tiny.pth'),
                  'seed': SEED_TINY, 'head_bias': HEAD_BIAS, 'head_std': HEAD_STD},
        'vbench_call': "vbench.imaging_quality.technical_quality(model, clips, 'cpu', "
                       "imaging_quality_preprocessing_mode='longer')",
        'tensors': {
            'note': ('vbench_input, token_*, patches_sub and embedding are frame 0 only; features and scores '
                     'have one row per frame'),
            'patch_stride': PATCH_STRIDE,
            'patches_sub': 'the (seq_len, 3072) patch values of frame 0, flattened, every patch_stride-th value',
            'embedding': 'output of model.embedding for every token of frame 0 (padded tokens included)',
            'features': 'transformer_encoder output, token 0 (CLS after encoder_norm), every frame',
        },
        'versions': versions(),
    }
    with open(os.path.join(out, 'inputs.json'), 'w') as f:
        json.dump(inputs, f, indent=2)
    print(json.dumps(to_json(list(scores)), indent=1))


if __name__ == '__main__':
    main()
