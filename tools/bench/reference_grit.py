#!/usr/bin/env python3
"""VBench-Python timings for the same work as `cargo bench -p vbench-benches --bench grit` (CPU, fp32):
GRiT-B's detection heads (CenterNet head + proposals, 3-stage cascade, post-processing; the model
built by VBench's `setup_cfg` path, random init) on random p3..p7 shaped as for a 512x512 and a
1280x720 frame (text decoder stubbed out, as the Rust bench has none), and the 14x14
object-feature pooling of 50 boxes.

    PYTHONPATH=/tmp/detectron2_src:fixtures-work/vbench_wheel /tmp/refenv/bin/python tools/bench/reference_grit.py
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "parity"))
import make_fixtures_grit as mfg  # noqa: E402  (boto3 stub, tokenizer patch, cfg builder)

import torch  # noqa: E402


def timeit(fn, reps):
    fn()
    t = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t) / reps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    import tempfile
    vpath = os.path.join(tempfile.mkdtemp(), "vocab.txt")
    mfg.write_vocab(vpath)
    mfg.patch_environment(vpath, tiny=False)
    from detectron2.modeling import build_model
    from detectron2.structures import Boxes, ImageList
    model = build_model(mfg.build_cfg("ObjectDet", tiny=False)).eval()
    torch.manual_seed(0)
    for h, w in [(512, 512), (720, 1280)]:
        hp, wp = -(-h // 32) * 32, -(-w // 32) * 32
        feats, fh, fw = {}, hp // 8, wp // 8
        for lvl in range(3, 8):
            feats[f"p{lvl}"] = torch.randn(1, 256, fh, fw)
            fh, fw = -(-fh // 2), -(-fw // 2)
        images = ImageList(torch.zeros(1, 3, hp, wp), [(h, w)])
        rh = model.roi_heads
        # time the detection part only (the Rust bench has no text decoder either): the text
        # decoder returns empty descriptions
        rh.text_decoder.forward = lambda batch: {
            "predictions": torch.zeros(batch["object_features"].shape[0], 1, dtype=torch.long),
            "logprobs": torch.zeros(batch["object_features"].shape[0])}

        def heads():
            with torch.no_grad():
                props, _ = model.proposal_generator(images, feats, None)
                return rh._forward_box(feats, props, task="ObjectDet")
        t = timeit(heads, a.reps)
        print(f"centernet+cascade+post {h}x{w}: {t * 1000:.1f} ms")
        boxes = []
        for i in range(50):
            x, y, s = float(i * 23 % w), float(i * 37 % h), 16.0 + (i * 13 % 300)
            boxes.append([x, y, x + s, y + 0.8 * s])
        boxes = Boxes(torch.tensor(boxes))
        fl = [feats[f"p{lvl}"] for lvl in (3, 4, 5)]

        def pool():
            with torch.no_grad():
                return rh.object_feat_pooler(fl, [boxes])
        t = timeit(pool, a.reps)
        print(f"object-feature pooling 50 boxes {h}x{w}: {t * 1000:.1f} ms")


if __name__ == "__main__":
    main()
