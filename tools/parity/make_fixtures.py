#!/usr/bin/env python3
"""Generate the parity fixtures under tests/fixtures/parity/ from VBench 0.1.5's own code.

What it does (see tools/parity/README.md for the environment):
  1. makes four tiny clips with the ffmpeg CLI (clips/clip_{a,b,c,d}.mp4);
  2. decodes them with decord 0.6.0 and OpenCV and stores the raw frames (frames.safetensors);
  3. builds tiny, randomly initialised networks that are structurally identical to the real ones
     (OpenAI CLIP ViT-B/32 and ViT-L/14, DINO ViT-B/16, the LAION linear head) and saves them in
     the layouts the Rust loader reads (transformers CLIPModel / ViTModel safetensors + config.json,
     CLIP tokenizer.json, torch .pth for the head);
  4. runs VBench 0.1.5's own dimension functions on them on CPU in fp32 (scores.json);
  5. stores intermediate tensors (tensors.safetensors).

Nothing here re-implements VBench: the scores come from vbench.subject_consistency.subject_consistency,
vbench.background_consistency.background_consistency, vbench.aesthetic_quality.laion_aesthetic (with the
head loaded by vbench.aesthetic_quality.get_aesthetic_model), vbench.appearance_style.appearance_style
and vbench.temporal_flickering.temporal_flickering; the intermediate tensors use vbench.utils.load_video
and the vbench.utils transforms.

Stubs: none. The VBench modules imported here (utils, distributed, subject_consistency,
background_consistency, aesthetic_quality, appearance_style, temporal_flickering) import only packages of
the reference environment. DINO's vision_transformer.py is imported from --dino-src (it does
`from utils import trunc_normal_`; if DIR/utils.py is absent a one-function stand-in module `utils` with
torch.nn.init.trunc_normal_ is installed, which only affects initialisation, re-done here anyway).

Usage:
  PYTHONPATH=fixtures-work/vbench_wheel /tmp/refenv/bin/python tools/parity/make_fixtures.py \
      --dino-src fixtures-work/dino [--out tests/fixtures/parity]
  ... make_fixtures.py --dino-src fixtures-work/dino --full-size fixtures-work/full
      real-size architectures with random weights instead (make_fullsize.py; not committed)
"""
import argparse
import gzip
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import types
from functools import partial

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(2)
torch.use_deterministic_algorithms(True)

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))

STYLE_PHRASES = [
    'Van Gogh style', 'animated style', 'black and white', 'by Hokusai, in the style of Ukiyo',
    'in cyberpunk style', 'oil painting', 'pixel art', 'surrealism style', 'watercolor painting',
]
EXTRA_PROMPTS = [
    'a person swimming in ocean',
    "A beautiful coastal beach in spring, waves lapping on sand, Van Gogh style",
    'Close up of grapes on a rotating table.',
    "The bund Shanghai, oil painting",
    "a cat's toy, 2 dogs & 3 birds!",
]
CLIP_STYLE = {
    'clip_a.mp4': 'oil painting',
    'clip_b.mp4': 'Van Gogh style',
    'clip_c.mp4': 'by Hokusai, in the style of Ukiyo',
}
# The preprocessed network inputs are 0.6-0.9 MB per frame in f32, so tensors.safetensors keeps them for
# these frame indices only (the per-frame features/logits are stored for every frame).
INPUT_FRAMES = [0]
MODEL_CLIPS = ['clip_a.mp4', 'clip_b.mp4', 'clip_c.mp4']   # clip_d (1 frame) crashes the consistency dims
ALL_CLIPS = MODEL_CLIPS + ['clip_d.mp4']

# ---------------------------------------------------------------------------------------------
# 1. clips
# ---------------------------------------------------------------------------------------------
FF = ['ffmpeg', '-hide_banner', '-loglevel', 'error', '-y']
BITEXACT = ['-map_metadata', '-1', '-fflags', '+bitexact', '-flags:v', '+bitexact', '-threads', '1']
CLIP_SPECS = {
    # name: (description, ffmpeg args between the common head and the output file)
    'clip_a.mp4': ('testsrc2 96x64, 8 fps, 8 frames, yuv420p, libx264, untagged', [
        '-f', 'lavfi', '-i', 'testsrc2=size=96x64:rate=8',
        '-frames:v', '8', '-pix_fmt', 'yuv420p', '-c:v', 'libx264', '-preset', 'medium', '-crf', '20',
        '-x264-params', 'threads=1']),
    'clip_b.mp4': ('testsrc 128x72 with a moving red box and a hue sweep, 6 fps, 6 frames, converted '
                   'to and tagged BT.709 limited (tv) range, yuv420p, libx264', [
        '-f', 'lavfi', '-i', 'testsrc=size=128x72:rate=6',
        '-f', 'lavfi', '-i', 'color=c=red:size=24x20:rate=6',
        '-filter_complex',
        '[0:v]hue=h=t*40[bg];[bg][1:v]overlay=x=t*70:y=4+t*30:shortest=1,'
        'scale=out_color_matrix=bt709:out_range=tv,format=yuv420p[v]',
        '-map', '[v]', '-frames:v', '6', '-c:v', 'libx264', '-preset', 'medium', '-crf', '20',
        '-colorspace', 'bt709', '-color_primaries', 'bt709', '-color_trc', 'bt709', '-color_range', 'tv',
        '-x264-params', 'threads=1:colorprim=bt709:transfer=bt709:colormatrix=bt709:fullrange=off']),
    'clip_c.mp4': ('portrait 64x96 testsrc2 with a hue sweep, 5 fps, 5 frames, yuv420p, libx264, untagged', [
        '-f', 'lavfi', '-i', 'testsrc2=size=64x96:rate=5',
        '-vf', 'hue=h=t*60:s=1.2', '-frames:v', '5', '-pix_fmt', 'yuv420p', '-c:v', 'libx264',
        '-preset', 'medium', '-crf', '20', '-x264-params', 'threads=1']),
    'clip_d.mp4': ('one frame 96x64 smptebars, yuv420p, libx264, untagged', [
        '-f', 'lavfi', '-i', 'smptebars=size=96x64:rate=8',
        '-frames:v', '1', '-pix_fmt', 'yuv420p', '-c:v', 'libx264', '-preset', 'medium', '-crf', '20',
        '-x264-params', 'threads=1']),
}


def make_clips(clip_dir, regenerate):
    os.makedirs(clip_dir, exist_ok=True)
    for name, (_, args) in CLIP_SPECS.items():
        path = os.path.join(clip_dir, name)
        if os.path.exists(path) and not regenerate:
            continue
        subprocess.run(FF + args + BITEXACT + [path], check=True)


def ffprobe(path):
    out = subprocess.run(['ffprobe', '-v', 'error', '-select_streams', 'v:0', '-count_packets', '-show_entries',
                          'stream=codec_name,width,height,pix_fmt,color_range,color_space,color_transfer,'
                          'color_primaries,r_frame_rate,avg_frame_rate,nb_read_packets',
                          '-of', 'json', path], check=True, capture_output=True, text=True).stdout
    return json.loads(out)['streams'][0]


# ---------------------------------------------------------------------------------------------
# 2. frames
# ---------------------------------------------------------------------------------------------
def decode_decord(path):
    import decord
    from decord import VideoReader
    decord.bridge.set_bridge('native')
    vr = VideoReader(path, num_threads=1)
    return vr.get_batch(list(range(len(vr)))).asnumpy().astype(np.uint8)


def decode_cv2(path):
    import cv2
    frames = []
    cap = cv2.VideoCapture(path)
    while cap.isOpened():
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    cap.release()
    return np.stack(frames).astype(np.uint8)


# ---------------------------------------------------------------------------------------------
# 3. tiny models
# ---------------------------------------------------------------------------------------------
CLIP_B32 = dict(embed_dim=32, image_resolution=224, vision_layers=2, vision_width=64, vision_patch_size=32,
                context_length=77, vocab_size=49408, transformer_width=8, transformer_heads=2,
                transformer_layers=2)
CLIP_L14 = dict(embed_dim=768, image_resolution=224, vision_layers=2, vision_width=128, vision_patch_size=14,
                context_length=77, vocab_size=49408, transformer_width=8, transformer_heads=2,
                transformer_layers=1)
LOGIT_SCALE = {'b32': 4.2, 'l14': 4.6052}
DINO_CFG = dict(patch_size=16, embed_dim=64, depth=2, num_heads=2, mlp_ratio=4, qkv_bias=True)


EMB_NAMES = ('token_embedding', 'positional_embedding', 'class_embedding', 'cls_token', 'pos_embed')


def init_random_(model, seed, ln_w=0.2, ln_b=0.1, emb_std=0.05, lin_gain=2.0):
    """Deterministic, non-degenerate init (tuned so that frame-to-frame cosines are clearly below 1):
    embeddings / class tokens / positional embeddings ~ N(0, emb_std); every weight matrix (Linear, conv,
    packed in_proj, projections) ~ N(0, lin_gain / sqrt(fan_in)); biases ~ N(0, 0.05); LayerNorm weight
    1 + N(0, ln_w), bias N(0, ln_b)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            leaf = name.split('.')[-1]
            is_ln = any(k in name for k in ('ln_', 'norm'))
            if is_ln and p.dim() == 1:
                if leaf == 'weight':
                    p.copy_(1.0 + ln_w * torch.randn(p.shape, generator=g))
                else:
                    p.copy_(ln_b * torch.randn(p.shape, generator=g))
            elif any(k in name for k in EMB_NAMES):
                p.copy_(emb_std * torch.randn(p.shape, generator=g))
            elif leaf in ('bias', 'in_proj_bias'):
                p.copy_(0.05 * torch.randn(p.shape, generator=g))
            elif name in ('visual.proj', 'text_projection'):      # (in, out) layout
                p.copy_(lin_gain * torch.randn(p.shape, generator=g) / math.sqrt(p.shape[0]))
            elif p.dim() >= 2:                                   # (out, in, ...) layout
                p.copy_(lin_gain * torch.randn(p.shape, generator=g) / math.sqrt(p[0].numel()))
            elif name == 'logit_scale':
                pass                                             # set by the caller
            else:
                raise ValueError(f'unhandled parameter {name} {tuple(p.shape)}')


def round_clip_fp16_set_(model):
    """Make the tensors that clip.model.convert_weights stores in fp16 exactly fp16-representable, as in the
    real OpenAI checkpoints (clip.load on CPU loads them into fp16 modules and then calls .float())."""
    def _r(t):
        t.data = t.data.half().float()
    for m in model.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear)):
            _r(m.weight)
            if m.bias is not None:
                _r(m.bias)
        if isinstance(m, nn.MultiheadAttention):
            for attr in ['in_proj_weight', 'q_proj_weight', 'k_proj_weight', 'v_proj_weight', 'in_proj_bias',
                         'bias_k', 'bias_v']:
                t = getattr(m, attr)
                if t is not None:
                    _r(t)
        for name in ['text_projection', 'proj']:
            if hasattr(m, name):
                attr = getattr(m, name)
                if attr is not None and isinstance(attr, torch.Tensor):
                    _r(attr)


def build_clip(cfg, seed, logit_scale, **init):
    """`init`: keyword arguments of init_random_ (the defaults make the committed tiny fixtures)."""
    from clip.model import CLIP
    torch.manual_seed(seed)
    m = CLIP(**cfg)
    init_random_(m, seed, **init)
    with torch.no_grad():
        m.logit_scale.fill_(logit_scale)
    round_clip_fp16_set_(m)
    return m.float().eval()


def clip_openai_to_hf(sd, cfg):
    out = {}

    def tower(prefix_in, prefix_out, layers):
        for n in range(layers):
            i = f'{prefix_in}transformer.resblocks.{n}.'
            o = f'{prefix_out}encoder.layers.{n}.'
            w = sd[i + 'attn.in_proj_weight']
            b = sd[i + 'attn.in_proj_bias']
            for k, (wk, bk) in zip('qkv', zip(w.chunk(3, 0), b.chunk(3, 0))):
                out[o + f'self_attn.{k}_proj.weight'] = wk
                out[o + f'self_attn.{k}_proj.bias'] = bk
            out[o + 'self_attn.out_proj.weight'] = sd[i + 'attn.out_proj.weight']
            out[o + 'self_attn.out_proj.bias'] = sd[i + 'attn.out_proj.bias']
            for a, c in [('ln_1', 'layer_norm1'), ('ln_2', 'layer_norm2'), ('mlp.c_fc', 'mlp.fc1'),
                         ('mlp.c_proj', 'mlp.fc2')]:
                out[o + c + '.weight'] = sd[i + a + '.weight']
                out[o + c + '.bias'] = sd[i + a + '.bias']

    out['vision_model.embeddings.class_embedding'] = sd['visual.class_embedding']
    out['vision_model.embeddings.patch_embedding.weight'] = sd['visual.conv1.weight']
    out['vision_model.embeddings.position_embedding.weight'] = sd['visual.positional_embedding']
    for s in ('weight', 'bias'):
        out['vision_model.pre_layrnorm.' + s] = sd['visual.ln_pre.' + s]
        out['vision_model.post_layernorm.' + s] = sd['visual.ln_post.' + s]
        out['text_model.final_layer_norm.' + s] = sd['ln_final.' + s]
    tower('visual.', 'vision_model.', cfg['vision_layers'])
    out['visual_projection.weight'] = sd['visual.proj'].t()
    out['text_model.embeddings.token_embedding.weight'] = sd['token_embedding.weight']
    out['text_model.embeddings.position_embedding.weight'] = sd['positional_embedding']
    tower('', 'text_model.', cfg['transformer_layers'])
    out['text_projection.weight'] = sd['text_projection'].t()
    out['logit_scale'] = sd['logit_scale']
    return {k: v.detach().float().contiguous().clone() for k, v in out.items()}


def clip_hf_config(cfg, logit_scale):
    vw, tw = cfg['vision_width'], cfg['transformer_width']
    return {
        'architectures': ['CLIPModel'],
        'model_type': 'clip',
        'projection_dim': cfg['embed_dim'],
        'logit_scale_init_value': logit_scale,
        'initializer_factor': 1.0,
        'torch_dtype': 'float32',
        'transformers_version': '4.46.3',
        'text_config': {
            'model_type': 'clip_text_model',
            'hidden_size': tw, 'intermediate_size': 4 * tw, 'num_hidden_layers': cfg['transformer_layers'],
            'num_attention_heads': cfg['transformer_heads'], 'max_position_embeddings': cfg['context_length'],
            'vocab_size': cfg['vocab_size'], 'hidden_act': 'quick_gelu', 'layer_norm_eps': 1e-5,
            'projection_dim': cfg['embed_dim'],
            # as in openai/clip-vit-base-patch32's config.json: eos_token_id 2 selects argmax pooling
            'bos_token_id': 0, 'eos_token_id': 2, 'pad_token_id': 1,
        },
        'vision_config': {
            'model_type': 'clip_vision_model',
            'hidden_size': vw, 'intermediate_size': 4 * vw, 'num_hidden_layers': cfg['vision_layers'],
            'num_attention_heads': vw // 64, 'image_size': cfg['image_resolution'],
            'patch_size': cfg['vision_patch_size'], 'num_channels': 3, 'hidden_act': 'quick_gelu',
            'layer_norm_eps': 1e-5, 'projection_dim': cfg['embed_dim'],
        },
    }


def verify_clip_hf(model_dir, oa_model, ids):
    from transformers import CLIPModel
    hf = CLIPModel.from_pretrained(model_dir, attn_implementation='eager').eval()
    g = torch.Generator().manual_seed(7)
    img = torch.randn(3, 3, 224, 224, generator=g)
    with torch.no_grad():
        a = oa_model.encode_image(img)
        b = hf.get_image_features(pixel_values=img)
        ea = (a - b).abs().max().item()
        assert ea < 1e-4 * max(1.0, a.abs().max().item()), f'image features differ: {ea}'
        ta = oa_model.encode_text(ids)
        tb = hf.get_text_features(input_ids=ids)
        et = (ta - tb).abs().max().item()
        assert et < 1e-4 * max(1.0, ta.abs().max().item()), f'text features differ: {et}'
        assert abs(hf.logit_scale.item() - oa_model.logit_scale.item()) == 0.0
    return ea, et


def build_dino(dino_src, seed, cfg=DINO_CFG, **init):
    sys.path.insert(0, os.path.abspath(dino_src))
    if not os.path.exists(os.path.join(dino_src, 'utils.py')):
        stub = types.ModuleType('utils')
        stub.trunc_normal_ = torch.nn.init.trunc_normal_
        sys.modules['utils'] = stub
    import vision_transformer as dino_vit
    torch.manual_seed(seed)
    m = dino_vit.VisionTransformer(norm_layer=partial(nn.LayerNorm, eps=1e-6), num_classes=0, **cfg)
    init_random_(m, seed, **init)
    return m.eval()


def dino_to_hf(sd, depth, dim):
    out = {
        'embeddings.cls_token': sd['cls_token'],
        'embeddings.position_embeddings': sd['pos_embed'],
        'embeddings.patch_embeddings.projection.weight': sd['patch_embed.proj.weight'],
        'embeddings.patch_embeddings.projection.bias': sd['patch_embed.proj.bias'],
        'layernorm.weight': sd['norm.weight'],
        'layernorm.bias': sd['norm.bias'],
    }
    for n in range(depth):
        i, o = f'blocks.{n}.', f'encoder.layer.{n}.'
        qw, kw, vw = sd[i + 'attn.qkv.weight'].split(dim, 0)
        qb, kb, vb = sd[i + 'attn.qkv.bias'].split(dim, 0)
        out.update({
            o + 'attention.attention.query.weight': qw, o + 'attention.attention.query.bias': qb,
            o + 'attention.attention.key.weight': kw, o + 'attention.attention.key.bias': kb,
            o + 'attention.attention.value.weight': vw, o + 'attention.attention.value.bias': vb,
            o + 'attention.output.dense.weight': sd[i + 'attn.proj.weight'],
            o + 'attention.output.dense.bias': sd[i + 'attn.proj.bias'],
            o + 'intermediate.dense.weight': sd[i + 'mlp.fc1.weight'],
            o + 'intermediate.dense.bias': sd[i + 'mlp.fc1.bias'],
            o + 'output.dense.weight': sd[i + 'mlp.fc2.weight'],
            o + 'output.dense.bias': sd[i + 'mlp.fc2.bias'],
            o + 'layernorm_before.weight': sd[i + 'norm1.weight'], o + 'layernorm_before.bias': sd[i + 'norm1.bias'],
            o + 'layernorm_after.weight': sd[i + 'norm2.weight'], o + 'layernorm_after.bias': sd[i + 'norm2.bias'],
        })
    return {k: v.detach().float().contiguous().clone() for k, v in out.items()}


def dino_hf_config(cfg=DINO_CFG):
    d = cfg['embed_dim']
    return {
        'architectures': ['ViTModel'], 'model_type': 'vit',
        'hidden_size': d, 'num_hidden_layers': cfg['depth'], 'num_attention_heads': cfg['num_heads'],
        'intermediate_size': int(d * cfg['mlp_ratio']), 'hidden_act': 'gelu',
        'hidden_dropout_prob': 0.0, 'attention_probs_dropout_prob': 0.0, 'initializer_range': 0.02,
        # 1e-12 as in facebook/dino-vitb16's config.json (the converter used ViTConfig's default); DINO's own
        # maths uses 1e-6, which the Rust side must use whatever the config says.
        'layer_norm_eps': 1e-12,
        'image_size': 224, 'patch_size': 16, 'num_channels': 3, 'qkv_bias': True,
        'torch_dtype': 'float32', 'transformers_version': '4.46.3',
    }


def verify_dino_hf(model_dir, dino):
    from transformers import ViTConfig, ViTModel
    cfg = ViTConfig.from_pretrained(model_dir)
    cfg.layer_norm_eps = 1e-6     # DINO's eps (see config note)
    hf = ViTModel.from_pretrained(model_dir, config=cfg, add_pooling_layer=False,
                                  attn_implementation='eager').eval()
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(11))
    with torch.no_grad():
        a = dino(x)
        b = hf(pixel_values=x).last_hidden_state[:, 0]
    e = (a - b).abs().max().item()
    assert e < 1e-4 * max(1.0, a.abs().max().item()), f'DINO features differ: {e}'
    return e


def write_tokenizer(model_dir, work_dir):
    """tokenizer.json for CLIP's BPE, from the bpe_simple_vocab_16e6.txt.gz of the openai-clip package."""
    import clip.simple_tokenizer as st
    from transformers import CLIPTokenizerFast
    tok = st.SimpleTokenizer()
    vocab = tok.encoder
    merges = gzip.open(st.default_bpe()).read().decode('utf-8').split('\n')[1:49152 - 256 - 2 + 1]
    os.makedirs(work_dir, exist_ok=True)
    vf, mf = os.path.join(work_dir, 'vocab.json'), os.path.join(work_dir, 'merges.txt')
    with open(vf, 'w', encoding='utf-8') as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(mf, 'w', encoding='utf-8') as f:
        f.write('#version: 0.2\n' + '\n'.join(merges) + '\n')
    fast = CLIPTokenizerFast(vocab_file=vf, merges_file=mf, unk_token='<|endoftext|>',
                             bos_token='<|startoftext|>', eos_token='<|endoftext|>', pad_token='<|endoftext|>')
    fast.backend_tokenizer.save(os.path.join(model_dir, 'tokenizer.json'), pretty=False)
    return fast


def verify_tokenizer(model_dir, phrases):
    import clip
    from tokenizers import Tokenizer
    t = Tokenizer.from_file(os.path.join(model_dir, 'tokenizer.json'))
    for p in phrases:
        ref = clip.tokenize([p])[0].tolist()
        ids = t.encode(p).ids
        got = ids + [0] * (77 - len(ids))
        assert got == ref, f'tokenizer mismatch on {p!r}: {ids} vs {ref}'


def save_clip_dir(model_dir, model, cfg, logit_scale, tok_src_dir, verify_ids, with_tokenizer=True):
    from safetensors.torch import save_file
    os.makedirs(model_dir, exist_ok=True)
    save_file(clip_openai_to_hf(model.state_dict(), cfg), os.path.join(model_dir, 'model.safetensors'),
              metadata={'format': 'pt'})
    with open(os.path.join(model_dir, 'config.json'), 'w') as f:
        json.dump(clip_hf_config(cfg, logit_scale), f, indent=2)
    if with_tokenizer:
        shutil.copy(os.path.join(tok_src_dir, 'tokenizer.json'), os.path.join(model_dir, 'tokenizer.json'))
    return verify_clip_hf(model_dir, model, verify_ids)


# ---------------------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------------------
def phrase_key(p):
    return p.replace(',', '').replace(' ', '_')


def run_vbench(dino, clip_b32, clip_l14, aesthetic_model, cpaths):
    """VBench 0.1.5's own dimension functions on the clips (paths relative to the working directory, as
    VBench records them). Returns (scores, the appearance_style video dict, seconds per dimension)."""
    import time
    from vbench.subject_consistency import subject_consistency
    from vbench.background_consistency import background_consistency
    from vbench.aesthetic_quality import laion_aesthetic
    from vbench.appearance_style import appearance_style
    from vbench.temporal_flickering import temporal_flickering
    dev = 'cpu'
    mlist = [cpaths[c] for c in MODEL_CLIPS]
    scores, seconds = {}, {}

    def timed(dim, f):
        t0 = time.perf_counter()
        scores[dim] = list(f())
        seconds[dim] = time.perf_counter() - t0

    with torch.no_grad():
        timed('subject_consistency', lambda: subject_consistency(dino, mlist, dev, False))
        timed('background_consistency', lambda: background_consistency(clip_b32, None, mlist, dev, False))
        timed('aesthetic_quality', lambda: laion_aesthetic(aesthetic_model, clip_l14, mlist, dev))
        style_dict = [{'prompt_en': f'clip {c}', 'dimension': ['appearance_style'],
                       'auxiliary_info': {'appearance_style': CLIP_STYLE[c]}, 'video_list': [cpaths[c]]}
                      for c in MODEL_CLIPS]
        timed('appearance_style', lambda: appearance_style(clip_b32, style_dict, dev))
    timed('temporal_flickering', lambda: temporal_flickering([cpaths[c] for c in ALL_CLIPS]))
    return scores, style_dict, seconds


def to_json(o):
    if isinstance(o, dict):
        return {k: to_json(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [to_json(v) for v in o]
    if isinstance(o, (float, np.floating)):
        # strict JSON: VBench's json.dump would write the bare token NaN here (clip_d's temporal_flickering
        # record and that dimension's aggregate); serde_json cannot read it, so it is written as null.
        return None if math.isnan(o) else float(o)
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, np.bool_):
        return bool(o)
    return o


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--dino-src', required=True, help='directory with DINO vision_transformer.py (+ utils.py)')
    ap.add_argument('--out', default=os.path.join(REPO_ROOT, 'tests', 'fixtures', 'parity'))
    ap.add_argument('--work', default=os.path.join(REPO_ROOT, 'fixtures-work', 'parity-tmp'))
    ap.add_argument('--regenerate-clips', action='store_true', help='re-encode clips even if present')
    ap.add_argument('--full-size', metavar='OUT_DIR',
                    help='instead: the real-size random-weight run of make_fullsize.py into OUT_DIR')
    args = ap.parse_args()
    if args.full_size:
        import make_fullsize
        return make_fullsize.main(['--dino-src', args.dino_src, '--out', args.full_size])

    import clip
    import decord
    import cv2
    import PIL
    import torchvision
    import transformers
    from PIL import Image
    from safetensors.torch import save_file
    import vbench
    from vbench import utils as vu
    from vbench.aesthetic_quality import get_aesthetic_model

    out = os.path.abspath(args.out)
    work = os.path.abspath(args.work)
    dino_src = os.path.abspath(args.dino_src)
    os.makedirs(out, exist_ok=True)
    os.makedirs(work, exist_ok=True)
    clip_dir = os.path.join(out, 'clips')
    make_clips(clip_dir, args.regenerate_clips)
    os.chdir(out)                                 # so that video paths read "clips/clip_a.mp4"
    cpaths = {c: f'clips/{c}' for c in ALL_CLIPS}

    # ---- frames ----------------------------------------------------------------------------
    frames = {}
    decode_report = {}
    for c in ALL_CLIPS:
        d = decode_decord(cpaths[c])
        v = decode_cv2(cpaths[c])
        frames[f'decord/{c}'] = torch.from_numpy(np.ascontiguousarray(d))
        frames[f'cv2/{c}'] = torch.from_numpy(np.ascontiguousarray(v))
        same_shape = d.shape == v.shape
        rgb_v = v[..., ::-1]
        diff = int(np.abs(d.astype(np.int16) - rgb_v.astype(np.int16)).max()) if same_shape else None
        decode_report[c] = {'decord_shape': list(d.shape), 'cv2_shape': list(v.shape),
                            'max_abs_diff_decord_vs_cv2_as_rgb': diff,
                            'identical': bool(same_shape and diff == 0)}
    save_file(frames, os.path.join(out, 'frames.safetensors'))

    # ---- models ----------------------------------------------------------------------------
    mdir = os.path.join(out, 'models')
    os.makedirs(mdir, exist_ok=True)
    write_tokenizer(work, work)
    all_phrases = STYLE_PHRASES + EXTRA_PROMPTS
    verify_tokenizer(work, all_phrases)
    verify_ids = clip.tokenize(all_phrases)

    clip_b32 = build_clip(CLIP_B32, seed=1032, logit_scale=LOGIT_SCALE['b32'])
    clip_l14 = build_clip(CLIP_L14, seed=1014, logit_scale=LOGIT_SCALE['l14'])
    err_b32 = save_clip_dir(os.path.join(mdir, 'clip_b32_tiny'), clip_b32, CLIP_B32, LOGIT_SCALE['b32'], work,
                            verify_ids)
    # aesthetic_quality uses only the image tower of L/14: no tokenizer.json there (saves 2 MB; it would be
    # the same file as clip_b32_tiny's)
    err_l14 = save_clip_dir(os.path.join(mdir, 'clip_l14_tiny'), clip_l14, CLIP_L14, LOGIT_SCALE['l14'], work,
                            verify_ids, with_tokenizer=False)
    verify_tokenizer(os.path.join(mdir, 'clip_b32_tiny'), all_phrases)

    dino = build_dino(dino_src, seed=1016)
    ddir = os.path.join(mdir, 'dino_tiny')
    os.makedirs(ddir, exist_ok=True)
    save_file(dino_to_hf(dino.state_dict(), DINO_CFG['depth'], DINO_CFG['embed_dim']),
              os.path.join(ddir, 'model.safetensors'), metadata={'format': 'pt'})
    with open(os.path.join(ddir, 'config.json'), 'w') as f:
        json.dump(dino_hf_config(), f, indent=2)
    err_dino = verify_dino_hf(ddir, dino)

    g = torch.Generator().manual_seed(768)
    head_w = (torch.randn(1, 768, generator=g) * 3.0).float()
    head_b = torch.tensor([5.0], dtype=torch.float32)
    torch.save({'weight': head_w.clone(), 'bias': head_b.clone()}, os.path.join(mdir, 'aesthetic_head.pth'))
    torch.save({'state_dict': {'module.weight': head_w.clone(), 'module.bias': head_b.clone()}, 'epoch': 3},
               os.path.join(mdir, 'aesthetic_head_nested.pth'))
    emb_reader = os.path.join(work, 'aesthetic_model', 'emb_reader')
    os.makedirs(emb_reader, exist_ok=True)
    shutil.copy(os.path.join(mdir, 'aesthetic_head.pth'), os.path.join(emb_reader, 'sa_0_4_vit_l_14_linear.pth'))
    aesthetic_model = get_aesthetic_model(emb_reader)       # VBench's own loader (strict load_state_dict)

    # ---- VBench's own functions --------------------------------------------------------------
    scores, style_dict, _ = run_vbench(dino, clip_b32, clip_l14, aesthetic_model, cpaths)
    scores_types = {dim: [type(v[0]).__name__, [{k: type(x).__name__ for k, x in r.items()} for r in v[1]]]
                    for dim, v in scores.items()}
    with open(os.path.join(out, 'scores.json'), 'w') as f:
        json.dump(to_json(scores), f, indent=2, allow_nan=False)

    # ---- intermediate tensors ---------------------------------------------------------------
    dino_t, clip_t, clipimg_t = vu.dino_transform(224), vu.clip_transform(224), vu.clip_transform_Image(224)
    tens = {}
    recomputed = {'subject_consistency': {}, 'background_consistency': {}, 'aesthetic_quality': {},
                  'appearance_style': {}}

    def pair_score(feats):
        feats = F.normalize(feats, dim=-1, p=2)
        s = 0.0
        for i in range(1, len(feats)):
            a = max(0.0, F.cosine_similarity(feats[i - 1:i], feats[i:i + 1]).item())
            b = max(0.0, F.cosine_similarity(feats[0:1], feats[i:i + 1]).item())
            s += (a + b) / 2
        return s / (len(feats) - 1)

    with torch.no_grad():
        for c in MODEL_CLIPS:
            video = vu.load_video(cpaths[c])                      # float32 (T,3,H,W) 0..255
            x_dino = dino_t(video)
            x_clip = clip_t(video)
            arr = vu.load_video(cpaths[c], return_tensor=False)  # uint8 (T,H,W,3)
            x_img = torch.stack([clipimg_t(Image.fromarray(a)) for a in arr])
            tens[f'dino_input/{c}'] = x_dino[INPUT_FRAMES]
            tens[f'clip_input/{c}'] = x_clip[INPUT_FRAMES]
            tens[f'clip_image_input/{c}'] = x_img[INPUT_FRAMES]
            fd = torch.cat([dino(x_dino[i].unsqueeze(0)) for i in range(len(x_dino))])
            tens[f'dino_features/{c}'] = fd
            fb = clip_b32.encode_image(x_clip)
            tens[f'clip_b32_image_features/{c}'] = fb
            fl = clip_l14.encode_image(x_clip).to(torch.float32)
            tens[f'clip_l14_image_features/{c}'] = fl
            araw = aesthetic_model(F.normalize(fl, dim=-1, p=2)).squeeze(-1)
            tens[f'aesthetic_raw/{c}'] = araw
            text = clip.tokenize([CLIP_STYLE[c]])
            lg = torch.stack([clip_b32(x_img[i].unsqueeze(0), text)[1][0][0] for i in range(len(x_img))])
            tens[f'appearance_logits/{c}'] = lg
            recomputed['subject_consistency'][c] = pair_score(fd)
            recomputed['background_consistency'][c] = pair_score(fb)
            recomputed['aesthetic_quality'][c] = torch.mean(araw / 10, dim=0, keepdim=True).item()
            recomputed['appearance_style'][c] = float(np.mean([float(v) / 100 for v in lg]))
        for p in all_phrases:
            ids = clip.tokenize([p])
            tens[f'text_ids/{phrase_key(p)}'] = ids[0].to(torch.int64)
            tens[f'clip_b32_text_features/{phrase_key(p)}'] = clip_b32.encode_text(ids)[0]
    tens = {k: v.detach().contiguous().clone() for k, v in tens.items()}
    save_file(tens, os.path.join(out, 'tensors.safetensors'))

    # sanity: the saved intermediates reproduce VBench's per-video numbers
    for dim, per in recomputed.items():
        for rec in scores[dim][1]:
            c = os.path.basename(rec['video_path'])
            assert abs(per[c] - rec['video_results']) < 1e-6, (dim, c, per[c], rec['video_results'])

    inputs = {
        'generator': 'tools/parity/make_fixtures.py',
        'clips': {c: {'path': cpaths[c], 'description': CLIP_SPECS[c][0],
                      'ffmpeg_args': CLIP_SPECS[c][1] + BITEXACT, 'ffprobe': ffprobe(cpaths[c]),
                      'decode': decode_report[c]} for c in ALL_CLIPS},
        'dimensions': {
            'subject_consistency': {'clips': MODEL_CLIPS, 'model': 'models/dino_tiny',
                                    'vbench_call': 'vbench.subject_consistency.subject_consistency(dino, video_list, "cpu", read_frame=False)'},
            'background_consistency': {'clips': MODEL_CLIPS, 'model': 'models/clip_b32_tiny',
                                       'vbench_call': 'vbench.background_consistency.background_consistency(clip_b32, None, video_list, "cpu", read_frame=False)'},
            'aesthetic_quality': {'clips': MODEL_CLIPS, 'model': 'models/clip_l14_tiny',
                                  'head': 'models/aesthetic_head.pth',
                                  'vbench_call': 'vbench.aesthetic_quality.laion_aesthetic(get_aesthetic_model(dir), clip_l14, video_list, "cpu")'},
            'appearance_style': {'clips': MODEL_CLIPS, 'model': 'models/clip_b32_tiny',
                                 'style_phrases': {c: CLIP_STYLE[c] for c in MODEL_CLIPS},
                                 'video_dict': style_dict,
                                 'vbench_call': 'vbench.appearance_style.appearance_style(clip_b32, video_dict, "cpu")'},
            'temporal_flickering': {'clips': ALL_CLIPS, 'model': None,
                                    'vbench_call': 'vbench.temporal_flickering.temporal_flickering(video_list)'},
        },
        'excluded': {'clip_d.mp4': 'one frame: subject/background consistency divide by zero in VBench; '
                                   'left out of every model dimension; temporal_flickering records NaN for it'},
        'scores_types': scores_types,
        'scores_nan_as_null': ('scores.json is strict JSON: the NaN values VBench returns (temporal_flickering on '
                               'the 1-frame clip_d, and hence that dimension\'s np.mean aggregate) are written as '
                               'null; VBench\'s own json.dump would write NaN'),
        'models': {
            'clip_b32_tiny': {'dir': 'models/clip_b32_tiny', 'openai_clip_ctor': CLIP_B32,
                              'logit_scale': LOGIT_SCALE['b32'], 'seed': 1032,
                              'max_abs_err_vs_transformers': {'image': err_b32[0], 'text': err_b32[1]}},
            'clip_l14_tiny': {'dir': 'models/clip_l14_tiny', 'openai_clip_ctor': CLIP_L14,
                              'logit_scale': LOGIT_SCALE['l14'], 'seed': 1014,
                              'max_abs_err_vs_transformers': {'image': err_l14[0], 'text': err_l14[1]}},
            'dino_tiny': {'dir': 'models/dino_tiny', 'dino_ctor': dict(DINO_CFG, norm_eps=1e-6, num_classes=0,
                                                                      img_size=224),
                          'seed': 1016, 'max_abs_err_vs_transformers_224': err_dino,
                          'note': 'config.json says layer_norm_eps 1e-12 like facebook/dino-vitb16; use 1e-6'},
            'aesthetic_head': {'file': 'models/aesthetic_head.pth', 'keys': {'weight': [1, 768], 'bias': [1]},
                               'nested_file': 'models/aesthetic_head_nested.pth',
                               'nested_layout': "{'state_dict': {'module.weight', 'module.bias'}, 'epoch': 3}",
                               'bias': 5.0, 'seed': 768},
            'fp16_note': 'tensors that clip.model.convert_weights casts to fp16 hold fp16-representable values',
        },
        'tensors': {
            'input_frames': INPUT_FRAMES,
            'note': ('dino_input/clip_input/clip_image_input hold only the frames listed in input_frames '
                     '(shape (len(input_frames),3,H,W)); every other per-clip tensor has one row per frame (T)'),
            'phrase_key': "phrase with ',' removed and ' ' replaced by '_'",
            'phrases': {phrase_key(p): p for p in all_phrases},
        },
        'versions': {'python': sys.version.split()[0], 'torch': torch.__version__,
                     'torchvision': torchvision.__version__, 'numpy': np.__version__,
                     'transformers': transformers.__version__, 'decord': decord.__version__,
                     'opencv': cv2.__version__, 'pillow': PIL.__version__,
                     'vbench': '0.1.5', 'ffmpeg': subprocess.run(['ffmpeg', '-version'], capture_output=True,
                                                                text=True).stdout.split('\n')[0]},
    }
    with open(os.path.join(out, 'inputs.json'), 'w') as f:
        json.dump(to_json(inputs), f, indent=2, allow_nan=False)

    print(json.dumps(to_json({k: v[0] for k, v in scores.items()}), indent=1))
    print(json.dumps(decode_report, indent=1))


if __name__ == '__main__':
    main()
