#!/usr/bin/env python3
"""VBench-Python timings for the same work as `cargo bench -p vbench-benches --bench viclip` (CPU, fp32):
VBench's `clip_transform(224)` on 8 uint8 512x512 frames (as read_frames_decord_by_fps gives them), the
real-size ViCLIP-L/14 (VBench's own classes, random weights) video forward `encode_vision((1,8,3,224,224),
test=True)`, the text forward on a context-32 id tensor, and the whole clip (transform + video forward +
normalised cosine, as overall_consistency does). Environment: tools/parity/README.md (+ einops, ftfy, regex).

    PYTHONPATH=fixtures-work/vbench_wheel python tools/bench/reference_viclip.py [--threads 2]
"""
import argparse
import os
import shutil
import sys
import tempfile
import time

import numpy as np
import torch


def timeit(fn, reps):
    fn()
    t = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t) / reps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--reps', type=int, default=5)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    # CLIP_TEXT builds a SimpleTokenizer from $VBENCH_CACHE_DIR/ViCLIP/ (it would download it)
    cache = tempfile.mkdtemp()
    os.makedirs(os.path.join(cache, 'ViCLIP'))
    import clip
    shutil.copy(os.path.join(os.path.dirname(clip.__file__), 'bpe_simple_vocab_16e6.txt.gz'),
                os.path.join(cache, 'ViCLIP'))
    os.environ['VBENCH_CACHE_DIR'] = cache
    from vbench.utils import clip_transform
    from vbench.third_party.ViCLIP.viclip import ViCLIP

    model = ViCLIP(tokenizer=None, pretrain=None).eval()       # real size (clip_joint_l14, clip_text_l14)
    frames = torch.from_numpy(np.random.RandomState(0).randint(0, 255, (8, 512, 512, 3)).astype(np.uint8)) \
        .permute(0, 3, 1, 2)
    ct = clip_transform(224)
    ids = model.text_encoder.tokenize('a man is playing a guitar', context_length=32)
    with torch.no_grad():
        x = ct(frames)
        t = model.text_encoder(ids).float()
        t = t / t.norm(dim=-1, keepdim=True)
        print(f"clip_transform uint8, 8 frames 512x512: {timeit(lambda: ct(frames), 20) * 1e3:.2f} ms")
        print(f"L/14 video forward (1,8,3,224,224): "
              f"{timeit(lambda: model.encode_vision(x.unsqueeze(0), test=True), a.reps) * 1e3:.1f} ms")
        print(f"L/14 text forward (1,32): {timeit(lambda: model.text_encoder(ids), a.reps) * 1e3:.1f} ms")

        def whole():
            v = model.encode_vision(ct(frames).unsqueeze(0), test=True).float()
            v = v / v.norm(dim=-1, keepdim=True)
            return float((v @ t.T)[0][0])
        print(f"per 8-frame clip (transform + video forward + cosine): {timeit(whole, a.reps) * 1e3:.1f} ms")
    shutil.rmtree(cache)


if __name__ == '__main__':
    main()
