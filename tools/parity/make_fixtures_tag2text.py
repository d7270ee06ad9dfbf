#!/usr/bin/env python3
"""Parity fixtures for Tag2Text / `scene` (tests/fixtures/parity_tag2text/), from VBench 0.1.5's own code.

A tiny Tag2Text_Caption that is structurally identical to VBench's (Swin with shifted windows and
patch merging at 384 px, the q2l tagging head over the real 3429-tag list, tag encoder with layers
0-1 tied to vision_multi, caption decoder with its LM head) is built with fixed random weights and
run through VBench's own `Tag2Text_Caption.generate` on a batch of 16 frames, i.e. exactly
`vbench.scene.get_caption`. The decoder's beam search is whatever transformers the interpreter has:
run once with transformers 4.33.2 (VBench's pin) and once with 4.46.3:

  PYTHONPATH=fixtures-work/vbench_wheel /tmp/t2tenv/bin/python tools/parity/make_fixtures_tag2text.py
  PYTHONPATH=fixtures-work/vbench_wheel /tmp/refenv/bin/python tools/parity/make_fixtures_tag2text.py

Both write the same weights (fixed seed) and add `outputs_<version>.json`.

Deviations from `tag2text_caption()` (only in construction, not in maths):
  * sizes are shrunk (the constructor hard-codes 768/3429/`bert-base-uncased`), so the object is
    built with `Tag2Text_Caption.__new__` and its submodules are assigned here with the same classes
    (`SwinTransformer`, `med.BertModel`, `med.BertLMHeadModel`, `GroupWiseLinear`), then
    `del_selfattention()` and `tie_encoder_decoder_weights(tag_encoder, vision_multi, '', ' ')` as in
    `__init__`;
  * the tokenizer is `BertTokenizer` over a small WordPiece vocab written here (BERT's special-token
    ids 0/100-103 kept), plus `[DEC]`/`[ENC]` exactly as `init_tokenizer` adds them; the Rust side
    reads the `tokenizer.json` that `BertTokenizerFast` writes from the same vocab.
  * weights: normal(0, 0.1) (LayerNorm weight 1 + normal(0, 0.1)); tag bias `fc.b` spread over
    [-4.2, -0.2] so some tags pass 0.7; LM bias normal(0, 1) with EOS raised and [unusedN] at -20, so beams finish early.
Frames: a deterministic uint8 pattern (the Rust test computes the same), through VBench's
`tag2text_transform(384)`.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
import transformers
from safetensors.torch import save_file

from vbench.utils import tag2text_transform
from vbench.third_party.tag2Text import tag2text as t2t
from vbench.third_party.tag2Text.med import BertConfig, BertModel, BertLMHeadModel
from vbench.third_party.tag2Text.swin_transformer import SwinTransformer
from vbench import scene as vb_scene

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fixtures", "parity_tag2text")

SWIN = dict(image_res=384, patch_size=4, in_chans=3, embed_dim=8, depths=[2, 2, 2, 2],
            num_heads=[1, 2, 2, 4], window_size=12, mlp_ratio=4.0)
HIDDEN, LAYERS, HEADS, FF, MAXPOS = 16, 3, 2, 32, 64
Q2L_HEADS, Q2L_LAYERS = 4, 2
N_FRAMES = 16

WORDS = ("a picture of | the man woman dog cat car street room table sky water tree grass people "
         "person white black red blue green sitting standing on in with and at near front view "
         "building road city field beach park kitchen house light snow mountain river boat train "
         "bus bird horse sheep cow bear zebra giraffe flower window door wall floor").split()
PIECES = ["##s", "##ing", "##ed", "##er", "##y", "##a", "##e", "##o", "##n", "##t"]


def vocab():
    v = ["[PAD]"] + [f"[unused{i}]" for i in range(99)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    v += WORDS + PIECES + list("abcdefghijklmnopqrstuvwxyz") + [f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz"]
    seen, out = set(), []
    for t in v:
        if t not in seen:
            seen.add(t)
            out.append(t)
    return out


def frame(f):
    """Deterministic uint8 (384, 384, 3) RGB frame number f (same formula in the Rust test)."""
    y, x = np.meshgrid(np.arange(384), np.arange(384), indexing="ij")
    chans = [((x * (3 + f) + y * (5 + 2 * c) + 40 * c + 29 * f) // (1 + (f % 3))) % 256 for c in range(3)]
    return np.stack(chans, -1).astype(np.uint8)


def set_full_size(vocab_size):
    """Real-size architecture (config_swinB_384.json, med_config.json, q2l_config.json)."""
    global SWIN, HIDDEN, LAYERS, HEADS, FF, MAXPOS, VOCAB
    SWIN = dict(SWIN, embed_dim=128, depths=[2, 2, 18, 2], num_heads=[4, 8, 16, 32])
    HIDDEN, LAYERS, HEADS, FF, MAXPOS = 768, 12, 12, 3072, 512
    VOCAB = vocab_size


VOCAB = None


def build(tok):
    torch.manual_seed(0)
    m = t2t.Tag2Text_Caption.__new__(t2t.Tag2Text_Caption)
    torch.nn.Module.__init__(m)
    m.visual_encoder = SwinTransformer(img_size=384, patch_size=4, in_chans=3, embed_dim=SWIN["embed_dim"],
                                       depths=SWIN["depths"], num_heads=SWIN["num_heads"],
                                       window_size=SWIN["window_size"], mlp_ratio=4., qkv_bias=True,
                                       drop_rate=0.0, drop_path_rate=0.1, ape=False, patch_norm=True,
                                       use_checkpoint=False)
    vision_width = SWIN["embed_dim"] * 8
    m.tokenizer = tok
    med = dict(hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS, intermediate_size=FF,
               vocab_size=VOCAB or len(tok), max_position_embeddings=MAXPOS, layer_norm_eps=1e-12, hidden_act="gelu",
               pad_token_id=0, type_vocab_size=2, add_cross_attention=True, hidden_dropout_prob=0.1,
               attention_probs_dropout_prob=0.1)
    dec = BertConfig(**med)
    dec.encoder_width = HIDDEN
    m.text_decoder = BertLMHeadModel(config=dec)
    enc = BertConfig(**med)
    enc.encoder_width = vision_width
    m.tag_encoder = BertModel(config=enc, add_pooling_layer=False)
    m.prompt = "a picture of "
    m.prompt_length = len(tok(m.prompt).input_ids) - 1
    m.threshold = 0.7
    m.num_class = 3429
    q2l = BertConfig(**dict(med, num_attention_heads=Q2L_HEADS, num_hidden_layers=Q2L_LAYERS))
    q2l.encoder_width = vision_width
    m.vision_multi = BertModel(config=q2l, add_pooling_layer=False)
    m.label_embed = torch.nn.Embedding(3429, HIDDEN)
    m.fc = t2t.GroupWiseLinear(3429, HIDDEN, bias=True)
    m.del_selfattention()
    g = torch.Generator().manual_seed(1234)
    full = VOCAB is not None
    # tiny: std 0.1; real size: std 0.02 (the trunc_normal(.02) scale of Swin/BERT init, so
    # attention stays soft as in a trained model instead of saturating)
    std = 0.02 if full else 0.1
    with torch.no_grad():
        for name, p in m.named_parameters():
            if name.endswith("LayerNorm.weight") or name.endswith("norm.weight") or ".norm" in name and name.endswith("weight"):
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(std * torch.randn(p.shape, generator=g))
        if full:
            # logits = bias + N(0, ~0.55): a few tags per frame pass 0.7 (bias pushed away from
            # the threshold afterwards by craft_tag_bias)
            m.fc.b.copy_(torch.rand(m.fc.b.shape, generator=g) * 4 - 4.0)
        else:
            m.fc.b.copy_(torch.rand(m.fc.b.shape, generator=g) * 4 - 4.2)
            m.fc.W.mul_(2.0)
        bias = m.text_decoder.cls.predictions.bias
        bias.copy_(torch.randn(bias.shape, generator=g))
        bias[1:100] = -20.0  # no [unusedN] in captions
        bias[tok.sep_token_id] += 4.0
        if full:
            bias[len(tok):] = -100.0  # ids without a token in the small vocab never win
        m.text_decoder.cls.predictions.decoder.weight.mul_(10.0)
    t2t.tie_encoder_decoder_weights(m.tag_encoder, m.vision_multi, '', ' ')
    m.tag_array = t2t.tra_array
    return m.eval()


FULL_SIZE_CLIPS = ["clip_a.mp4", "clip_b.mp4"]


class TokSpy:
    """Delegates to the tokenizer; records the tag strings generate() tokenises (its first list call;
    the second is the prompt)."""

    def __init__(self, tok, store):
        self._tok, self._store = tok, store

    def __getattr__(self, name):
        return getattr(self._tok, name)

    def __call__(self, text, *a, **kw):
        if isinstance(text, list) and "tag_strings" not in self._store:
            self._store["tag_strings"] = list(text)
        return self._tok(text, *a, **kw)


THRESH_LOGIT = float(np.log(0.7 / 0.3))


def clip_batch(name, transform):
    """VBench's scene() input for a parity clip: decord 384x384, 16 middle frames, tag2text_transform."""
    from vbench.utils import load_video
    path = os.path.join(ROOT, "tests", "fixtures", "parity", "clips", name)
    arr = load_video(path, num_frames=16, return_tensor=False, width=384, height=384)
    return path, torch.cat([transform(a).unsqueeze(0) for a in arr])


def tag_logits(m, batch):
    emb = m.visual_encoder(batch)
    le = m.label_embed.weight.unsqueeze(0).repeat(batch.shape[0], 1, 1)
    y = m.vision_multi(encoder_embeds=le, encoder_hidden_states=emb,
                       encoder_attention_mask=torch.ones(emb.size()[:-1], dtype=torch.long),
                       return_dict=False, mode='mlr')
    return m.fc(y[0])


def craft_tag_bias(m, batches, band=0.05):
    """Shift fc.b[k] down (GroupWiseLinear: class k's logit depends on b[k] only) until no logit of
    the frames that matter lies within `band` of logit(0.7), so float drift cannot flip a tag."""
    with torch.no_grad():
        lg = torch.cat([tag_logits(m, b) for b in batches])
        shift = torch.zeros(lg.shape[1])
        for _ in range(100):
            bad = ((lg + shift - THRESH_LOGIT).abs() < band).any(0)
            if not bad.any():
                break
            shift[bad] -= band
        m.fc.b.add_(shift.unsqueeze(0))
        n_pass = ((lg + shift) > THRESH_LOGIT).sum(1).tolist()
    print("crafted tag bias: shifted", int((shift != 0).sum()), "classes; tags passing per frame", n_pass)


def decord_384(out_dir):
    """decord 0.6.0 `VideoReader(path, width=384, height=384)` on the shared parity clips: per-frame
    byte sums of every frame, the whole first frame of clip_a, and VBench's 16 'middle' indices."""
    import decord
    from vbench.utils import get_frame_indices
    clips = os.path.join(ROOT, "tests", "fixtures", "parity", "clips")
    sums, first, idx = {}, None, {}
    for name in sorted(os.listdir(clips)):
        vr = decord.VideoReader(os.path.join(clips, name), width=384, height=384, num_threads=1)
        arr = vr.get_batch(list(range(len(vr)))).asnumpy().astype(np.uint8)
        sums[name] = [int(x) for x in arr.reshape(len(vr), -1).astype(np.int64).sum(1)]
        idx[name] = [int(i) for i in get_frame_indices(16, len(vr), sample="middle")]
        if name == "clip_a.mp4":
            first = torch.from_numpy(arr[0].copy())
    save_file({"clip_a_frame0": first}, os.path.join(out_dir, "decord384.safetensors"))
    with open(os.path.join(out_dir, "decord384.json"), "w") as f:
        json.dump({"frame_sums": sums, "middle_indices": idx}, f, indent=1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=OUT)
    ap.add_argument("--full-size", action="store_true",
                    help="real-size Swin-B/BERT (vocab 30524) with the same random init; write to --out (not committed)")
    args = ap.parse_args()
    if args.full_size:
        set_full_size(30524)
    os.makedirs(args.out, exist_ok=True)
    vpath = os.path.join(args.out, "vocab.txt")
    with open(vpath, "w") as f:
        f.write("\n".join(vocab()) + "\n")
    tok = transformers.BertTokenizer(vpath)
    tok.add_special_tokens({'bos_token': '[DEC]'})
    tok.add_special_tokens({'additional_special_tokens': ['[ENC]']})
    tok.enc_token_id = tok.additional_special_tokens_ids[0]
    try:
        fast = transformers.BertTokenizerFast(vpath)
        fast.backend_tokenizer.save(os.path.join(args.out, "tokenizer.json"))
    except Exception as e:  # tokenizers too old in one env: the other one writes it
        print("tokenizer.json not written:", e)

    try:
        if not args.full_size:
            decord_384(args.out)
    except ImportError as e:
        print("decord frames not written:", e)

    torch.set_num_threads(int(os.environ.get("THREADS", "2")))
    model = build(tok)
    transform = tag2text_transform(384)
    frames = [frame(f) for f in range(N_FRAMES)]
    batch = torch.cat([transform(fr).unsqueeze(0) for fr in frames])
    clip_batches = {n: clip_batch(n, transform) for n in FULL_SIZE_CLIPS} if args.full_size else {}
    if args.full_size:
        craft_tag_bias(model, [batch[:6]] + [b[:6] for _, b in clip_batches.values()])
    sd = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()
          if "relative_position_index" not in k and "attn_mask" not in k and "position_ids" not in k}
    save_file(sd, os.path.join(args.out, "model.safetensors"))
    del sd

    with torch.no_grad():
        emb = model.visual_encoder(batch)
        label_embed = model.label_embed.weight.unsqueeze(0).repeat(N_FRAMES, 1, 1)
        atts = torch.ones(emb.size()[:-1], dtype=torch.long)
        mlr = model.vision_multi(encoder_embeds=label_embed, encoder_hidden_states=emb,
                                 encoder_attention_mask=atts, return_dict=False, mode='mlr')
        logits = model.fc(mlr[0])
        # capture the tag-encoder output and the generate() result of the real call
        captured = {}
        orig_gen = model.text_decoder.generate

        def spy(*a, **kw):
            captured["tag_states"] = kw["encoder_hidden_states"].clone()
            captured["input_ids"] = kw["input_ids"].clone()
            out = orig_gen(*a, **kw, output_scores=True, return_dict_in_generate=True)
            captured["sequences"] = out.sequences.clone()
            captured["sequences_scores"] = out.sequences_scores.clone()
            return out.sequences

        model.text_decoder.generate = spy
        if args.full_size:
            # the tag strings as generate() hands them to its tokenizer (no second generate)
            real_tok = model.tokenizer
            model.tokenizer = TokSpy(real_tok, captured)
            captions = vb_scene.get_caption(model, batch)
            model.tokenizer = real_tok
            # generate(return_tag_predict=True) returns tag_input[0:16] of the beam-repeated list
            tags = captured["tag_strings"][:N_FRAMES]
        else:
            captions = vb_scene.get_caption(model, batch)
            _, tags = model.generate(batch, tag_input=None, return_tag_predict=True)
        model.text_decoder.generate = orig_gen

    # VBench's own scene() on the shared parity clips (decord 384, 16 middle frames), keys chosen
    # from the clips' own captions so that some frames match.
    from vbench.utils import load_video
    clips = os.path.join(ROOT, "tests", "fixtures", "parity", "clips")
    videos = []
    for name in ([] if args.full_size else sorted(os.listdir(clips))):
        path = os.path.join(clips, name)
        arr = load_video(path, num_frames=16, return_tensor=False, width=384, height=384)
        vt = torch.cat([transform(a).unsqueeze(0) for a in arr])
        with torch.no_grad():
            caps = vb_scene.get_caption(model, vt)
        words = [w for w in caps[0].split(" ") if w] + [w for w in caps[15].split(" ") if w]
        for key in sorted({words[0], words[-1], "zebra"}):
            vd = [{"prompt": key, "video_list": [path], "auxiliary_info": {"scene": {"scene": key}}}]
            with torch.no_grad():
                agg, res = vb_scene.scene(model, vd, "cpu")
            videos.append({"clip": name, "key": key, "captions": caps, "record": res[0], "aggregate": agg})
    # real size: VBench's scene() once per clip (key "street"); the other keys' records are
    # VBench's check_generate on the captions that scene() produced (captured), same formula.
    for name, (path, _) in clip_batches.items():
        got = {}
        orig_cap = vb_scene.get_caption

        def cap_spy(mdl, video):
            got["caps"] = orig_cap(mdl, video)
            return got["caps"]

        vb_scene.get_caption = cap_spy
        vd = [{"prompt": "street", "video_list": [path], "auxiliary_info": {"scene": {"scene": "street"}}}]
        with torch.no_grad():
            agg, res = vb_scene.scene(model, vd, "cpu")
        vb_scene.get_caption = orig_cap
        caps = got["caps"]
        videos.append({"clip": name, "key": "street", "captions": caps, "record": res[0], "aggregate": agg,
                       "via": "scene()"})
        words = sorted({w for c in caps for w in c.split(" ") if w})
        for key in [w for w in words if w in ("sky", "beach", "kitchen", "house", "mountain", "river")] + ["zebra"]:
            n = vb_scene.check_generate({"scene": key}, caps)
            rec = {"video_path": path, "video_results": n / len(caps), "success_frame_count": n,
                   "frame_count": len(caps)}
            videos.append({"clip": name, "key": key, "captions": caps, "record": rec, "aggregate": n / len(caps),
                           "via": "check_generate"})
        print(name, caps)
    probs = torch.sigmoid(logits)
    margin = float((probs - 0.7).abs().min())
    seqs = captured["sequences"].tolist()
    strip = lambda s: [t for t in s if t != tok.pad_token_id]
    ver = transformers.__version__
    keys = [captions[0].split(" ")[0] if captions[0] else "x",
            (captions[3].split(" ")[-1] + " " + captions[0].split(" ")[0]) if captions[3] and captions[0] else "y",
            "zebra crossing", "a", "white", "street white", "on beach", "streetm"]
    values = {k: vb_scene.check_generate({"scene": k}, captions) / len(captions) for k in keys}
    out = {
        "transformers": ver,
        "prompt_ids": captured["input_ids"][0].tolist(),
        "captions": captions,
        # VBench's returned list is tag_input[0:16] of the beam-repeated list: entry 3j is frame j's tags
        "tags_per_frame": [tags[3 * j] for j in range(6)],
        "sequences": [strip(s) for s in seqs],
        "sequences_scores": captured["sequences_scores"].tolist(),
        "tag_prob_margin": margin,
        "tag_encoder_ids": tok(tags, padding='max_length', truncation=True, max_length=40).input_ids,
        "scene_values": values,
        "videos": videos,
        "config": {"swin": SWIN, "hidden": HIDDEN, "layers": LAYERS, "heads": HEADS, "ff": FF,
                   "max_pos": MAXPOS, "q2l_heads": Q2L_HEADS, "q2l_layers": Q2L_LAYERS, "vocab": VOCAB or len(tok)},
    }
    short = "4.33" if ver.startswith("4.33") else "4.46"
    with open(os.path.join(args.out, f"outputs_{short}.json"), "w") as f:
        json.dump(out, f, indent=1)
    # tensors of the 6 frames that matter (spec §2.5.5) and the tag-encoder rows of frames 0..5 (rows 0, 3, ..., 15)
    rows = torch.arange(0, 18, 3)
    save_file({"image_embeds": emb[:6].contiguous(), "tag_logits": logits[:6].contiguous(),
               "tag_states": captured["tag_states"][rows].contiguous()},
              os.path.join(args.out, f"tensors_{short}.safetensors"))
    print(ver, "margin", margin, "captions", captions[:7], "tags", tags[:6], values)


if __name__ == "__main__":
    main()
