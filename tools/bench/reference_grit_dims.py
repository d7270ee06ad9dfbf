"""VBench-Python timings for what benches/benches/grit_dims.rs measures: the GRiT dimensions'
resize of a 1080p frame to 720x1280 (torchvision Resize on a float tensor, antialiased, as
object_class / multiple_objects / spatial_relationship; cv2.resize INTER_LINEAR on uint8, as
color) and spatial_relationship's check_generate on 100 detections.

  /tmp/refenv/bin/python tools/bench/reference_grit_dims.py   (PYTHONPATH with the VBench wheel)
"""
import time

import cv2
import numpy as np
import torch
from torchvision import transforms

torch.set_num_threads(2)
h, w = 1080, 1920
frame = ((np.arange(h * w * 3) * 7) % 251).astype(np.uint8).reshape(h, w, 3)


def bench(name, fn, n=10):
    fn()
    t = time.perf_counter()
    for _ in range(n):
        fn()
    print(f"{name}: {(time.perf_counter() - t) / n * 1000:.2f} ms")


t1 = torch.Tensor(frame[None]).permute(0, 3, 1, 2)
bench("to_float (torch.Tensor + permute)", lambda: torch.Tensor(frame[None]).permute(0, 3, 1, 2).contiguous())
bench("torch_resize_aa_to_720p", lambda: transforms.Resize(size=(720, 1280))(t1))
bench("cv2_resize_to_720p", lambda: cv2.resize(frame, (1280, 720), interpolation=cv2.INTER_LINEAR))
try:
    from vbench.spatial_relationship import check_generate
    names = ["car", "dog", "person", "cat"]
    pred = [[[names[i % 4], [int(x), int(x / 2), int(x + 50.5), int(x / 2 + 40.25)]]
             for i, x in ((i, float(i * 13 % 600)) for i in range(100))]]
    key = {"object_a": "car", "object_b": "dog", "relationship": "on the left of"}
    bench("spatial_frame_score_100_instances", lambda: check_generate(key, pred), n=3)
except ImportError as e:
    print("vbench not importable:", e)
