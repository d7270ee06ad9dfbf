#!/usr/bin/env python3
"""Python timings for the same work as `cargo bench -p vbench-benches --bench images` (CPU, fp32):
transformers' CLIPImageProcessor (PickScore's laion processor settings) on a 1024x1024 image, and
a real-size PickScore CLIPModel (ViT-H/14, random weights) image tower at batch 1 and text tower on a
20-token prompt. Environment: /tmp/refenv of tools/parity/README.md.

    /tmp/refenv/bin/python tools/bench/reference_images.py [--threads 2]
"""
import argparse
import math
import time

import numpy as np
import torch
from PIL import Image


def timeit(fn, reps):
    fn()
    t = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t) / reps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--reps', type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel
    ip = CLIPImageProcessor(crop_size={'height': 224, 'width': 224}, size={'shortest_edge': 224}, resample=3)
    arr = (np.arange(1024 * 1024 * 3) * 7 % 251).astype(np.uint8).reshape(1024, 1024, 3)
    img = Image.fromarray(arr)
    t = timeit(lambda: ip(images=[img], return_tensors='pt'), 10)
    print(f'pickscore preprocess 1024x1024: {t * 1e3:.2f} ms')
    cfg = CLIPConfig(
        text_config=dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
                         max_position_embeddings=77, vocab_size=49408, hidden_act='gelu'),
        vision_config=dict(hidden_size=1280, intermediate_size=5120, num_hidden_layers=32, num_attention_heads=16,
                           image_size=224, patch_size=14, hidden_act='gelu'),
        projection_dim=1024, logit_scale_init_value=math.log(100.0))
    m = CLIPModel(cfg).eval()
    px = torch.randn(1, 3, 224, 224)
    ids = torch.tensor([[49406] + [320 + i for i in range(18)] + [49407]])
    with torch.no_grad():
        t = timeit(lambda: m.get_image_features(pixel_values=px), a.reps)
        print(f'pickscore ViT-H/14 image tower batch 1: {t * 1e3:.1f} ms')
        t = timeit(lambda: m.get_text_features(input_ids=ids), a.reps)
        print(f'pickscore ViT-H/14 text tower 20 tokens: {t * 1e3:.1f} ms')


if __name__ == '__main__':
    main()
