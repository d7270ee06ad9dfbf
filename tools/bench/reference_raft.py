#!/usr/bin/env python3
"""VBench-Python timings for `cargo bench -p vbench-benches --bench raft` (CPU, fp32, 2 threads):
VBench's RAFT (third_party/RAFT, as DynamicDegree builds it) with random weights, one frame pair
`model(image1, image2, iters=20, test_mode=True)` on replicate-padded frames at 256x256, 512x512
and 1280x720; and, in a child process, the peak RSS of one 1920x1080 pair (`--iters` iterations;
the correlation pyramid is allocated whatever the count). Per size: one warm-up, then the minimum
wall time and minimum process CPU time over --reps runs, with the load average before (the machine
is shared), as `RAFT_QUICK=N cargo bench --bench raft`.

    PYTHONPATH=fixtures-work/vbench_wheel /tmp/refenv/bin/python tools/bench/reference_raft.py
"""
import argparse
import os
import resource
import subprocess
import sys
import time

import torch
import torch.nn.functional as F


def model():
    from easydict import EasyDict as edict
    from vbench.third_party.RAFT.core.raft import RAFT
    m = RAFT(edict(small=False, mixed_precision=False, alternate_corr=False))
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for k, v in m.state_dict().items():
            if k.endswith('running_var'):
                v.fill_(1.0)
            elif v.dtype == torch.float32:
                v.copy_(0.02 * torch.randn(v.shape, generator=g))
    return m.eval()


def pair(h, w):
    from vbench.third_party.RAFT.core.utils_core.utils import InputPadder
    a = torch.randint(0, 256, (1, 3, h, w)).float()
    b = torch.roll(a, (2, 3), (2, 3))
    return InputPadder(a.shape).pad(a, b)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--peak', nargs=3, type=int, metavar=('W', 'H', 'ITERS'),
                    help='internal: one pair, then print the peak RSS')
    ap.add_argument('--iters', type=int, default=1, help='iterations of the 1080p peak-memory run')
    ap.add_argument('--reps', type=int, default=3, help='timed runs per size (after one warm-up); the minimum is printed')
    ap.add_argument('--sizes', help='heights to run, e.g. 256,512 (default: 256,512,720)')
    ap.add_argument('--no-peak', action='store_true', help='skip the 1080p peak-memory child (run it under flock)')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    m = model()
    if a.peak:
        w, h, iters = a.peak
        x, y = pair(h, w)
        with torch.no_grad():
            t = time.perf_counter()
            m(x, y, iters=iters, test_mode=True)
            dt = time.perf_counter() - t
        print(f'{w}x{h} {iters} iterations: {dt:.1f} s, peak RSS '
              f'{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB')
        return
    with torch.no_grad():
        for (h, w) in [(256, 256), (512, 512), (720, 1280)]:
            if a.sizes and str(h) not in a.sizes.split(','):
                continue
            x, y = pair(h, w)
            load = ' '.join(f'{v:.2f}' for v in os.getloadavg())
            m(x, y, iters=20, test_mode=True)
            wall, cpu = float('inf'), float('inf')
            for _ in range(a.reps):
                t, c = time.perf_counter(), time.process_time()
                m(x, y, iters=20, test_mode=True)
                wall, cpu = min(wall, time.perf_counter() - t), min(cpu, time.process_time() - c)
            print(f'raft pair {w}x{h}: min wall {wall * 1e3:.0f} ms, min CPU {cpu * 1e3:.0f} ms over {a.reps} runs '
                  f'(load average before: {load})')
    if a.no_peak:
        return
    subprocess.run([sys.executable, __file__, '--threads', str(a.threads), '--peak', '1920', '1080',
                    str(a.iters)], check=True)


if __name__ == '__main__':
    main()
