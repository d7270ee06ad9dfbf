#!/usr/bin/env python3
"""VBench-Python timings for the same work as `cargo bench -p vbench-benches --bench umt` (CPU, fp32):
human_action's data_transform (UMT Resize(256, 'bilinear') = cv2.resize, CenterCrop(224), ClipToTensor,
Normalize) on 16 720p frames, and the real-size UMT-L/16 forward (VBench's modeling_finetune
vit_large_patch16_224 with human_action's arguments, random weights) on one (1, 3, 16, 224, 224) clip.
Run with the venv of tools/parity/README.md:

    PYTHONPATH=fixtures-work/vbench_wheel python tools/bench/reference_umt.py [--threads 2]
"""
import argparse
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
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    from vbench.third_party.umt.datasets.video_transforms import Compose, Resize, CenterCrop, Normalize
    from vbench.third_party.umt.datasets.volume_transforms import ClipToTensor
    from vbench.third_party.umt.models.modeling_finetune import vit_large_patch16_224

    transform = Compose([Resize(256, interpolation='bilinear'), CenterCrop(size=(224, 224)), ClipToTensor(),
                         Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])])
    frames = (np.arange(16 * 720 * 1280 * 3).reshape(16, 720, 1280, 3) * 7 % 251).astype(np.uint8)
    print(f"preprocess 16x720p: {timeit(lambda: transform(frames), 5) * 1e3:.1f} ms")
    model = vit_large_patch16_224(num_classes=400, all_frames=16, tubelet_size=1, use_learnable_pos_emb=False,
                                  fc_drop_rate=0., drop_rate=0., drop_path_rate=0.2, attn_drop_rate=0.,
                                  use_checkpoint=False, checkpoint_num=16, use_mean_pooling=True,
                                  init_scale=0.001).eval()
    x = torch.randn(1, 3, 16, 224, 224)
    with torch.no_grad():
        print(f"UMT-L/16 forward (1,3,16,224,224): {timeit(lambda: model(x), a.reps) * 1e3:.0f} ms "
              f"({a.threads} threads)")
        print(f"per 16-frame clip (preprocess 16x720p + forward): "
              f"{timeit(lambda: model(transform(frames).unsqueeze(0)), a.reps) * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
