#!/usr/bin/env python3
"""Parity fixtures for the image scores of `generate-images` (tests/fixtures/parity_images/).

What the Rust side must reproduce, computed here with the reference libraries on CPU in fp32:
  * PickScore exactly as its model card (yuvalkirstain/PickScore_v1) computes it:
        processor = AutoProcessor("laion/CLIP-ViT-H-14-laion2B-s32B-b79K")   # CLIPImageProcessor + CLIP BPE
        image_embs = model.get_image_features(**processor(images=...)) ; / norm
        text_embs  = model.get_text_features(**processor(text=prompt, padding=True, truncation=True,
                                                           max_length=77))  ; / norm
        score = model.logit_scale.exp() * (text_embs @ image_embs.T)[0]
    with a tiny, randomly initialised transformers CLIPModel of the same structure (exact GELU,
    `hidden_act: "gelu"`, patch 14, image 224) and the laion processor's preprocessor_config.json.
  * CLIP text-image similarity: raw cosine of the OpenAI CLIP ViT-B/32 projected embeddings, the image
    preprocessed with OpenAI's `clip.load` transform (PIL bicubic resize of the shorter side to 224,
    torchvision CenterCrop, ToTensor, Normalize) and the text with `clip.tokenize(truncate=True)`; the
    network is the committed tiny tests/fixtures/parity/models/clip_b32_tiny.
  * LAION aesthetic score: the linear head (tests/fixtures/parity/models/aesthetic_head.pth) on the
    L2-normalised CLIP ViT-L/14 image embedding (clip_l14_tiny), same OpenAI preprocessing, raw 1-10 scale.
  Every image is converted to RGB first (PIL convert("RGB"): alpha dropped), as PickScore's processor does.

Environment: /tmp/refenv of tools/parity/README.md (torch 2.5.1, transformers 4.46.3, openai-clip,
Pillow). Deterministic: a second run writes byte-identical files.

Usage:
  /tmp/refenv/bin/python tools/parity/make_fixtures_images.py [--out tests/fixtures/parity_images]
  /tmp/refenv/bin/python tools/parity/make_fixtures_images.py --full-size OUT_DIR
      the real PickScore architecture (ViT-H/14: vision 1280 wide, 32 layers, 16 heads; text 1024 wide,
      24 layers, 16 heads; projection 1024; exact GELU; logit_scale ln 100) with fixed-seed random weights,
      written as a --weights-dir (yuvalkirstain/PickScore_v1/{config.json,model.safetensors},
      laion/CLIP-ViT-H-14-laion2B-s32B-b79K/{tokenizer.json,preprocessor_config.json}) plus scores.json
      for two committed images and two prompts (about 4 GB; not committed). Checked by the ignored test
      `full_size_pickscore_random_weights_match` (VBENCH_IMAGES_FULLSIZE=OUT_DIR).
"""
import argparse
import json
import math
import os

import numpy as np
import torch
from PIL import Image

torch.set_num_threads(2)
torch.use_deterministic_algorithms(True)

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
PARITY = os.path.join(REPO_ROOT, 'tests', 'fixtures', 'parity')
TOKENIZER = os.path.join(PARITY, 'models', 'clip_b32_tiny', 'tokenizer.json')

PROMPTS = [
    'a red fox standing in fresh snow, golden hour',
    "A cat's toy, 2 dogs & 3 birds!",
    # longer than 77 tokens: truncated to BOS + 75 tokens + EOS by both tokenizers
    ' '.join(['a very detailed cinematic photograph of a lighthouse on a cliff at dusk'] * 8),
]

# (file, width, height, mode): sizes chosen so that the transformers centre crop (floor) and the
# torchvision one (round half to even) differ (img_b: 203x200 -> 227x224, offset 1 vs 2), plus an
# upscale (img_c) and an RGBA file whose alpha is dropped (img_d).
IMAGES = [
    ('img_a.png', 256, 256, 'RGB'),
    ('img_b.png', 203, 200, 'RGB'),
    ('img_c.png', 150, 260, 'RGB'),
    ('img_d.png', 240, 232, 'RGBA'),
]

PREPROCESSOR_CONFIG = {
    # laion/CLIP-ViT-H-14-laion2B-s32B-b79K preprocessor_config.json (the PickScore processor)
    'crop_size': {'height': 224, 'width': 224},
    'do_center_crop': True,
    'do_convert_rgb': True,
    'do_normalize': True,
    'do_rescale': True,
    'do_resize': True,
    'feature_extractor_type': 'CLIPFeatureExtractor',
    'image_mean': [0.48145466, 0.4578275, 0.40821073],
    'image_processor_type': 'CLIPImageProcessor',
    'image_std': [0.26862954, 0.26130258, 0.27577711],
    'resample': 3,
    'rescale_factor': 0.00392156862745098,
    'size': {'shortest_edge': 224},
}


def make_image(w, h, mode, seed):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    chans = []
    for k in range(3):
        fx, fy, ph = rng.uniform(0.01, 0.08), rng.uniform(0.01, 0.08), rng.uniform(0, 6.28)
        c = 127.5 + 100 * np.sin(fx * x + ph) * np.cos(fy * y - ph) + rng.normal(0, 6, (h, w))
        chans.append(c)
    if mode == 'RGBA':
        chans.append(np.clip(255 * x / max(w - 1, 1), 0, 255))
    arr = np.clip(np.stack(chans, -1).round(), 0, 255).astype(np.uint8)
    return Image.fromarray(arr, mode)


def init_random_(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            leaf = name.split('.')[-1]
            if name == 'logit_scale':
                continue
            if 'norm' in name and p.dim() == 1:
                p.copy_((1.0 + 0.2 * torch.randn(p.shape, generator=g)) if leaf == 'weight'
                        else 0.1 * torch.randn(p.shape, generator=g))
            elif 'embedding' in name and 'patch_embedding' not in name:
                p.copy_(0.05 * torch.randn(p.shape, generator=g))
            elif leaf == 'bias':
                p.copy_(0.05 * torch.randn(p.shape, generator=g))
            elif p.dim() >= 2:
                p.copy_(2.0 * torch.randn(p.shape, generator=g) / math.sqrt(p[0].numel()))
            else:
                raise ValueError(f'unhandled parameter {name} {tuple(p.shape)}')


TINY = dict(
    text_config=dict(hidden_size=8, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
                     max_position_embeddings=77, vocab_size=49408, hidden_act='gelu',
                     layer_norm_eps=1e-5, projection_dim=16),
    vision_config=dict(hidden_size=16, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                       image_size=224, patch_size=14, num_channels=3, hidden_act='gelu',
                       layer_norm_eps=1e-5, projection_dim=16),
    projection_dim=16)
FULL = dict(  # yuvalkirstain/PickScore_v1 = laion/CLIP-ViT-H-14-laion2B-s32B-b79K architecture
    text_config=dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
                     max_position_embeddings=77, vocab_size=49408, hidden_act='gelu',
                     layer_norm_eps=1e-5, projection_dim=1024),
    vision_config=dict(hidden_size=1280, intermediate_size=5120, num_hidden_layers=32, num_attention_heads=16,
                       image_size=224, patch_size=14, num_channels=3, hidden_act='gelu',
                       layer_norm_eps=1e-5, projection_dim=1024),
    projection_dim=1024)


def build_pickscore_tiny(out_dir, arch=TINY):
    from transformers import CLIPConfig, CLIPModel
    cfg = CLIPConfig(**arch, logit_scale_init_value=math.log(100.0))
    torch.manual_seed(7)
    model = CLIPModel(cfg)
    init_random_(model, 7)
    model.eval()
    os.makedirs(out_dir, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    # drop volatile keys so the file is byte-stable
    with open(os.path.join(out_dir, 'config.json')) as f:
        c = json.load(f)
    with open(os.path.join(out_dir, 'config.json'), 'w') as f:
        json.dump(c, f, indent=2, sort_keys=True)
        f.write('\n')
    with open(os.path.join(out_dir, 'preprocessor_config.json'), 'w') as f:
        json.dump(PREPROCESSOR_CONFIG, f, indent=2, sort_keys=True)
        f.write('\n')
    return model


def pickscore_processor():
    from transformers import CLIPImageProcessor, CLIPProcessor, CLIPTokenizerFast
    tok = CLIPTokenizerFast(tokenizer_file=TOKENIZER)
    ip = CLIPImageProcessor(**{k: v for k, v in PREPROCESSOR_CONFIG.items()
                               if k not in ('feature_extractor_type', 'image_processor_type')})
    return CLIPProcessor(image_processor=ip, tokenizer=tok)


def full_size(out):
    """Real-size PickScore with random weights: weights dir + scores.json (not committed)."""
    import shutil
    mdir = os.path.join(out, 'yuvalkirstain', 'PickScore_v1')
    pdir = os.path.join(out, 'laion', 'CLIP-ViT-H-14-laion2B-s32B-b79K')
    os.makedirs(pdir, exist_ok=True)
    pick = build_pickscore_tiny(mdir, FULL)
    shutil.move(os.path.join(mdir, 'preprocessor_config.json'), os.path.join(pdir, 'preprocessor_config.json'))
    shutil.copy(TOKENIZER, os.path.join(pdir, 'tokenizer.json'))
    proc = pickscore_processor()
    fixtures = os.path.join(REPO_ROOT, 'tests', 'fixtures', 'parity_images', 'images')
    names = ['img_a.png', 'img_b.png']
    pil = [Image.open(os.path.join(fixtures, n)) for n in names]
    scores = {}
    with torch.no_grad():
        ie = pick.get_image_features(**proc(images=pil, return_tensors='pt'))
        ie = ie / torch.norm(ie, dim=-1, keepdim=True)
        for prompt in PROMPTS[:2]:
            te = pick.get_text_features(**proc(text=prompt, padding=True, truncation=True, max_length=77,
                                               return_tensors='pt'))
            te = te / torch.norm(te, dim=-1, keepdim=True)
            s = pick.logit_scale.exp() * (te @ ie.T)[0]
            scores[prompt] = {n: float(v) for n, v in zip(names, s.tolist())}
    with open(os.path.join(out, 'scores.json'), 'w') as f:
        json.dump({'images': names, 'prompts': PROMPTS[:2], 'pickscore': scores}, f, indent=1)
    print('wrote', out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--out', default=os.path.join(REPO_ROOT, 'tests', 'fixtures', 'parity_images'))
    ap.add_argument('--full-size', metavar='OUT_DIR')
    args = ap.parse_args()
    if args.full_size:
        return full_size(args.full_size)
    out = args.out
    os.makedirs(os.path.join(out, 'images'), exist_ok=True)

    images = {}
    for i, (name, w, h, mode) in enumerate(IMAGES):
        p = os.path.join(out, 'images', name)
        make_image(w, h, mode, 100 + i).save(p, optimize=False, compress_level=9)
        images[name] = Image.open(p)

    # ---- PickScore (model card code) ----
    pick = build_pickscore_tiny(os.path.join(out, 'pickscore_tiny'))
    proc = pickscore_processor()
    tensors = {}
    scores = {'pickscore': {}, 'clip_similarity': {}, 'aesthetic': {}}
    names = [n for n, *_ in IMAGES]
    pil = [images[n] for n in names]
    with torch.no_grad():
        image_inputs = proc(images=pil, padding=True, truncation=True, max_length=77, return_tensors='pt')
        image_embs = pick.get_image_features(**image_inputs)
        tensors['pickscore/pixel_values/img_b.png'] = image_inputs['pixel_values'][1:2].contiguous()
        tensors['pickscore/image_embeds'] = image_embs.contiguous()
        image_embs = image_embs / torch.norm(image_embs, dim=-1, keepdim=True)
        for k, prompt in enumerate(PROMPTS):
            text_inputs = proc(text=prompt, padding=True, truncation=True, max_length=77, return_tensors='pt')
            tensors[f'pickscore/input_ids/{k}'] = text_inputs['input_ids'].to(torch.int64).contiguous()
            text_embs = pick.get_text_features(**text_inputs)
            tensors[f'pickscore/text_embeds/{k}'] = text_embs.contiguous()
            text_embs = text_embs / torch.norm(text_embs, dim=-1, keepdim=True)
            s = pick.logit_scale.exp() * (text_embs @ image_embs.T)[0]
            scores['pickscore'][prompt] = {n: float(v) for n, v in zip(names, s.tolist())}

    # ---- CLIP similarity (ViT-B/32) and LAION aesthetic (ViT-L/14 + head), OpenAI preprocessing ----
    import clip
    from clip.clip import _transform
    from transformers import CLIPModel
    pre = _transform(224)
    b32 = CLIPModel.from_pretrained(os.path.join(PARITY, 'models', 'clip_b32_tiny')).eval()
    l14 = CLIPModel.from_pretrained(os.path.join(PARITY, 'models', 'clip_l14_tiny')).eval()
    head_sd = torch.load(os.path.join(PARITY, 'models', 'aesthetic_head.pth'), map_location='cpu',
                         weights_only=True)
    head = torch.nn.Linear(head_sd['weight'].shape[1], 1)
    head.load_state_dict(head_sd)
    with torch.no_grad():
        # RGB first (alpha dropped), as the Rust side reads every image; clip's own _transform converts
        # after resizing, where Pillow resamples RGBA with premultiplied alpha.
        x = torch.stack([pre(im.convert('RGB')) for im in pil])
        emb = b32.get_image_features(pixel_values=x)
        emb = emb / emb.norm(dim=-1, keepdim=True)
        for prompt in PROMPTS:
            ids = clip.tokenize([prompt], truncate=True)
            t = b32.get_text_features(input_ids=ids)
            t = t / t.norm(dim=-1, keepdim=True)
            cos = (emb @ t.T)[:, 0]
            scores['clip_similarity'][prompt] = {n: float(v) for n, v in zip(names, cos.tolist())}
        e = l14.get_image_features(pixel_values=x)
        e = e / e.norm(dim=-1, keepdim=True)
        a = head(e)[:, 0]
        scores['aesthetic'] = {n: float(v) for n, v in zip(names, a.tolist())}

    from safetensors.torch import save_file
    save_file({k: v.contiguous() for k, v in sorted(tensors.items())}, os.path.join(out, 'tensors.safetensors'))
    with open(os.path.join(out, 'scores.json'), 'w') as f:
        json.dump({'prompts': PROMPTS, 'images': names, 'scores': scores,
                   'versions': {'torch': torch.__version__,
                                'transformers': __import__('transformers').__version__,
                                'Pillow': Image.__version__}}, f, indent=1, sort_keys=True)
        f.write('\n')
    print('wrote', out)


if __name__ == '__main__':
    main()
