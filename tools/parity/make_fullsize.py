#!/usr/bin/env python3
"""Real-size random-weight parity run: the architectures VBench 0.1.5 loads, at their real sizes, with
fixed-seed random weights, run through VBench's own dimension functions on the committed parity clips.

  OpenAI CLIP ViT-B/32  embed 512, vision 768 wide / 12 layers / patch 32, text 512 wide / 8 heads / 12 layers
  OpenAI CLIP ViT-L/14  embed 768, vision 1024 wide / 24 layers / patch 14, text 768 wide / 12 heads / 12 layers
  DINO ViT-B/16         768 wide, depth 12, 12 heads (DINO's own vision_transformer.py)
  LAION aesthetic head  Linear(768, 1)

Everything (initialisation, OpenAI -> transformers conversion and its checks, VBench calls) is
make_fixtures.py's; only the sizes differ. OUT_DIR is laid out as a `--weights-dir`:

  OUT_DIR/openai/clip-vit-base-patch32/{config.json,model.safetensors,tokenizer.json}
  OUT_DIR/openai/clip-vit-large-patch14/{config.json,model.safetensors}
  OUT_DIR/facebook/dino-vitb16/{config.json,model.safetensors}
  OUT_DIR/laion/aesthetic-predictor/sa_0_4_vit_l_14_linear.pth
  OUT_DIR/scores.json    {dim: [aggregate, [records]]} as in tests/fixtures/parity/scores.json
  OUT_DIR/inputs.json    style phrases, constructors, seeds, timings, versions

about 2.5 GB; nothing of it is committed. tokenizer.json is copied from the committed tiny fixture (it is
the real CLIP BPE). The clips are read from tests/fixtures/parity/clips (VBench records them as
clips/<name>, as in the committed scores).

Usage (also reachable as make_fixtures.py --full-size OUT_DIR):
  PYTHONPATH=fixtures-work/vbench_wheel /tmp/refenv/bin/python tools/parity/make_fullsize.py \
      --dino-src fixtures-work/dino --out fixtures-work/full
"""
import argparse
import json
import math
import os
import shutil
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_fixtures as mf  # noqa: E402

CLIP_B32 = dict(embed_dim=512, image_resolution=224, vision_layers=12, vision_width=768, vision_patch_size=32,
                context_length=77, vocab_size=49408, transformer_width=512, transformer_heads=8,
                transformer_layers=12)
CLIP_L14 = dict(embed_dim=768, image_resolution=224, vision_layers=24, vision_width=1024, vision_patch_size=14,
                context_length=77, vocab_size=49408, transformer_width=768, transformer_heads=12,
                transformer_layers=12)
DINO_CFG = dict(patch_size=16, embed_dim=768, depth=12, num_heads=12, mlp_ratio=4, qkv_bias=True)
# ln(100), the value of the released checkpoints (appearance_style then scores 100 * cosine / 100)
LOGIT_SCALE = math.log(100.0)
SEEDS = {'clip_b32': 2032, 'clip_l14': 2014, 'dino': 2016, 'aesthetic_head': 2768}
# init_random_ keyword arguments (see make_fixtures.init_random_); the tiny fixtures' defaults
INIT = dict()

DIRS = {'clip_b32': 'openai/clip-vit-base-patch32', 'clip_l14': 'openai/clip-vit-large-patch14',
        'dino': 'facebook/dino-vitb16', 'aesthetic_head': 'laion/aesthetic-predictor'}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--dino-src', required=True, help='directory with DINO vision_transformer.py (+ utils.py)')
    ap.add_argument('--out', required=True, help='OUT_DIR (a --weights-dir plus scores.json, inputs.json)')
    ap.add_argument('--fixtures', default=os.path.join(mf.REPO_ROOT, 'tests', 'fixtures', 'parity'),
                    help='committed parity fixtures (clips/, models/clip_b32_tiny/tokenizer.json)')
    args = ap.parse_args(argv)

    import clip
    import transformers
    from safetensors.torch import save_file
    from vbench.aesthetic_quality import get_aesthetic_model

    out = os.path.abspath(args.out)
    fixtures = os.path.abspath(args.fixtures)
    dino_src = os.path.abspath(args.dino_src)
    tok_dir = os.path.join(fixtures, 'models', 'clip_b32_tiny')
    os.makedirs(out, exist_ok=True)
    t_start = time.perf_counter()

    all_phrases = mf.STYLE_PHRASES + mf.EXTRA_PROMPTS
    verify_ids = clip.tokenize(all_phrases)
    errs = {}

    clip_b32 = mf.build_clip(CLIP_B32, seed=SEEDS['clip_b32'], logit_scale=LOGIT_SCALE, **INIT)
    d = os.path.join(out, DIRS['clip_b32'])
    errs['clip_b32'] = mf.save_clip_dir(d, clip_b32, CLIP_B32, LOGIT_SCALE, tok_dir, verify_ids)
    mf.verify_tokenizer(d, all_phrases)

    clip_l14 = mf.build_clip(CLIP_L14, seed=SEEDS['clip_l14'], logit_scale=LOGIT_SCALE, **INIT)
    errs['clip_l14'] = mf.save_clip_dir(os.path.join(out, DIRS['clip_l14']), clip_l14, CLIP_L14, LOGIT_SCALE,
                                        tok_dir, verify_ids, with_tokenizer=False)

    dino = mf.build_dino(dino_src, seed=SEEDS['dino'], cfg=DINO_CFG, **INIT)
    d = os.path.join(out, DIRS['dino'])
    os.makedirs(d, exist_ok=True)
    save_file(mf.dino_to_hf(dino.state_dict(), DINO_CFG['depth'], DINO_CFG['embed_dim']),
              os.path.join(d, 'model.safetensors'), metadata={'format': 'pt'})
    with open(os.path.join(d, 'config.json'), 'w') as f:
        json.dump(mf.dino_hf_config(DINO_CFG), f, indent=2)
    errs['dino'] = mf.verify_dino_hf(d, dino)

    # the head as make_fixtures makes it (its weight scale keeps the scores spread around 0.5)
    g = torch.Generator().manual_seed(SEEDS['aesthetic_head'])
    head_w = (torch.randn(1, 768, generator=g) * 3.0).float()
    head_b = torch.tensor([5.0], dtype=torch.float32)
    d = os.path.join(out, DIRS['aesthetic_head'])
    os.makedirs(d, exist_ok=True)
    torch.save({'weight': head_w.clone(), 'bias': head_b.clone()}, os.path.join(d, 'sa_0_4_vit_l_14_linear.pth'))
    emb_reader = os.path.join(out, 'aesthetic_model', 'emb_reader')   # VBench's own loader wants this layout
    os.makedirs(emb_reader, exist_ok=True)
    shutil.copy(os.path.join(d, 'sa_0_4_vit_l_14_linear.pth'), emb_reader)
    aesthetic_model = get_aesthetic_model(emb_reader)
    t_models = time.perf_counter() - t_start

    os.chdir(fixtures)                      # so that VBench records the video paths as clips/<clip>
    cpaths = {c: f'clips/{c}' for c in mf.ALL_CLIPS}
    t0 = time.perf_counter()
    scores, style_dict, seconds = mf.run_vbench(dino, clip_b32, clip_l14, aesthetic_model, cpaths)
    t_vbench = time.perf_counter() - t0
    with open(os.path.join(out, 'scores.json'), 'w') as f:
        json.dump(mf.to_json(scores), f, indent=2, allow_nan=False)

    inputs = {
        'generator': 'tools/parity/make_fullsize.py',
        'clips': {c: {'path': cpaths[c]} for c in mf.ALL_CLIPS},
        'dimensions': {
            'subject_consistency': {'clips': mf.MODEL_CLIPS, 'model': DIRS['dino']},
            'background_consistency': {'clips': mf.MODEL_CLIPS, 'model': DIRS['clip_b32']},
            'aesthetic_quality': {'clips': mf.MODEL_CLIPS, 'model': DIRS['clip_l14'],
                                  'head': DIRS['aesthetic_head'] + '/sa_0_4_vit_l_14_linear.pth'},
            'appearance_style': {'clips': mf.MODEL_CLIPS, 'model': DIRS['clip_b32'],
                                 'style_phrases': {c: mf.CLIP_STYLE[c] for c in mf.MODEL_CLIPS},
                                 'video_dict': style_dict},
            'temporal_flickering': {'clips': mf.ALL_CLIPS, 'model': None},
        },
        'models': {
            'clip_b32': {'dir': DIRS['clip_b32'], 'openai_clip_ctor': CLIP_B32, 'logit_scale': LOGIT_SCALE,
                         'seed': SEEDS['clip_b32'], 'max_abs_err_vs_transformers': errs['clip_b32']},
            'clip_l14': {'dir': DIRS['clip_l14'], 'openai_clip_ctor': CLIP_L14, 'logit_scale': LOGIT_SCALE,
                         'seed': SEEDS['clip_l14'], 'max_abs_err_vs_transformers': errs['clip_l14']},
            'dino': {'dir': DIRS['dino'], 'dino_ctor': dict(DINO_CFG, norm_eps=1e-6, num_classes=0, img_size=224),
                     'seed': SEEDS['dino'], 'max_abs_err_vs_transformers_224': errs['dino']},
            'aesthetic_head': {'file': DIRS['aesthetic_head'] + '/sa_0_4_vit_l_14_linear.pth', 'bias': 5.0,
                               'seed': SEEDS['aesthetic_head']},
            'init_random_kwargs': INIT,
        },
        'seconds': {'build_save_verify_models': t_models, 'vbench_total': t_vbench, 'vbench_per_dimension': seconds,
                    'torch_threads': torch.get_num_threads()},
        'versions': {'python': sys.version.split()[0], 'torch': torch.__version__,
                     'transformers': transformers.__version__, 'vbench': '0.1.5'},
    }
    with open(os.path.join(out, 'inputs.json'), 'w') as f:
        json.dump(mf.to_json(inputs), f, indent=2, allow_nan=False)

    print(json.dumps(mf.to_json({k: v[0] for k, v in scores.items()}), indent=1))
    print(json.dumps(mf.to_json({k: [r['video_results'] for r in v[1]] for k, v in scores.items()}), indent=1))
    print(f'models {t_models:.1f} s; VBench {t_vbench:.1f} s: '
          + ', '.join(f'{k} {v:.1f} s' for k, v in seconds.items()))


if __name__ == '__main__':
    main()
