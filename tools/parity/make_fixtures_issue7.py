#!/usr/bin/env python3
"""Fixtures for issue 7's CLI-level checks, from VBench 0.1.5's own code.

Writes tests/fixtures/parity_issue7/:
  clips/clip_big.mp4     testsrc2 576x528, 2 frames (both sides > 512, so every
                         imaging_quality preprocessing mode resizes differently)
  clips/*.gif, *.png     small GIF / PNG inputs for human_action (VBench's load_video reads them with
                         PIL, each frame .convert('RGB')): an ffmpeg-encoded GIF (inter-frame
                         transparency), a Pillow-written GIF (delta frames, palette), an RGBA PNG and
                         a palette PNG
  pil_frames.safetensors pil/<file> = load_video's decoded uint8 (T,H,W,3) frames (PIL convert('RGB'))
  tensors.safetensors    logits/<file> (1,400): the tiny UMT's output in VBench's human_action
  scores.json            {"imaging_quality": {mode: [aggregate, records]}, "human_action": [aggregate, records]}

Models are the committed tiny ones: tests/fixtures/parity_musiq/models/musiq_tiny.pth (pyiqa's
MUSIQ(pretrained_model_path=...) at make_fixtures_musiq.TINY) and
tests/fixtures/parity_umt/models/umt_tiny.pth (VBench's human_action with make_fixtures_umt's
create_model substitution).

Usage (run from the repository root, environment of tools/parity/README.md):
  PYTHONPATH=fixtures-work/vbench_wheel /tmp/refenv/bin/python tools/parity/make_fixtures_issue7.py \
      --pyiqa-src /tmp/musiq/pyiqa_src
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_fixtures_musiq as mfm  # noqa: E402
import make_fixtures_umt as mfu  # noqa: E402

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
FIXTURES = os.path.join(REPO_ROOT, 'tests', 'fixtures')
OUT = os.path.join(FIXTURES, 'parity_issue7')
FF = ['ffmpeg', '-hide_banner', '-loglevel', 'error', '-y']
BITEXACT = ['-map_metadata', '-1', '-fflags', '+bitexact', '-flags:v', '+bitexact', '-threads', '1']
BIG = ['-f', 'lavfi', '-i', 'testsrc2=size=576x528:rate=8', '-frames:v', '2', '-pix_fmt', 'yuv420p',
       '-c:v', 'libx264', '-preset', 'medium', '-crf', '30', '-x264-params', 'threads=1']
GIF_FF = ['-f', 'lavfi', '-i', 'testsrc2=size=80x60:rate=8', '-frames:v', '7']
MODES = ['longer', 'shorter', 'shorter_centercrop', 'None']
IQ_CLIPS = ['parity_issue7/clips/clip_big.mp4', 'parity_musiq/clips/clip_wide.mp4']
HA_FILES = ['A person is riding a bike-0.gif', 'A person is marching-1.gif',
            'A person is riding a bike-2.png', 'A person is marching-3.png']


def make_images(clip_dir):
    from PIL import Image
    os.makedirs(clip_dir, exist_ok=True)
    subprocess.run(FF + BIG + BITEXACT + [os.path.join(clip_dir, 'clip_big.mp4')], check=True)
    subprocess.run(FF + GIF_FF + ['-f', 'gif', os.path.join(clip_dir, HA_FILES[0])], check=True)
    rng = np.random.default_rng(7)
    h, w = 48, 64
    yy, xx = np.mgrid[0:h, 0:w]
    frames = []
    for t in range(5):
        img = np.stack([(xx * 4 + t * 20) % 256, (yy * 5) % 256, ((xx + yy) * 3 + t * 40) % 256], -1)
        img[10 + t * 4:20 + t * 4, 10:30] = rng.integers(0, 256, 3)     # a moving box
        frames.append(Image.fromarray(img.astype(np.uint8)).quantize(colors=64, dither=Image.Dither.NONE))
    frames[0].save(os.path.join(clip_dir, HA_FILES[1]), save_all=True, append_images=frames[1:],
                   duration=125, loop=0)
    rgba = np.concatenate([rng.integers(0, 256, (40, 52, 3)), rng.integers(0, 256, (40, 52, 1))], -1)
    Image.fromarray(rgba.astype(np.uint8), 'RGBA').save(os.path.join(clip_dir, HA_FILES[2]))
    pal = Image.fromarray(rng.integers(0, 256, (30, 36, 3)).astype(np.uint8)).quantize(colors=16)
    pal.save(os.path.join(clip_dir, HA_FILES[3]))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--pyiqa-src', required=True, help='directory holding the unpacked pyiqa/ package')
    args = ap.parse_args()
    from safetensors.torch import save_file
    torch.manual_seed(0)
    make_images(os.path.join(OUT, 'clips'))
    scores = {}

    # ---- imaging_quality in every preprocessing mode ----
    musiq_arch = mfm.install_pyiqa_shim(args.pyiqa_src)
    from vbench.imaging_quality import technical_quality
    os.chdir(FIXTURES)
    model = musiq_arch.MUSIQ(pretrained_model_path='parity_musiq/models/musiq_tiny.pth', **mfm.TINY)
    model.training = False
    scores['imaging_quality'] = {}
    with torch.no_grad():
        for mode in MODES:
            agg, recs = technical_quality(model, IQ_CLIPS, 'cpu', imaging_quality_preprocessing_mode=mode)
            scores['imaging_quality'][mode] = [float(agg), [{k: float(v) if k == 'video_results' else v
                                                             for k, v in r.items()} for r in recs]]

    # ---- human_action on GIF / PNG ----
    import vbench.human_action as ha
    from vbench.utils import load_video
    os.chdir(OUT)
    paths = [f'clips/{f}' for f in HA_FILES]
    tens = {}
    pil = {}
    for f, p in zip(HA_FILES, paths):
        pil[f'pil/{f}'] = torch.from_numpy(np.ascontiguousarray(load_video(p, return_tensor=False)))
    captured = []
    mfu.captured_models.clear()
    mfu.captured_feats.clear()
    ha.create_model = mfu.patched_create_model(mfu.TINY, captured)
    with torch.no_grad():
        acc, records = ha.human_action(os.path.join(FIXTURES, 'parity_umt/models/umt_tiny.pth'), paths, 'cpu')
    for f, logits in zip(HA_FILES, captured):
        tens[f'logits/{f}'] = logits.contiguous()
    scores['human_action'] = [float(acc), records]
    save_file(tens, os.path.join(OUT, 'tensors.safetensors'))
    save_file(pil, os.path.join(OUT, 'pil_frames.safetensors'))
    with open(os.path.join(OUT, 'scores.json'), 'w') as fh:
        json.dump(scores, fh, indent=2)
    import PIL
    with open(os.path.join(OUT, 'inputs.json'), 'w') as fh:
        json.dump({'generator': 'tools/parity/make_fixtures_issue7.py',
                   'imaging_quality_clips': IQ_CLIPS, 'modes': MODES,
                   'clip_big_ffmpeg_args': BIG + BITEXACT, 'gif_ffmpeg_args': GIF_FF + ['-f', 'gif'],
                   'human_action_files': HA_FILES,
                   'frames': {f: list(pil[f'pil/{f}'].shape) for f in HA_FILES},
                   'versions': {'torch': torch.__version__, 'pillow': PIL.__version__, 'numpy': np.__version__,
                                'ffmpeg': subprocess.run(['ffmpeg', '-version'], capture_output=True,
                                                         text=True).stdout.split('\n')[0]}}, fh, indent=2)
    print(json.dumps(scores, indent=1))


if __name__ == '__main__':
    main()
