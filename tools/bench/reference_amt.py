#!/usr/bin/env python3
"""VBench-Python timings for the work of `cargo bench -p vbench-benches --bench amt` (CPU, fp32):
one AMT-S interpolated frame (VBench's `Model(img0, img1, embt=0.5, scale_factor=1.0, eval=True)` on
padded [0, 1] inputs) at 256x256, 512x512 and 1280x720 with random weights, plus the peak RSS of one
1920x1080 interpolation (padded 1920x1088, as VBench's InputPadder does) in a fresh process.
Per size: one warm-up, then the minimum wall time and minimum process CPU time over --reps runs,
with the load average before (the machine is shared), as `AMT_QUICK=N cargo bench --bench amt`.
Run with the venv of tools/parity/README.md (plus omegaconf, imageio for VBench's AMT utils):

    PYTHONPATH=fixtures-work/vbench_wheel python tools/bench/reference_amt.py [--threads 2] [--reps 3]
    PYTHONPATH=fixtures-work/vbench_wheel python tools/bench/reference_amt.py --peak-1080p
"""
import argparse
import os
import resource
import time

import torch


def build():
    import vbench
    from omegaconf import OmegaConf
    from vbench.third_party.amt.utils.build_utils import build_from_cfg
    cfg = os.path.join(os.path.dirname(vbench.__file__), 'third_party/amt/cfgs/AMT-S.yaml')
    torch.manual_seed(0)
    return build_from_cfg(OmegaConf.load(cfg).network).eval()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--reps', type=int, default=3)
    ap.add_argument('--peak-1080p', action='store_true')
    ap.add_argument('--sizes', help='heights to run, e.g. 256,512 (default: all)')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    from vbench.third_party.amt.utils.utils import InputPadder
    model = build()
    embt = torch.tensor(1 / 2).float().view(1, 1, 1, 1)
    sizes = [(1080, 1920)] if a.peak_1080p else [(256, 256), (512, 512), (720, 1280)]
    for h, w in sizes:
        x0, x1 = torch.rand(1, 3, h, w), torch.rand(1, 3, h, w)
        x0, x1 = InputPadder(x0.shape, 16).pad(x0, x1)
        with torch.no_grad():
            if a.peak_1080p:
                t = time.perf_counter()
                model(x0, x1, embt, scale_factor=1.0, eval=True)
                peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
                print(f'amt-s {w}x{h}: {time.perf_counter() - t:.1f} s, peak RSS {peak:.2f} GiB')
                continue
            if a.sizes and str(h) not in a.sizes.split(','):
                continue
            load = ' '.join(f'{v:.2f}' for v in os.getloadavg())
            model(x0, x1, embt, scale_factor=1.0, eval=True)
            wall, cpu = float('inf'), float('inf')
            for _ in range(a.reps):
                t, c = time.perf_counter(), time.process_time()
                model(x0, x1, embt, scale_factor=1.0, eval=True)
                wall, cpu = min(wall, time.perf_counter() - t), min(cpu, time.process_time() - c)
            print(f'amt-s interpolated frame {w}x{h}: min wall {wall * 1e3:.1f} ms, min CPU {cpu * 1e3:.1f} ms '
                  f'over {a.reps} runs (load average before: {load})')


if __name__ == '__main__':
    main()
