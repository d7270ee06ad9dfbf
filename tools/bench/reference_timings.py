#!/usr/bin/env python3
"""VBench-Python timings for the same work as `cargo bench -p vbench-benches` (CPU, fp32):
decord decode of a 16-frame 512x512 clip, VBench's transforms on one 512x512 / 720p frame,
and real-size DINO ViT-B/16 and CLIP ViT-B/32 image forwards at batch 1 and 16 with random
weights. Run with the venv of tools/parity/README.md plus DINO's source:

    python tools/bench/reference_timings.py --dino-src fixtures-work/dino --vbench fixtures-work/vbench
"""
import argparse
import os
import subprocess
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
    ap.add_argument("--dino-src", required=True)
    ap.add_argument("--vbench", required=True, help="folder containing the unpacked vbench package")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    sys.path.insert(0, a.vbench)
    sys.path.insert(0, a.dino_src)
    from vbench.utils import clip_transform, clip_transform_Image, dino_transform
    import decord
    from PIL import Image
    import clip as openai_clip
    import vision_transformer as vits

    tmp = tempfile.mkdtemp()
    clipf = os.path.join(tmp, "bench.mp4")
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=512x512:rate=8",
                    "-frames:v", "16", "-pix_fmt", "yuv420p", "-c:v", "libx264", clipf], check=True)

    def decode():
        vr = decord.VideoReader(clipf, num_threads=1)
        return vr.get_batch(list(range(len(vr)))).asnumpy()

    print(f"decode 16x512x512 (decord): {timeit(decode, 5) * 1e3:.2f} ms")
    f512 = torch.Tensor(np.random.randint(0, 255, (1, 512, 512, 3)).astype(np.uint8)).permute(0, 3, 1, 2)
    f720 = torch.Tensor(np.random.randint(0, 255, (1, 720, 1280, 3)).astype(np.uint8)).permute(0, 3, 1, 2)
    pil512 = Image.fromarray(np.random.randint(0, 255, (512, 512, 3)).astype(np.uint8))
    dt, ct, cti = dino_transform(224), clip_transform(224), clip_transform_Image(224)
    print(f"transform dino 512: {timeit(lambda: dt(f512), 50) * 1e3:.3f} ms")
    print(f"transform clip float 512: {timeit(lambda: ct(f512), 50) * 1e3:.3f} ms")
    print(f"transform clip pil 512: {timeit(lambda: cti(pil512), 50) * 1e3:.3f} ms")
    print(f"transform clip float 720p: {timeit(lambda: ct(f720), 50) * 1e3:.3f} ms")

    torch.manual_seed(0)
    dino = vits.vit_base(patch_size=16, num_classes=0).eval()
    model = openai_clip.model.CLIP(512, 224, 12, 768, 32, 77, 49408, 512, 8, 12).float().eval()
    with torch.no_grad():
        for b in (1, 16):
            x = torch.randn(b, 3, 224, 224)
            reps = 3 if b == 16 else 10
            print(f"dino vit-b/16 batch {b}: {timeit(lambda: dino(x), reps) * 1e3:.1f} ms")
            print(f"clip vit-b/32 batch {b}: {timeit(lambda: model.encode_image(x), reps) * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
