"""Fixtures for the four GRiT dimensions' own logic (tests/tests/semantic_dims.rs).

VBench 0.1.5's own per-video functions (`object_class.object_class`,
`multiple_objects.multiple_objects`, `color.color`, `spatial_relationship.spatial_relationship`,
which call their `get_dect_from_grit` and `check_generate`, and `get_position_score`) are run
on scripted detections: `load_video` is replaced by a function that returns tiny frames whose
pixel (0, 0, 0) is the stream index of the frame (chosen by VBench's own `get_frame_indices`),
and the GRiT model by a fake whose `run_caption_tensor` builds detectron2 `Instances` from the
script and goes through VBench's own `dense_pred_to_caption_tuple` (so boxes are truncated by
the same `int(np.float32)`).

Also written: torchvision 0.20.1 `Resize` on float tensors (antialiased bilinear) for random
sizes, and decord + `Resize` / `cv2.resize` on a real decoded clip whose short side is > 768
(sampled pixels, so the fixture stays small).

Run (from the repository root):
  PYTHONPATH=/tmp/detectron2_src:/work/main/fixtures-work/vbench_wheel /tmp/refenv/bin/python \
      tools/parity/make_fixtures_semantic.py
"""
import json
import os
import random
import subprocess
import sys

import numpy as np
import torch
from safetensors.numpy import save_file

OUT = os.path.join(os.path.dirname(__file__), "../../tests/fixtures/parity_semantic")
os.makedirs(OUT, exist_ok=True)

import vbench.object_class as oc
import vbench.multiple_objects as mo
import vbench.color as col
import vbench.spatial_relationship as sp
from vbench.utils import get_frame_indices
from detectron2.structures import Boxes, Instances
from vbench.third_party.grit_src.image_dense_captions import (
    ObjDescription,
    dense_pred_to_caption_tuple,
)

# ---------------------------------------------------------------- scripted videos
rng = random.Random(1234)
DET_WORDS = ["car", "dog", "cat", "person", "bicycle", "bird", "chair", "vase", "teddy bear", "tv"]
CAPTIONS = [
    "a red car", "a white dog", "colored wall", "the grey cat", "a gray chair", "silver spoon",
    "blue sky", "tired man", "a green tree", "an orange slice", "black and white photo",
    "a man", "wooden table", "covered bed", "yellow flower", "purple pink shirt", "",
]


def rand_box(w=640, h=480):
    x0 = rng.uniform(0, w - 20)
    y0 = rng.uniform(0, h - 20)
    x1 = rng.uniform(x0 + 1, min(w, x0 + 300))
    y1 = rng.uniform(y0 + 1, min(h, y0 + 300))
    b = [x0, y0, x1, y1]
    if rng.random() < 0.3:  # integer-valued and .999 edges
        b = [float(int(v)) + rng.choice([0.0, 0.999, 0.5]) for v in b]
    return [float(np.float32(v)) for v in b]


def find_iou_01_box():
    """Two integer boxes, side by side with |dx| > |dy|, whose IoU is exactly 0.1."""
    for w2 in range(1, 40):
        for ox in range(1, 20):
            a = [0, 0, 20, 10]
            b = [20 - ox, 0, 20 - ox + w2, 10]
            r = sp.get_position_score("on the left of", a, b)
            inter = max(0, min(a[2], b[2]) - max(a[0], b[0])) * 10
            union = 200 + w2 * 10 - inter
            if inter / union == 0.1 and r == 1.0 and isinstance(r, float):
                return a, b
    raise SystemExit("no IoU-0.1 pair")


IOU_A, IOU_B = find_iou_01_box()


def inst(det, cap, box):
    return {"det": det, "cap": cap, "box": [float(np.float32(v)) for v in box]}


def random_frame(words):
    n = rng.choice([0, 1, 1, 2, 2, 3, 4])
    return [inst(rng.choice(words), rng.choice(CAPTIONS), rand_box()) for _ in range(n)]


videos = []


def video(name, vlen, frames):
    """frames: {stream index: [instances]} (missing → no detection)."""
    videos.append({"path": f"{name}.mp4", "vlen": vlen,
                   "frames": {str(k): v for k, v in frames.items()}})


# crafted
video("crafted_spatial", 16, {
    0: [inst("car", "", [0, 0, 10, 10]), inst("dog", "", [20, 20, 30, 30])],  # |dx| == |dy| → 0
    1: [inst("car", "", IOU_A), inst("dog", "", IOU_B)],  # IoU exactly 0.1 → 0.1/iou = 1.0
    2: [inst("car", "", [0, 0, 10, 10]), inst("car", "", [50, 2, 60, 12])],  # same class pair
    3: [inst("dog", "", [0.9, 0.9, 10.9, 10.9]), inst("car", "", [5.5, 40.2, 15.99, 50.0])],
    4: [inst("car", "", [0, 0, 30, 30]), inst("dog", "", [10, 5, 40, 35])],  # IoU ≥ 0.1 → 0.1/iou
    5: [inst("car", "", [0, 0, 10, 10])],  # one box → 0
    6: [],
    7: [inst("cat", "", [0, 0, 10, 10]), inst("dog", "", [100, 0, 110, 10]),
        inst("car", "", [0, 100, 10, 110]), inst("dog", "", [5, 5, 15, 15])],
    8: [inst("car", "", [0, 0, 0.5, 10]), inst("dog", "", [30, 0, 40, 10])],  # zero-width int box
})
video("crafted_color", 20, {
    i: [inst("car", c, rand_box()), inst("dog", "a red dog", rand_box())]
    for i, c in enumerate(["colored wall", "a blue car", "the car", "a grey car", "silver car",
                           "", "a red car", "tired", "covered", "gray"] * 2)
})
video("color_instance0_not_object", 16, {
    i: [inst("dog", "a red car", rand_box()), inst("car", "a red car", rand_box())] for i in range(16)
})
video("no_detections", 30, {})
video("short_8", 8, {i: [inst("car", "a red car", rand_box()), inst("dog", "white dog", rand_box())]
                     for i in range(8)})
video("one_frame", 1, {0: [inst("car", "red", [1, 2, 30, 40]), inst("dog", "x", [50, 2, 90, 40])]})
video("multi_same_frame", 48, {
    i: ([inst("bird", "a bird", rand_box()), inst("cat", "cat", rand_box())] if i % 3 == 1 else
        [inst("bird", "a bird", rand_box())] if i % 2 else [inst("cat", "c", rand_box())])
    for i in range(48)
})
for k in range(8):
    vlen = rng.choice([5, 16, 17, 30, 49, 120])
    video(f"random_{k}", vlen, {i: random_frame(DET_WORDS) for i in range(vlen) if rng.random() < 0.9})

VBY = {v["path"]: v for v in videos}


def fake_load_video(video_path, num_frames=None, return_tensor=True, **kw):
    v = VBY[video_path]
    idx = get_frame_indices(num_frames, v["vlen"], sample="middle")
    buf = np.zeros((len(idx), 4, 4, 3), dtype=np.uint8)
    for k, i in enumerate(idx):
        buf[k, 0, 0, 0] = i
    if return_tensor:
        return torch.Tensor(buf).permute(0, 3, 1, 2)
    return buf


class FakeGrit:
    def __init__(self, dense):
        self.dense = dense
        self.calls = 0

    def run_caption_tensor(self, frame):
        self.calls += 1
        i = int(frame[0, 0, 0])
        v = self.current
        ins = v["frames"].get(str(i), [])
        r = Instances((480, 640))
        r.pred_boxes = Boxes(torch.tensor([x["box"] for x in ins], dtype=torch.float32).reshape(-1, 4))
        key = "cap" if self.dense else "det"
        r.pred_object_descriptions = ObjDescription([x[key] for x in ins])
        r.det_obj = ObjDescription([x["det"] for x in ins])
        return dense_pred_to_caption_tuple({"instances": r}), None


def run_dim(mod, fn, dense, infos):
    """Runs VBench's per-video function over `infos` (one per video)."""
    mod.load_video = fake_load_video
    model = FakeGrit(dense)
    # the fake needs to know the video: wrap load_video to set it
    def lv(path, *a, **k):
        model.current = VBY[path]
        return fake_load_video(path, *a, **k)
    mod.load_video = lv
    try:
        agg, res = fn(model, infos, "cpu")
        return {"aggregate": agg, "video_results": res}
    except ZeroDivisionError as e:
        return {"error": f"ZeroDivisionError: {e}"}


def pyjson(x):
    """json.dumps the way VBench writes it (ints stay ints)."""
    return json.loads(json.dumps(x))


cases = {}
oc_keys = ["car", "dog", "teddy bear", "tv", "person"]
cases["object_class"] = []
for key in oc_keys:
    infos = [{"prompt": f"a {key}", "video_list": [v["path"]], "auxiliary_info": {"object": key}}
             for v in videos]
    cases["object_class"].append({"aux": {"object": key},
                                  "out": pyjson(run_dim(oc, oc.object_class, False, infos))})
cases["multiple_objects"] = []
for key in ["car and dog", "bird and cat", "dog and car", "car and car", "teddy bear and tv"]:
    infos = [{"prompt": key, "video_list": [v["path"]], "auxiliary_info": {"object": key}}
             for v in videos]
    cases["multiple_objects"].append({"aux": {"object": key},
                                      "out": pyjson(run_dim(mo, mo.multiple_objects, False, infos))})
cases["color"] = []
for prompt, c in [("a red car", "red"), ("a blue car", "blue"), ("a grey car", "grey"),
                  ("an orange dog", "orange"), ("a white dog", "white"), ("a red bird", "red"),
                  ("a pink zebra", "pink")]:
    infos = [{"prompt": prompt, "video_list": [v["path"]], "auxiliary_info": {"color": c}}
             for v in videos]
    cases["color"].append({"prompt": prompt, "aux": {"color": c},
                           "out": pyjson(run_dim(col, col.color, True, infos))})
cases["spatial_relationship"] = []
for a, b, rel in [("car", "dog", "on the left of"), ("car", "dog", "on the right of"),
                  ("dog", "car", "on the top of"), ("car", "dog", "on the bottom of"),
                  ("cat", "person", "on the left of"), ("car", "car", "on the left of"),
                  ("car", "dog", "next to")]:
    aux = {"spatial_relationship": {"object_a": a, "object_b": b, "relationship": rel}}
    infos = [{"prompt": "p", "video_list": [v["path"]], "auxiliary_info": aux} for v in videos]
    cases["spatial_relationship"].append(
        {"aux": aux, "out": pyjson(run_dim(sp, sp.spatial_relationship, False, infos))})

# get_position_score on random int boxes (incl. ties and zero areas), with Python's types
pos = []
for _ in range(400):
    def ib():
        x0, y0 = rng.randint(0, 60), rng.randint(0, 60)
        return [x0, y0, x0 + rng.randint(0, 40), y0 + rng.randint(0, 40)]
    b1, b2 = ib(), ib()
    rel = rng.choice(["on the left of", "on the right of", "on the top of", "on the bottom of", "near"])
    try:
        s = sp.get_position_score(rel, b1, b2)
        pos.append({"rel": rel, "b1": b1, "b2": b2, "score": s, "type": type(s).__name__})
    except ZeroDivisionError:
        pos.append({"rel": rel, "b1": b1, "b2": b2, "score": None, "type": "ZeroDivisionError"})

# colour's prompt-derived object
derive = []
for prompt, c in [("a red car", "red"), ("an orange cat", "orange"), ("a black and white dog", "white"),
                  ("a banana", "yellow"), ("a red car to the left of a dog", "red"),
                  ("an apple and an orange", "orange"), ("a pink umbrella", "pink")]:
    derive.append({"prompt": prompt, "color": c,
                   "object": prompt.replace('a ', '').replace('an ', '').replace(c, '').strip()})

with open(os.path.join(OUT, "semantic.json"), "w") as f:
    json.dump({"videos": videos, "cases": cases, "position_scores": pos,
               "color_objects": derive, "iou_01_pair": [IOU_A, IOU_B]}, f, indent=1)

# ---------------------------------------------------------------- torch Resize (float, antialias)
import torchvision
from torchvision import transforms

assert torchvision.__version__.startswith("0.20.1"), torchvision.__version__
g = torch.Generator().manual_seed(7)
tensors = {}
meta = []
sizes = [(13, 17, 5, 7), (5, 7, 13, 17), (20, 30, 20, 11), (31, 9, 8, 40), (64, 48, 61, 45),
         (100, 3, 33, 3), (9, 100, 4, 2), (1, 1, 3, 5), (40, 40, 27, 27), (27, 91, 36, 50),
         (77, 53, 76, 54), (96, 128, 90, 120), (30, 17, 29, 29), (11, 64, 11, 7)]
for k, (ih, iw, oh, ow) in enumerate(sizes):
    if k % 2 == 0:
        x = torch.randint(0, 256, (3, ih, iw), generator=g).float()
    else:
        x = torch.rand((3, ih, iw), generator=g) * 255.0
    y = transforms.Resize(size=(oh, ow))(x.unsqueeze(0))[0]
    tensors[f"in_{k}"] = x.numpy()
    tensors[f"out_{k}"] = y.contiguous().numpy()
    meta.append([ih, iw, oh, ow])
save_file(tensors, os.path.join(OUT, "torch_resize.safetensors"))

# ---------------------------------------------------------------- a real clip > 768 px
clip = os.path.join(OUT, "big_784.mp4")
if not os.path.exists(clip):
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc2=size=1040x784:rate=8", "-frames:v", "6", "-pix_fmt", "yuv420p",
                    "-c:v", "libx264", "-crf", "30", "-preset", "veryslow", clip], check=True)
from vbench.utils import load_video
import cv2

vt = load_video(clip, num_frames=16)  # (16,3,H,W) float
_, _, h, w = vt.shape
scale = 720. / min(h, w)
nh, nw = int(scale * h), int(scale * w)
tv = transforms.Resize(size=(nh, nw))(vt)
va = load_video(clip, num_frames=16, return_tensor=False)
cv = np.stack([cv2.resize(va[i], (nw, nh), interpolation=cv2.INTER_LINEAR) for i in range(16)])
srng = np.random.default_rng(3)
samples = []
for fi in [0, 3, 15]:
    ys = srng.integers(0, nh, 3000)
    xs = srng.integers(0, nw, 3000)
    cs = srng.integers(0, 3, 3000)
    iy = srng.integers(0, h, 1000)
    ix = srng.integers(0, w, 1000)
    ic = srng.integers(0, 3, 1000)
    samples.append({
        "frame": fi,
        "pos": np.stack([ys, xs, cs], 1).tolist(),
        "torch": [float(v) for v in tv[fi].numpy()[cs, ys, xs]],
        "cv2": [int(v) for v in cv[fi][ys, xs, cs]],
        "in_pos": np.stack([iy, ix, ic], 1).tolist(),
        "decoded": [int(v) for v in va[fi][iy, ix, ic]],
        "torch_sum": float(tv[fi].double().sum()),
        "cv2_sum": int(cv[fi].astype(np.int64).sum()),
    })
with open(os.path.join(OUT, "resize.json"), "w") as f:
    json.dump({"torch_cases": meta, "clip": "big_784.mp4", "size": [h, w], "new_size": [nh, nw],
               "indices": [int(i) for i in get_frame_indices(16, len(__import__("decord").VideoReader(clip)), sample="middle")],
               "frames": samples}, f)
print("wrote", OUT, "IoU-0.1 pair", IOU_A, IOU_B)
