#!/usr/bin/env python3
"""VBench-Python timings for the same work as `cargo bench -p vbench-benches --bench grit_vit` (CPU, fp32):
GRiT's ViT-B + ViT_FPN (VBench's own `vit.py` classes with `build_vit_fpn_backbone`'s arguments, random
weights) on a 512x512 and a 736x1280 (720p padded to /32) input, and GRiT's text decoder
(`TransformerDecoderTextualHead` + `GRiTTextDecoder` + greedy `AutoRegressiveBeamSearch`, real size) on 20
objects with EOS suppressed so every row runs the full 39 steps (VBench recomputes the whole sequence
every step). Run:

    PYTHONPATH=/tmp/detectron2_src:fixtures-work/vbench_wheel /tmp/refenv/bin/python \
        tools/bench/reference_grit_vit.py [--threads 2]
"""
import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "parity"))
import make_fixtures_grit_vit as fx  # noqa: E402


def timeit(fn, reps, warmup=True):
    if warmup:
        fn()
    t = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t) / reps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--no-warmup", action="store_true", help="time the first call too (slow shared machines)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    fpn = fx.build_backbone(fx.FULL_VIT)
    with torch.no_grad():
        for h, w in [(512, 512), (736, 1280)]:
            x = torch.randn(1, 3, h, w)
            print(f"ViT-B + ViT_FPN {h}x{w}: {timeit(lambda: fpn(x), a.reps, not a.no_warmup) * 1e3:.0f} ms ({a.threads} threads)")
    del fpn
    head = fx.build_text(fx.FULL_TEXT)
    with torch.no_grad():
        head.output.bias[102] = -1e4
    feats = torch.randn(20, 196, 256)

    def run():
        out, _ = fx.run_text(head, feats, 101)
        assert out["predictions"].shape[1] == 40
    with torch.no_grad():
        print(f"text decoder 20 objects x 39 steps: {timeit(run, a.reps, not a.no_warmup) * 1e3:.0f} ms ({a.threads} threads)")


if __name__ == "__main__":
    main()
