#!/usr/bin/env python3
"""Parity fixtures for motion_smoothness (AMT-S) from VBench 0.1.5's own code.

AMT-S's widths are written into `networks/AMT-S.py` (SmallEncoder(84), update blocks 76/20/64/68 with
cdims 44/32/20), so no smaller structurally identical network exists: the committed fixtures use the
**real AMT-S architecture** on small clips. Its 3.0 M parameters (12 MB) are too big to commit, so the
weights are a counter-based pseudo-random function of (key name, index) that the Rust test regenerates
bit for bit (`amt_weight` below and `vbench_tests::amt::amt_weight`):

    seed  = FNV-1a-64(key name)
    z_i   = splitmix64_mix(seed + (i + 1) * 0x9E3779B97F4A7C15)          (uint64, wrapping)
    u_i   = (z_i >> 40) - 2**23                                           (int in [-2^23, 2^23))
    w_i   = float32(u_i) * float32(bound / 2**23)                         (one f32 rounding)
    bound = gain * f32(1 / sqrt(fan_in))  for conv weights (fan_in = shape[1]*kh*kw as PyTorch),
            0.05 for biases, PReLU slopes 0.25 + 0.05*u/2^23 (computed as 0.25 + f32 product).

What it writes (`tests/fixtures/parity_amt/`):
  clips/clip_{e,f}.mp4  e: testsrc2 128x128, 7 frames (odd T); f: 160x136 moving box on testsrc, 6 frames
                        (even T, last frame unused; padded to 160x144, top 4 / bottom 4)
  keys.json             the AMT-S state_dict (name, shape) list in order (= the checkpoint layout)
  tensors.safetensors   clip_e pair 0: imgt_pred (float, padded), flow0/flow1 at the four levels;
                        every clip: the uint8 interpolated frames VBench compares (unpadded, RGB)
  scores.json           {"motion_smoothness": [aggregate, [records]]} from vbench.motion_smoothness
  inputs.json           clip descriptions, ffmpeg args, frame checksums (cv2), versions
  amt_nested.pth        {'state_dict': comb_block.* tensors, 'epoch': 7, 'optimizer': {...}, 'note': str}:
                        a real-layout nested checkpoint with non-tensor objects beside the state dict

Run (see README.md for the environment; omegaconf is needed by vbench.motion_smoothness):
  PYTHONPATH=fixtures-work/vbench_wheel /tmp/refenv/bin/python tools/parity/make_fixtures_amt.py
  ... make_fixtures_amt.py --full-size fixtures-work/amt_full
      torch-default random init saved as a real `amt-s.pth` ({'state_dict': ...} plus extra objects) in a
      --weights-dir layout (lalala125/AMT/amt-s.pth) and a 512x320 clip; not committed.
"""
import argparse
import hashlib
import json
import math
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

torch.set_num_threads(2)
torch.use_deterministic_algorithms(True)

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
FF = ['ffmpeg', '-hide_banner', '-loglevel', 'error', '-y']
BITEXACT = ['-map_metadata', '-1', '-fflags', '+bitexact', '-flags:v', '+bitexact', '-threads', '1']
X264 = ['-pix_fmt', 'yuv420p', '-c:v', 'libx264', '-preset', 'medium', '-crf', '20', '-x264-params', 'threads=1']
CLIP_SPECS = {
    'clip_e.mp4': ('testsrc2 128x128, 8 fps, 7 frames, yuv420p, libx264, untagged',
                   ['-f', 'lavfi', '-i', 'testsrc2=size=128x128:rate=8', '-frames:v', '7'] + X264),
    'clip_f.mp4': ('testsrc 160x136 with a moving 40x30 red box, 6 fps, 6 frames, yuv420p, libx264, untagged', [
        '-f', 'lavfi', '-i', 'testsrc=size=160x136:rate=6',
        '-f', 'lavfi', '-i', 'color=c=red:size=40x30:rate=6',
        '-filter_complex', '[0:v][1:v]overlay=x=10+t*40:y=20+t*25:shortest=1[v]',
        '-map', '[v]', '-frames:v', '6'] + X264),
}
FULL_CLIP = ('clip_full.mp4', 'testsrc2 512x320 with a hue sweep, 8 fps, 5 frames',
             ['-f', 'lavfi', '-i', 'testsrc2=size=512x320:rate=8', '-vf', 'hue=h=t*50',
              '-frames:v', '5'] + X264)

MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def fnv1a64(s):
    h = 0xcbf29ce484222325
    for b in s.encode():
        h ^= b
        h = (h * 0x100000001b3) & MASK64
    return h


def amt_weight(name, shape, gain):
    n = int(np.prod(shape)) if len(shape) else 1
    seed = np.uint64(fnv1a64(name))
    with np.errstate(over='ignore'):
        z = seed + (np.arange(1, n + 1, dtype=np.uint64) * np.uint64(GOLDEN))
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xbf58476d1ce4e5b9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94d049bb133111eb)
        z = z ^ (z >> np.uint64(31))
    u = ((z >> np.uint64(40)).astype(np.int64) - (1 << 23)).astype(np.float32)
    if name.endswith('bias'):
        bound = np.float32(0.05)
    elif len(shape) == 1:  # PReLU slope
        return (np.float32(0.25) + u * (np.float32(0.05) / np.float32(1 << 23))).reshape(shape)
    else:
        fan_in = shape[1] * shape[2] * shape[3]
        bound = np.float32(gain) * np.float32(1.0 / math.sqrt(fan_in))
    return (u * (bound / np.float32(1 << 23))).reshape(shape)


# conv weight gain: 1.5 gives flows of a few pixels (mean |flow| ≈ 4 px, max ≈ 12 px at full resolution),
# so warping and the correlation lookups are exercised away from the identity and the borders
GAIN = 1.5


def make_clip(clip_dir, name, args):
    path = os.path.join(clip_dir, name)
    if not os.path.exists(path):
        subprocess.run(FF + args + BITEXACT + [path], check=True)
    return path


def decode_cv2(path):
    import cv2
    frames = []
    cap = cv2.VideoCapture(path)
    while cap.isOpened():
        ok, f = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(f, cv2.COLOR_BGR2RGB))
    cap.release()
    return frames


def amt_cfg():
    import vbench
    return os.path.join(os.path.dirname(vbench.__file__), 'third_party/amt/cfgs/AMT-S.yaml')


def build_vbench(ckpt_path):
    from vbench.motion_smoothness import MotionSmoothness
    cfg = amt_cfg()
    return MotionSmoothness(cfg, ckpt_path, 'cpu')


def run_clips(motion, clip_paths, display):
    """VBench's per-video values and aggregate, plus the frames/predictions it compares."""
    from vbench.motion_smoothness import motion_smoothness
    preds = {}

    def hook(_m, _inp, out):
        preds.setdefault('cur', []).append(out['imgt_pred'].detach().clone())
    h = motion.model.register_forward_hook(hook)
    agg, records = None, []
    per_clip = {}
    for p in clip_paths:
        preds['cur'] = []
        a, recs = motion_smoothness(motion, [p])
        records += [{'video_path': display[p], 'video_results': r['video_results']} for r in recs]
        per_clip[p] = preds['cur']
    h.remove()
    vals = [r['video_results'] for r in records]
    agg = float(np.mean(vals))
    return agg, records, per_clip


def intermediates(motion, path):
    """Flows and imgt_pred of the first pair, with VBench's own preprocessing."""
    from vbench.third_party.amt.utils.utils import img2tensor, InputPadder
    frames = decode_cv2(path)
    inputs = [img2tensor(f) for f in frames[0::2]]
    padder = InputPadder(inputs[0].shape, 16)
    inputs = padder.pad(*inputs)
    with torch.no_grad():
        out = motion.model(inputs[0], inputs[1], motion.embt, scale_factor=1.0, eval=False)
    t = {'imgt_pred': out['imgt_pred']}
    for lvl in range(4):
        f0, f1 = out['flow0_pred'][lvl], out['flow1_pred'][lvl]
        if lvl == 0:  # (b, n, 2, h, w) → (b, 2n, h, w) as the network holds it
            f0 = f0.reshape(f0.shape[0], -1, *f0.shape[-2:])
            f1 = f1.reshape(f1.shape[0], -1, *f1.shape[-2:])
        t[f'flow0_{lvl + 1}'] = f0
        t[f'flow1_{lvl + 1}'] = f1
    return t


def uint8_predictions(preds, path):
    from vbench.third_party.amt.utils.utils import img2tensor, InputPadder, tensor2img
    frames = decode_cv2(path)
    padder = InputPadder(img2tensor(frames[0]).shape, 16)
    outs = padder.unpad(*preds)
    if not isinstance(outs, list):
        outs = [outs]
    return np.stack([tensor2img(o) for o in outs])


def versions():
    import cv2
    return {'python': sys.version.split()[0], 'torch': torch.__version__, 'numpy': np.__version__,
            'opencv': cv2.__version__,
            'ffmpeg': subprocess.run(['ffmpeg', '-version'], capture_output=True, text=True).stdout.split('\n')[0]}


def committed(out):
    from safetensors.torch import save_file
    from vbench.third_party.amt.utils.build_utils import build_from_cfg
    from omegaconf import OmegaConf
    clip_dir = os.path.join(out, 'clips')
    os.makedirs(clip_dir, exist_ok=True)
    paths = [make_clip(clip_dir, n, a) for n, (_, a) in CLIP_SPECS.items()]

    cfg = amt_cfg()
    net = build_from_cfg(OmegaConf.load(cfg).network)
    keys = [(k, list(v.shape)) for k, v in net.state_dict().items()]
    sd = {k: torch.from_numpy(amt_weight(k, s, GAIN).copy()) for k, s in keys}
    with open(os.path.join(out, 'keys.json'), 'w') as f:
        json.dump({'gain': GAIN, 'keys': keys}, f, indent=0)

    # real-layout nested checkpoint (small: comb_block only) with non-tensor objects beside it
    nested = {'state_dict': {k: v for k, v in sd.items() if k.startswith('comb_block.')}, 'epoch': 7,
              'optimizer': {'lr': 2e-4, 'betas': (0.9, 0.999), 'state': {}}, 'note': 'AMT-S fixture'}
    torch.save(nested, os.path.join(out, 'amt_nested.pth'))

    with tempfile.TemporaryDirectory() as td:
        ckpt = os.path.join(td, 'amt-s.pth')
        torch.save({'state_dict': sd, 'epoch': 300}, ckpt)
        motion = build_vbench(ckpt)
        display = {p: 'clips/' + os.path.basename(p) for p in paths}
        agg, records, per_clip = run_clips(motion, paths, display)
        tensors = {}
        for k, v in intermediates(motion, paths[0]).items():
            tensors[f'clip_e.mp4/{k}'] = v.contiguous()
        for p in paths:
            name = os.path.basename(p)
            tensors[f'{name}/pred_u8'] = torch.from_numpy(uint8_predictions(per_clip[p], p)).contiguous()
        save_file(tensors, os.path.join(out, 'tensors.safetensors'))

    with open(os.path.join(out, 'scores.json'), 'w') as f:
        json.dump({'motion_smoothness': [agg, records]}, f, indent=1)
    info = {'clips': {}, 'versions': versions(), 'weights': 'see module docstring', 'gain': GAIN}
    for n, (desc, args) in CLIP_SPECS.items():
        fr = decode_cv2(os.path.join(clip_dir, n))
        info['clips'][n] = {'description': desc, 'ffmpeg': args, 'frames': len(fr),
                            'size_hw': list(fr[0].shape[:2]),
                            'rgb_sha256': [hashlib.sha256(x.tobytes()).hexdigest() for x in fr]}
    with open(os.path.join(out, 'inputs.json'), 'w') as f:
        json.dump(info, f, indent=1)
    fl = tensors['clip_e.mp4/flow0_1']
    print('flow0_1 abs max', float(fl.abs().max()), 'mean', float(fl.abs().mean()))
    print('scores', agg, [r['video_results'] for r in records])


def full_size(out):
    """torch's default init (seed 0) saved as a real amt-s.pth; a 512x320 clip. Not committed."""
    from vbench.third_party.amt.utils.build_utils import build_from_cfg
    from omegaconf import OmegaConf
    import time
    torch.manual_seed(0)
    cfg = amt_cfg()
    net = build_from_cfg(OmegaConf.load(cfg).network)
    wdir = os.path.join(out, 'lalala125/AMT')
    os.makedirs(wdir, exist_ok=True)
    ckpt = os.path.join(wdir, 'amt-s.pth')
    torch.save({'state_dict': net.state_dict(), 'epoch': 300, 'note': 'random init, seed 0'}, ckpt)
    name, desc, args = FULL_CLIP
    path = make_clip(out, name, args)
    motion = build_vbench(ckpt)
    t0 = time.time()
    agg, records, _ = run_clips(motion, [path], {path: name})
    dt = time.time() - t0
    with open(os.path.join(out, 'scores.json'), 'w') as f:
        json.dump({'motion_smoothness': [agg, records]}, f, indent=1)
    with open(os.path.join(out, 'inputs.json'), 'w') as f:
        json.dump({'clip': desc, 'ffmpeg': args, 'vbench_seconds': dt, 'versions': versions()}, f, indent=1)
    print('full-size', agg, records, f'{dt:.1f}s')


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--out', default=os.path.join(REPO_ROOT, 'tests/fixtures/parity_amt'))
    ap.add_argument('--full-size', metavar='OUT_DIR')
    a = ap.parse_args()
    if a.full_size:
        os.makedirs(a.full_size, exist_ok=True)
        full_size(a.full_size)
    else:
        os.makedirs(a.out, exist_ok=True)
        committed(a.out)


if __name__ == '__main__':
    main()
