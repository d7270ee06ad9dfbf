#!/usr/bin/env python3
"""VBench-Python timings for the same work as `cargo bench -p vbench-benches --bench musiq` (CPU, fp32):
VBench's imaging_quality `transform(images, 'longer')` on one 720p frame, pyiqa's `get_multiscale_patches` on a
512x512 frame, and real-size pyiqa MUSIQ (random weights, `training = False` as VBench sets it) per frame at
512x512 and 288x512, batch 1 (VBench's way) and batch 4. Imports pyiqa's musiq_arch through the shim of
tools/parity/make_fixtures_musiq.py (see there for getting pyiqa 0.1.13):

    PYTHONPATH=fixtures-work/vbench_wheel /tmp/refenv/bin/python tools/bench/reference_musiq.py \
        --pyiqa-src fixtures-work/pyiqa_src

The forwards run under torch.no_grad(); VBench's technical_quality itself calls the model without it (autograd
bookkeeping on top of these figures).

Measured 2026-12-01 on the 2-core dev machine under heavy load from other jobs (load average ~12, so all
figures are inflated and noisy): transform 720p 32.4 ms; patches 512x512 375 ms; forward 512x512 batch 1
3652 ms/frame, 288x512 batch 1 4930 ms/frame (noise), 512x512 batch 4 3696 ms/frame.
"""
import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'parity'))
import make_fixtures_musiq as mfm  # noqa: E402


def timeit(fn, reps):
    fn()
    t = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t) / reps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--pyiqa-src', required=True)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--reps', type=int, default=5)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    musiq_arch = mfm.install_pyiqa_shim(a.pyiqa_src)
    from vbench.imaging_quality import transform
    from pyiqa.data.multiscale_trans_util import get_multiscale_patches

    f720 = torch.randint(0, 255, (1, 3, 720, 1280)).float()
    print(f"transform 720p -> 288x512: {timeit(lambda: transform(f720, 'longer'), 20) * 1e3:.3f} ms")
    model = musiq_arch.MUSIQ(pretrained=False)
    model.training = False
    x512 = torch.rand(1, 3, 512, 512)
    opts = model.data_preprocess_opts
    print(f"musiq patches 512x512: {timeit(lambda: get_multiscale_patches((x512 - 0.5) * 2, **opts), 20) * 1e3:.3f} ms")
    with torch.no_grad():
        for h, w in [(512, 512), (288, 512)]:
            x = torch.rand(1, 3, h, w)
            print(f"musiq forward {h}x{w} batch 1: {timeit(lambda: model(x), a.reps) * 1e3:.1f} ms/frame")
        x4 = torch.rand(4, 3, 512, 512)
        print(f"musiq forward 512x512 batch 4: {timeit(lambda: model(x4), a.reps) / 4 * 1e3:.1f} ms/frame")


if __name__ == '__main__':
    main()
