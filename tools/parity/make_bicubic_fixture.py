"""Bicubic resampling fixture: torch 2.5.1 CPU `F.interpolate(mode='bicubic', align_corners=False)`
outputs, bit for bit, for `models/src/nn/resample.rs`.

    /tmp/refenv/bin/python tools/parity/make_bicubic_fixture.py            # committed fixture
    /tmp/refenv/bin/python tools/parity/make_bicubic_fixture.py --big OUT  # many random sizes

The committed fixture (models/testdata/bicubic_torch.json) holds a few hundred output values
(up- and down-scales, integer-valued "uint8" and arbitrary float inputs, size and scale mode,
one torchvision `Resize(BICUBIC, antialias=False)` on a channels-last uint8 tensor as
`read_frames_decord_by_fps` delivers it). `--big` writes the same format with many random
sizes, read by the `#[ignore]` test `bicubic_matches_torch_big` (env VBENCH_BICUBIC_BIG).
Outputs are stored as f32 bit patterns, inputs as exact decimal f32 values.
"""
import json, sys
import numpy as np, torch
import torch.nn.functional as F
from torchvision.transforms import Resize, InterpolationMode

torch.set_num_threads(1)


def case(x, oh, ow, scale=None, u8=False):
    """x: (C,H,W) float32 numpy."""
    c, h, w = x.shape
    t = torch.from_numpy(x)[None]
    if u8:
        # VBench clip_transform on read_frames_decord_by_fps output: channels-last uint8.
        u = torch.from_numpy(np.ascontiguousarray(x.transpose(1, 2, 0)).astype(np.uint8)).permute(2, 0, 1)[None]
        y = Resize(min(oh, ow), interpolation=InterpolationMode.BICUBIC, antialias=False)(u)
        assert tuple(y.shape[-2:]) == (oh, ow), (y.shape, oh, ow)
        y = y.float()
    elif scale is None:
        y = F.interpolate(t, size=(oh, ow), mode='bicubic', align_corners=False)
    else:
        y = F.interpolate(t, scale_factor=scale, mode='bicubic', align_corners=False)
        assert tuple(y.shape[-2:]) == (oh, ow), (y.shape, oh, ow)
    y = y[0].contiguous().numpy().astype(np.float32)
    return {
        'c': c, 'h': h, 'w': w, 'out_h': oh, 'out_w': ow,
        'scale': None if scale is None else list(scale),
        'u8': u8,
        'input': [float(v) for v in x.reshape(-1)],
        'output_bits': [int(b) for b in y.reshape(-1).view(np.uint32)],
    }


def main():
    rng = np.random.default_rng(20261201)
    cases = []
    if len(sys.argv) > 2 and sys.argv[1] == '--big':
        for _ in range(300):
            h, w = (int(v) for v in rng.integers(4, 90, 2))
            oh, ow = (int(v) for v in rng.integers(2, 180, 2))
            if rng.random() < 0.5:
                x = rng.integers(0, 256, (3, h, w)).astype(np.float32)
            else:
                x = (rng.standard_normal((3, h, w)) * 40).astype(np.float32)
            cases.append(case(x, oh, ow))
        for _ in range(40):
            h, w = (int(v) for v in rng.integers(16, 120, 2))
            s = int(rng.integers(8, 140))
            oh, ow = (s, int(s * w / h)) if h <= w else (int(s * h / w), s)
            if (oh, ow) == (h, w):
                continue
            cases.append(case(rng.integers(0, 256, (3, h, w)).astype(np.float32), oh, ow, u8=True))
        out = sys.argv[2]
    else:
        u8 = lambda c, h, w: rng.integers(0, 256, (c, h, w)).astype(np.float32)
        fl = lambda c, h, w: (rng.standard_normal((c, h, w)) * 50).astype(np.float32)
        cases.append(case(u8(1, 6, 9), 13, 20))      # up
        cases.append(case(u8(1, 17, 13), 7, 5))      # down
        cases.append(case(u8(2, 5, 12), 11, 7))      # up in H, down in W
        cases.append(case(fl(1, 9, 7), 4, 15))       # down in H, up in W, arbitrary floats
        cases.append(case(fl(1, 8, 8), 8, 13))       # identity H axis
        cases.append(case(fl(1, 6, 6), 6, 9, scale=(6.1 / 6, 9.1 / 6)))  # scale mode (DINO pos-embed style)
        cases.append(case(u8(3, 9, 14), 8, 12, u8=True))  # torchvision uint8 Resize, down
        cases.append(case(u8(3, 5, 7), 10, 14, u8=True))  # torchvision uint8 Resize, up
        out = 'models/testdata/bicubic_torch.json'
    with open(out, 'w') as f:
        json.dump({'torch': torch.__version__, 'capability': torch.backends.cpu.get_cpu_capability(),
                   'cases': cases}, f, separators=(',', ':'))
    print(out, len(cases), 'cases,', sum(len(c['output_bits']) for c in cases), 'values')


if __name__ == '__main__':
    main()
