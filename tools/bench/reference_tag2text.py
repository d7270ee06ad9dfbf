#!/usr/bin/env python3
"""VBench-Python timings for the work benches/benches/tag2text.rs measures: the real-size Tag2Text
(Swin-B/384, 12-layer BERTs, vocab 30524; random weights, built as make_fixtures_tag2text.py
--full-size builds it) on CPU, fp32, one 384x384 frame:
  * visual_encoder                              ("swin-b")
  * vision_multi (mlr) + fc                     ("tag head")
  * tag_encoder + text_decoder.generate(num_beams=3, max_length=30, min_length=30)
  * VBench's Tag2Text_Caption.generate(frame, min_length=30)   ("whole frame")
and one 16-frame scene video: VBench's generate on the (16, 3, 384, 384) batch (= scene.get_caption,
which runs all 16 frames and 48 beam rows, re-running the whole sequence at every step), min_length=30
as in the Rust bench (worst case: no caption ends early). Min of RUNS (default 3; VIDEO_RUNS default 2)
runs after one warm-up (none for the video); the load average is printed with each figure.
RUNS=0 / VIDEO_RUNS=0 skip the per-frame / video cases (the per-frame ones need about 3 GB, the
video about 5 GB: wrap that in flock /tmp/bigmem.lock).
Usage:
  PYTHONPATH=fixtures-work/vbench_wheel /tmp/t2tenv/bin/python tools/bench/reference_tag2text.py
"""
import os
import sys
import time

import torch
import transformers

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "parity"))
import make_fixtures_tag2text as mf  # noqa: E402


def load():
    return " ".join(open("/proc/loadavg").read().split()[:3])


def timeit(fn, n=3, warm=True):
    if warm:
        fn()
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return min(ts) * 1000, sum(ts) / len(ts) * 1000


def main():
    torch.set_num_threads(int(os.environ.get("THREADS", "2")))
    import tempfile
    d = tempfile.mkdtemp()
    vpath = os.path.join(d, "vocab.txt")
    with open(vpath, "w") as f:
        f.write("\n".join(mf.vocab()) + "\n")
    tok = transformers.BertTokenizer(vpath)
    tok.add_special_tokens({'bos_token': '[DEC]'})
    tok.add_special_tokens({'additional_special_tokens': ['[ENC]']})
    tok.enc_token_id = tok.additional_special_tokens_ids[0]
    mf.set_full_size(30524)
    m = mf.build(tok)
    img = torch.randn(1, 3, 384, 384)

    def tag():
        with torch.no_grad():
            e = m.visual_encoder(img)
            le = m.label_embed.weight.unsqueeze(0)
            y = m.vision_multi(encoder_embeds=le, encoder_hidden_states=e,
                               encoder_attention_mask=torch.ones(e.shape[:-1], dtype=torch.long),
                               return_dict=False, mode='mlr')
            return m.fc(y[0])

    with torch.no_grad():
        emb = m.visual_encoder(img)
    ids = torch.tensor([[30523] + list(range(2000, 2020)) + [102] + [0] * 18])
    mask = (torch.arange(40) < 22).long().unsqueeze(0)

    def cap():
        with torch.no_grad():
            e3 = emb.repeat_interleave(3, 0)
            t = m.tag_encoder(ids.repeat_interleave(3, 0), attention_mask=mask.repeat_interleave(3, 0),
                              encoder_hidden_states=e3, return_dict=True).last_hidden_state
            return m.text_decoder.generate(input_ids=torch.tensor([[30522, 1037, 3861, 1997]]), max_length=30,
                                           min_length=30, num_beams=3, eos_token_id=102, pad_token_id=0,
                                           repetition_penalty=1.0, encoder_hidden_states=t,
                                           encoder_attention_mask=None)

    def swin():
        with torch.no_grad():
            return m.visual_encoder(img)

    def head():
        with torch.no_grad():
            le = m.label_embed.weight.unsqueeze(0)
            y = m.vision_multi(encoder_embeds=le, encoder_hidden_states=emb,
                               encoder_attention_mask=torch.ones(emb.shape[:-1], dtype=torch.long),
                               return_dict=False, mode='mlr')
            return m.fc(y[0])

    def frame():
        with torch.no_grad():
            return m.generate(img, tag_input=None, return_tag_predict=True, min_length=30)

    video = torch.randn(16, 3, 384, 384)

    def vid():
        with torch.no_grad():
            return m.generate(video, tag_input=None, return_tag_predict=True, min_length=30)

    runs = int(os.environ.get("RUNS", "3"))
    print(f"transformers {transformers.__version__}, torch {torch.__version__}, threads {torch.get_num_threads()}")
    for name, fn in [("swin-b", swin), ("tag head", head), ("swin-b + tag head", tag),
                     ("tag encoder + beam search to 30", cap), ("whole frame (generate, min_length=30)", frame)]:
        if runs > 0:
            print("%s: min %.1f ms, mean %.1f ms" % ((name,) + timeit(fn, runs)), f"[load {load()}]", flush=True)
    vr = int(os.environ.get("VIDEO_RUNS", "2"))  # 0: skip (the 16-frame batch needs > 4 GB)
    if vr > 0:
        print("16-frame scene video (generate on 16 frames, min_length=30): min %.1f ms, mean %.1f ms"
              % timeit(vid, vr, warm=False), f"[load {load()}]", flush=True)


if __name__ == "__main__":
    main()
