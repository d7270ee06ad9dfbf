#!/usr/bin/env python3
"""AMT-S / motion_smoothness parity on odd frame sizes (padding to a multiple of 16 with the odd
remainder on the right/bottom, then cropping back), from VBench 0.1.5's own code.

Same network and pseudo-random weights as `make_fixtures_amt.py` (imported from it). Clips:

  clip_odd_a.mp4  testsrc2 cropped to 145x133, libx264 yuv444p (odd sizes need 4:4:4 in x264),
                  5 frames: pads to 160x144 (left 7 / right 8, top 5 / bottom 6), 2 predictions
  clip_odd_b.mp4  testsrc cropped to 131x129 with a moving box, mpeg4 yuv420p (odd 4:2:0),
                  4 frames (even T: the last frame is unused): pads to 144x144 (6/7, 7/8), 1 prediction
  clip_odd_small.mp4  130x97 (pads to 144x112): a padded side below 128, where VBench's coarsest
                  correlation level is one pixel wide; its value is recorded (`small.json`), the
                  Rust scorer refuses such a video with a per-video error

Writes `tests/fixtures/parity_amt/odd/`: clips/, scores.json (VBench's motion_smoothness on a and b),
small.json, tensors.safetensors (`{clip}/pred_u8`: the uint8 frames VBench compares; clip a's first
`imgt_pred`, padded float), inputs.json.

Run: PYTHONPATH=fixtures-work/vbench_wheel /tmp/refenv/bin/python tools/parity/make_fixtures_amt_odd.py
"""
import hashlib
import json
import os
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
import make_fixtures_amt as base  # noqa: E402

OUT = os.path.join(base.REPO_ROOT, 'tests/fixtures/parity_amt/odd')
X264_444 = ['-pix_fmt', 'yuv444p', '-c:v', 'libx264', '-preset', 'medium', '-crf', '20',
            '-x264-params', 'threads=1']
MPEG4 = ['-pix_fmt', 'yuv420p', '-c:v', 'mpeg4', '-q:v', '3']
CLIPS = {
    'clip_odd_a.mp4': ('testsrc2 160x160 cropped to 145x133 at (5, 9) in RGB, 8 fps, 5 frames, yuv444p, libx264', [
        '-f', 'lavfi', '-i', 'testsrc2=size=160x160:rate=8',
        '-vf', 'format=rgb24,crop=145:133:5:9', '-frames:v', '5'] + X264_444),
    'clip_odd_b.mp4': ('testsrc 160x160 with a moving red box, cropped to 131x129, 6 fps, 4 frames, yuv420p, mpeg4', [
        '-f', 'lavfi', '-i', 'testsrc=size=160x160:rate=6',
        '-f', 'lavfi', '-i', 'color=c=red:size=30x20:rate=6',
        '-filter_complex', '[0:v][1:v]overlay=x=10+t*40:y=20+t*25:shortest=1,format=rgb24,crop=131:129:3:2[v]',
        '-map', '[v]', '-frames:v', '4'] + MPEG4),
    'clip_odd_small.mp4': ('testsrc2 160x160 cropped to 130x97, 8 fps, 3 frames, yuv444p, libx264', [
        '-f', 'lavfi', '-i', 'testsrc2=size=160x160:rate=8',
        '-vf', 'format=rgb24,crop=130:97:0:0', '-frames:v', '3'] + X264_444),
}


def main():
    from safetensors.torch import save_file
    from vbench.third_party.amt.utils.build_utils import build_from_cfg
    from omegaconf import OmegaConf
    clip_dir = os.path.join(OUT, 'clips')
    os.makedirs(clip_dir, exist_ok=True)
    paths = {n: base.make_clip(clip_dir, n, a) for n, (_, a) in CLIPS.items()}

    net = build_from_cfg(OmegaConf.load(base.amt_cfg()).network)
    keys = [(k, list(v.shape)) for k, v in net.state_dict().items()]
    sd = {k: torch.from_numpy(base.amt_weight(k, s, base.GAIN).copy()) for k, s in keys}
    tensors = {}
    with tempfile.TemporaryDirectory() as td:
        ckpt = os.path.join(td, 'amt-s.pth')
        torch.save({'state_dict': sd, 'epoch': 300}, ckpt)
        motion = base.build_vbench(ckpt)
        scored = [paths['clip_odd_a.mp4'], paths['clip_odd_b.mp4']]
        display = {p: 'clips/' + os.path.basename(p) for p in paths.values()}
        agg, records, per_clip = base.run_clips(motion, scored, display)
        for p in scored:
            name = os.path.basename(p)
            tensors[f'{name}/pred_u8'] = torch.from_numpy(base.uint8_predictions(per_clip[p], p)).contiguous()
        tensors['clip_odd_a.mp4/imgt_pred'] = base.intermediates(motion, paths['clip_odd_a.mp4'])['imgt_pred'].contiguous()
        small = paths['clip_odd_small.mp4']
        s_agg, s_records, _ = base.run_clips(motion, [small], display)
    save_file(tensors, os.path.join(OUT, 'tensors.safetensors'))
    with open(os.path.join(OUT, 'scores.json'), 'w') as f:
        json.dump({'motion_smoothness': [agg, records]}, f, indent=1)
    with open(os.path.join(OUT, 'small.json'), 'w') as f:
        json.dump({'motion_smoothness': [s_agg, s_records],
                   'note': 'VBench on CPU at a padded side below 128; the Rust scorer refuses this video'},
                  f, indent=1)
    info = {'clips': {}, 'versions': base.versions(), 'weights': 'make_fixtures_amt.py amt_weight', 'gain': base.GAIN}
    for n, (desc, args) in CLIPS.items():
        fr = base.decode_cv2(paths[n])
        info['clips'][n] = {'description': desc, 'ffmpeg': args, 'frames': len(fr),
                            'size_hw': list(fr[0].shape[:2]),
                            'rgb_sha256': [hashlib.sha256(x.tobytes()).hexdigest() for x in fr]}
    with open(os.path.join(OUT, 'inputs.json'), 'w') as f:
        json.dump(info, f, indent=1)
    print('scores', agg, [r['video_results'] for r in records])
    print('small', s_agg, s_records)


if __name__ == '__main__':
    torch.set_num_threads(2)
    np.seterr(all='ignore')
    main()
