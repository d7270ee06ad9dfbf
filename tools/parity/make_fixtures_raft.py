#!/usr/bin/env python3
"""Parity fixtures for RAFT, dynamic_degree and the static filter (tests/fixtures/parity_raft/).

Everything is computed by VBench 0.1.5's own code on CPU in fp32 (vbench.dynamic_degree.DynamicDegree,
vbench.third_party.RAFT, vbench.cli.static_filter), with the real RAFT architecture (VBench's code
hard-codes every width, so there is no tiny config) and fixed-seed random weights:

  1. grid_sample.safetensors: torch.nn.functional.grid_sample (bilinear, zeros/border, both
     align_corners) on random inputs with grids reaching beyond the borders and exact corner hits;
  2. raft_random.pth (and raft_random_still.pth, smaller flow-head weights, for the static filter): the random RAFT state dict as `torch.save` of a DataParallel model (every key
     `module.`-prefixed, BatchNorm running stats and int64 num_batches_tracked included), i.e. the layout
     of raft-things.pth. To keep it small the weights repeat with a prime period (see periodic_init_) and
     the zip entries are re-stored deflated (torch.load reads that); it is loaded by VBench's own
     DynamicDegree.load_model (strict) and StaticFilter.load_model below;
  3. clips/raft_*.mp4: small H.264 clips (ffmpeg lavfi, bit-exact flags) with fps chosen so that the
     fps subsampling matters, sizes not divisible by 8, one clip whose padded height is < 128 (level-3
     pyramid of height 1: NaN flow in PyTorch) and a one-frame clip;
  4. raft.safetensors: per clip the kept frames' first pair (DynamicDegree.infer's own padder and
     model call): padded image1 (uint8), flow_low, and flow_up for FLOW_UP_CLIPS;
  5. results.json: per clip interval, kept frame count, thres, count_num, every pair score, the boolean,
     VBench's dynamic_degree() aggregate; static filter: StaticFilter.infer scores and booleans, and the
     JSON written by vbench.cli.static_filter.static_filter(--filter_scope all) on a folder of copies.

Usage:
  PYTHONPATH=fixtures-work/vbench_wheel /tmp/refenv/bin/python tools/parity/make_fixtures_raft.py
      [--out tests/fixtures/parity_raft] [--regenerate-clips]
  ... make_fixtures_raft.py --full-size OUT_DIR
      plain (non-periodic) random weights, written as OUT_DIR/princeton-vl/RAFT/raft-things.pth,
      run on larger clips (not committed; see tests/tests/parity_raft.rs, VBENCH_RAFT_FULLSIZE).
"""
import argparse
import io
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

import numpy as np
import torch
import torch.nn.functional as F

torch.set_num_threads(2)
torch.use_deterministic_algorithms(True)

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
FF = ['ffmpeg', '-hide_banner', '-loglevel', 'error', '-y']
BITEXACT = ['-map_metadata', '-1', '-fflags', '+bitexact', '-flags:v', '+bitexact', '-threads', '1']
X264 = ['-pix_fmt', 'yuv420p', '-c:v', 'libx264', '-preset', 'medium', '-crf', '20', '-x264-params', 'threads=1']

# name: (description, lavfi source, frames)
CLIPS = {
    'raft_a.mp4': ('testsrc2 160x128 16 fps, 9 frames: interval 2, N=5', 'testsrc2=size=160x128:rate=16', 9),
    'raft_b.mp4': ('testsrc2 196x132 20 fps (fps/8 = 2.5, tie to even: interval 2), 7 frames, pad (2,2,2,2)',
                   'testsrc2=size=196x132:rate=20', 7),
    'raft_c.mp4': ('testsrc 136x130 24 fps, 7 frames: interval 3, N=3, pad (0,0,3,3)',
                   'testsrc=size=136x130:rate=24', 7),
    'raft_d.mp4': ('mandelbrot 128x72 8 fps, 3 frames: padded 128x72, level-3 pyramid height 1 (NaN flow)',
                   'mandelbrot=size=128x72:rate=8', 3),
    'raft_e.mp4': ('smptebars 128x128 8 fps, 1 frame: N=1', 'smptebars=size=128x128:rate=8', 1),
    'raft_f.mp4': ('smptehdbars 128x128 8 fps, 4 identical frames (for the static filter)',
                   'smptehdbars=size=128x128:rate=8', 4),
}
DD_CLIPS = list(CLIPS)
FLOW_UP_CLIPS = ['raft_a.mp4', 'raft_b.mp4', 'raft_c.mp4']
STATIC_CLIPS = ['raft_c.mp4', 'raft_f.mp4']
PERIOD = 1021
FLOW_HEAD_GAIN = 0.03
# second static-filter run: a zero flow head (zero flow, every video static), to exercise the
# non-empty output (JSON lists, copied files); the numbers are checked by the first run
STILL_FLOW_HEAD_GAIN = 0.0
STILL_CLIPS = ['raft_f.mp4']


def make_clips(clip_dir, regenerate, specs=CLIPS):
    os.makedirs(clip_dir, exist_ok=True)
    for name, (_, src, n) in specs.items():
        path = os.path.join(clip_dir, name)
        if os.path.exists(path) and not regenerate:
            continue
        subprocess.run(FF + ['-f', 'lavfi', '-i', src] + ['-frames:v', str(n)] + X264 + BITEXACT + [path],
                       check=True)


# ---------------------------------------------------------------------------------------------
# grid_sample cases
# ---------------------------------------------------------------------------------------------
def grid_sample_cases():
    g = torch.Generator().manual_seed(7)
    t = {}
    shapes = [((2, 3, 5, 7), (2, 4, 6)), ((1, 1, 1, 9), (1, 3, 5)), ((1, 4, 8, 8), (1, 8, 8))]
    for case, (ishape, (n, ho, wo)) in enumerate(shapes):
        x = torch.randn(ishape, generator=g)
        grid = (torch.rand((n, ho, wo, 2), generator=g) * 2.6 - 1.3)
        # exact corners, borders and integer pixel positions
        grid[0, 0, 0] = torch.tensor([-1.0, -1.0])
        grid[0, 0, 1] = torch.tensor([1.0, 1.0])
        grid[0, 0, 2] = torch.tensor([1.0, -1.0])
        if ishape[-1] > 1:
            grid[0, 0, 3] = torch.tensor([2 * 2 / (ishape[-1] - 1) - 1, 0.0])
        t[f'input/{case}'] = x
        t[f'grid/{case}'] = grid
        for mode in ('zeros', 'border'):
            for ac in (True, False):
                out = F.grid_sample(x, grid, mode='bilinear', padding_mode=mode, align_corners=ac)
                t[f'out_{mode}_{"ac" if ac else "nac"}/{case}'] = out
    return t


# ---------------------------------------------------------------------------------------------
# RAFT random weights
# ---------------------------------------------------------------------------------------------
def periodic_init_(model, seed, periodic=True, gain=1.0, flow_gain=FLOW_HEAD_GAIN):
    """Fixed-seed random weights. Conv weights ~ N(0, gain²/fan_in) (fan_in = in·kh·kw), biases
    N(0, 0.05²), BatchNorm weight 1 + N(0, 0.1²), bias N(0, 0.1²), running_mean N(0, 0.1²),
    running_var U(0.5, 1.5). With `periodic`, each tensor's values repeat with period PERIOD (a
    prime, coprime with every row length) starting at a random phase, so the deflated .pth is small;
    rows/channels still differ."""
    g = torch.Generator().manual_seed(seed)
    base = torch.randn(PERIOD, generator=g)

    def draw(shape):
        n = int(np.prod(shape)) if len(shape) else 1
        if not periodic:
            return torch.randn(shape, generator=g)
        phase = int(torch.randint(0, PERIOD, (1,), generator=g))
        idx = (torch.arange(n) + phase) % PERIOD
        sign = 1.0 if torch.rand(1, generator=g).item() < 0.5 else -1.0
        return (sign * base[idx]).reshape(shape)

    sd = model.state_dict()
    with torch.no_grad():
        for name in sorted(sd):
            p = sd[name]
            leaf = name.split('.')[-1]
            if leaf == 'num_batches_tracked':
                p.fill_(int(torch.randint(100, 1000, (1,), generator=g)))
                continue
            is_bn = name.startswith('cnet.') and p.dim() == 1 and 'norm' in name or '.downsample.1.' in name
            if is_bn:
                if leaf == 'weight':
                    p.copy_(1.0 + 0.1 * draw(p.shape))
                elif leaf == 'bias':
                    p.copy_(0.1 * draw(p.shape))
                elif leaf == 'running_mean':
                    p.copy_(0.1 * draw(p.shape))
                elif leaf == 'running_var':
                    p.copy_(0.5 + torch.rand(p.shape, generator=g))
                else:
                    raise ValueError(name)
            elif leaf == 'bias':
                p.copy_(0.05 * draw(p.shape))
            elif leaf == 'weight' and p.dim() == 4:
                p.copy_(gain * draw(p.shape) / math.sqrt(p[0].numel()))
            else:
                raise ValueError(f'unhandled {name} {tuple(p.shape)}')
        # small flow updates, so that pair scores land near VBench's thresholds (a few pixels) and
        # the booleans are not all alike
        sd['update_block.flow_head.conv2.weight'].mul_(flow_gain)
        sd['update_block.flow_head.conv2.bias'].mul_(flow_gain)


def build_raft(seed, periodic=True, flow_gain=FLOW_HEAD_GAIN):
    from easydict import EasyDict as edict
    from vbench.third_party.RAFT.core.raft import RAFT
    args = edict(small=False, mixed_precision=False, alternate_corr=False)
    m = RAFT(args)
    periodic_init_(m, seed, periodic, flow_gain=flow_gain)
    return m.eval()


def save_dataparallel_pth(model, path, deflate=True):
    """torch.save of nn.DataParallel(model).state_dict() (keys `module.*`), as raft-things.pth is;
    with `deflate` the zip entries are re-stored compressed (torch.load reads both)."""
    dp = torch.nn.DataParallel(model)
    buf = io.BytesIO()
    torch.save(dp.state_dict(), buf)
    if not deflate:
        with open(path, 'wb') as f:
            f.write(buf.getvalue())
        return
    buf.seek(0)
    with zipfile.ZipFile(buf) as zin, zipfile.ZipFile(path, 'w', compression=zipfile.ZIP_DEFLATED,
                                                       compresslevel=9) as zout:
        for info in zin.infolist():
            zi = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            zi.compress_type = zipfile.ZIP_DEFLATED
            zout.writestr(zi, zin.read(info.filename))


# ---------------------------------------------------------------------------------------------
# VBench runs
# ---------------------------------------------------------------------------------------------
def run_dynamic_degree(model_path, clip_paths, tensors):
    from easydict import EasyDict as edict
    import vbench.dynamic_degree as dd
    from vbench.third_party.RAFT.core.utils_core.utils import InputPadder
    import cv2
    args = edict({"model": model_path, "small": False, "mixed_precision": False, "alternate_corr": False})
    dyn = dd.DynamicDegree(args, 'cpu')

    # instrument: record every pair's score, the flows of the first pair
    per_clip = {}
    cur = {}
    orig_get_score = dyn.get_score

    def get_score(img, flo):
        s = orig_get_score(img, flo)
        cur['scores'].append(s)
        return s
    dyn.get_score = get_score
    orig_model = dyn.model

    class Spy(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, image1, image2, iters=12, test_mode=False):
            low, up = self.m(image1, image2, iters=iters, test_mode=test_mode)
            if cur['pairs'] == 0:
                cur['first'] = (image1.clone(), image2.clone(), low.clone(), up.clone())
            cur['pairs'] += 1
            return low, up
    dyn.model = Spy(orig_model)

    results = {}
    for name, path in clip_paths.items():
        cur.clear()
        cur.update(scores=[], pairs=0)
        cap = cv2.VideoCapture(path)
        fps = cap.get(cv2.CAP_PROP_FPS)
        cap.release()
        try:
            moving = dyn.infer(path)
            err = None
        except Exception as e:          # VBench aborts the whole run there
            moving, err = None, f'{type(e).__name__}: {e}'
        rec = {'fps': fps, 'interval': max(1, round(fps / 8)), 'video_results': moving, 'error': err,
               'pair_scores': [None if math.isnan(s) else s for s in cur['scores']],
               'pair_scores_nan': [math.isnan(s) for s in cur['scores']]}
        if hasattr(dyn, 'params') and err is None:
            rec.update(thres=dyn.params['thres'], count_num=dyn.params['count_num'])
        if 'first' in cur:
            i1, i2, low, up = cur['first']
            tensors[f'image1_u8/{name}'] = i1.to(torch.uint8)
            tensors[f'flow_low/{name}'] = low
            if name in FLOW_UP_CLIPS or name.startswith('full_'):
                tensors[f'flow_up/{name}'] = up
            rec['padded_hw'] = list(i1.shape[-2:])
        results[name] = rec
        if hasattr(dyn, 'params'):
            del dyn.params
    # VBench's own per-dimension function over the clips that do not crash
    ok = [p for n, p in clip_paths.items() if results[n]['error'] is None]
    dyn.model = orig_model
    dyn.get_score = orig_get_score
    avg, video_results = dd.dynamic_degree(dyn, ok)
    return results, {'aggregate': float(avg), 'video_results': video_results}


def run_static_filter(model_path, clip_paths, work, tag):
    """vbench.cli.static_filter.static_filter(--filter_scope all) on a folder of prompt-named copies,
    with StaticFilter.get_score / infer wrapped to record every score and verdict."""
    import vbench.cli.static_filter as sf
    from easydict import EasyDict as edict
    sf.DEVICE = 'cpu'
    per = {}
    scores = []
    orig_score, orig_infer = sf.StaticFilter.get_score, sf.StaticFilter.infer

    def get_score(self, img, flo):
        s = orig_score(self, img, flo)
        scores.append(float(s))
        return s

    def infer(self, path):
        scores.clear()
        static = orig_infer(self, path)
        per[os.path.basename(path)] = {'static': bool(static), 'scores': list(scores),
                                       'thres': self.params['thres'], 'count_num': self.params['count_num']}
        return static
    sf.StaticFilter.get_score, sf.StaticFilter.infer = get_score, infer
    vdir = os.path.join(work, f'static_videos_{tag}')
    shutil.rmtree(vdir, ignore_errors=True)
    os.makedirs(vdir)
    names = {}
    for i, (name, path) in enumerate(clip_paths.items()):
        dst = f'clip {name[5]}-{i}.mp4'
        shutil.copy(path, os.path.join(vdir, dst))
        names[name] = dst
    rdir = os.path.join(work, f'static_results_{tag}')
    shutil.rmtree(rdir, ignore_errors=True)
    cli_args = edict(model=model_path, videos_path=vdir, result_path=rdir, store_name='filtered_static_video.json',
                     small=False, mixed_precision=False, alternate_corr=False, filter_scope='all')
    sf.static_filter(cli_args)
    sf.StaticFilter.get_score, sf.StaticFilter.infer = orig_score, orig_infer
    with open(os.path.join(rdir, 'filtered_static_video.json')) as f:
        text = f.read()
    copied = sorted(os.listdir(os.path.join(rdir, 'filtered_videos')))
    return per, {'videos_path': vdir, 'file_names': names, 'json_text': text, 'filtered_videos': copied}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--out', default=os.path.join(REPO_ROOT, 'tests', 'fixtures', 'parity_raft'))
    ap.add_argument('--work', default=os.path.join(REPO_ROOT, 'fixtures-work', 'parity-raft-tmp'))
    ap.add_argument('--regenerate-clips', action='store_true')
    ap.add_argument('--full-size', metavar='OUT_DIR')
    args = ap.parse_args()
    from safetensors.torch import save_file
    import cv2
    import vbench  # noqa: F401

    if args.full_size:
        return full_size(args.full_size)

    out = os.path.abspath(args.out)
    work = os.path.abspath(args.work)
    os.makedirs(out, exist_ok=True)
    os.makedirs(work, exist_ok=True)

    save_file({k: v.contiguous() for k, v in grid_sample_cases().items()}, os.path.join(out, 'grid_sample.safetensors'))

    make_clips(os.path.join(out, 'clips'), args.regenerate_clips)
    os.chdir(out)
    clip_paths = {c: f'clips/{c}' for c in DD_CLIPS}

    model = build_raft(seed=2020, periodic=True)
    pth = os.path.join(out, 'raft_random.pth')
    save_dataparallel_pth(model, pth)
    sd = torch.load(pth, map_location='cpu')
    assert all(k.startswith('module.') for k in sd), list(sd)[:3]

    tensors = {}
    dd_results, dd_run = run_dynamic_degree(pth, clip_paths, tensors)
    still = build_raft(seed=2021, periodic=True, flow_gain=STILL_FLOW_HEAD_GAIN)
    still_pth = os.path.join(out, 'raft_random_still.pth')
    save_dataparallel_pth(still, still_pth)
    static_per, static_cmd = run_static_filter(pth, {c: clip_paths[c] for c in STATIC_CLIPS}, work, 'a')
    still_per, still_cmd = run_static_filter(still_pth, {c: clip_paths[c] for c in STILL_CLIPS}, work, 'b')
    save_file({k: v.contiguous() for k, v in tensors.items()}, os.path.join(out, 'raft.safetensors'))

    results = {
        'clips': {c: {'description': CLIPS[c][0], 'lavfi': CLIPS[c][1], 'frames': CLIPS[c][2]} for c in CLIPS},
        'dynamic_degree': dd_results,
        'dynamic_degree_run': dd_run,
        'static_filter': static_per,
        'static_filter_command': {k: v for k, v in static_cmd.items() if k != 'videos_path'},
        'static_filter_still': still_per,
        'static_filter_still_command': {k: v for k, v in still_cmd.items() if k != 'videos_path'},
        'weights': {'raft_random.pth': {'seed': 2020, 'flow_head_gain': FLOW_HEAD_GAIN},
                    'raft_random_still.pth': {'seed': 2021, 'flow_head_gain': STILL_FLOW_HEAD_GAIN},
                    'period': PERIOD, 'keys': len(sd)},
        'versions': {'python': sys.version.split()[0], 'torch': torch.__version__, 'numpy': np.__version__,
                     'opencv': cv2.__version__},
    }
    with open(os.path.join(out, 'results.json'), 'w') as f:
        json.dump(results, f, indent=1, allow_nan=False)
    print(json.dumps({c: (r['video_results'], r['pair_scores']) for c, r in dd_results.items()}, indent=1))
    print(json.dumps(static_per, indent=1))
    print(json.dumps(still_per, indent=1))


FULL_CLIPS = {
    'full_a.mp4': ('testsrc2 512x320 16 fps, 5 frames', 'testsrc2=size=512x320:rate=16', 5),
    'full_b.mp4': ('testsrc2 480x270 24 fps, 7 frames (pad 0,0,1,1)', 'testsrc2=size=480x270:rate=24', 7),
}


def full_size(out_dir):
    """Plain N(0, 1/fan_in) random weights (no periodic structure) on larger clips; not committed."""
    out = os.path.abspath(out_dir)
    wdir = os.path.join(out, 'princeton-vl', 'RAFT')
    os.makedirs(wdir, exist_ok=True)
    make_clips(os.path.join(out, 'clips'), False, FULL_CLIPS)
    model = build_raft(seed=4242, periodic=False)
    pth = os.path.join(wdir, 'raft-things.pth')
    save_dataparallel_pth(model, pth, deflate=False)
    os.chdir(out)
    tensors = {}
    res, run = run_dynamic_degree(pth, {c: f'clips/{c}' for c in FULL_CLIPS}, tensors)
    from safetensors.torch import save_file
    save_file({k: v.contiguous() for k, v in tensors.items()}, os.path.join(out, 'raft.safetensors'))
    with open(os.path.join(out, 'results.json'), 'w') as f:
        json.dump({'dynamic_degree': res, 'dynamic_degree_run': run}, f, indent=1, allow_nan=False)
    print(json.dumps(res, indent=1))


if __name__ == '__main__':
    main()
