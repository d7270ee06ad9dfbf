#!/usr/bin/env python3
"""Parity fixtures for ViCLIP, overall_consistency and temporal_style (tests/fixtures/parity_viclip/).

Runs VBench 0.1.5's own code on CPU in fp32:
  * the clips: the four committed parity clips (tests/fixtures/parity/clips/clip_{a,b,c,d}.mp4: 8, 6, 5 and 1
    frames, all shorter than or equal to 8 frames and smaller than 224 px) plus clip_e.mp4 made here (300x250, 20
    frames: more frames than sampled, and a downscaling resize with a crop offset);
  * the network: VBench's ViCLIP class (vbench.third_party.ViCLIP.viclip.ViCLIP) with its two encoder builders
    overridden to return VBench's own VisionTransformer / CLIP_TEXT classes at a shrunken size (same structure:
    patch 14, 224 px, 8 frames, temporal embedding, context 32, vocab 49408), fixed-seed random weights stored
    as fp16-representable values, saved as {"model": state_dict} in fp16 (like the real file is assumed to
    be; loaded and upcast by VBench's own ViCLIP.__init__ with strict load_state_dict);
  * the scores: vbench.overall_consistency.overall_consistency and vbench.temporal_style.temporal_style;
  * the intermediates: vbench.utils.read_frames_decord_by_fps + clip_transform(224) (uint8 crop of each clip's
    first sampled frame, the normalised input of clip_a's and clip_e's first frame), ViCLIP video and text
    features (encode_vision(test=True), encode_text), and the token ids of tricky prompts from ViCLIP's own
    tokenizer (CLIP_TEXT.tokenize, context 32), plus clip.tokenize (context 77, truncate=True) ids.

Usage (environment: tools/parity/README.md, plus `pip install einops ftfy regex`):
  PYTHONPATH=fixtures-work/vbench_wheel /tmp/refenv/bin/python tools/parity/make_fixtures_viclip.py
  ... make_fixtures_viclip.py --full-size OUT_DIR     # real-size ViCLIP-L/14, random weights (not committed)
"""
import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

torch.set_num_threads(2)
torch.use_deterministic_algorithms(True)

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.abspath(os.path.join(HERE, '..', '..'))
sys.path.insert(0, HERE)
from make_fixtures import FF, BITEXACT, ffprobe, init_random_, to_json  # noqa: E402

PARITY = os.path.join(REPO_ROOT, 'tests', 'fixtures', 'parity')
CLIPS = ['clip_a.mp4', 'clip_b.mp4', 'clip_c.mp4', 'clip_d.mp4', 'clip_e.mp4']
CLIP_E = ('testsrc2 300x250 with a hue sweep, 10 fps, 20 frames, yuv420p, libx264, untagged', [
    '-f', 'lavfi', '-i', 'testsrc2=size=300x250:rate=10', '-vf', 'hue=h=t*50',
    '-frames:v', '20', '-pix_fmt', 'yuv420p', '-c:v', 'libx264', '-preset', 'medium', '-crf', '30',
    '-x264-params', 'threads=1'])

# prompts of the two dimensions (one per clip); the first overall one is the real VBench prompt that
# truncation cuts (33 tokens), the temporal_style ones include one of the 10 "Snow rocky mountains" prompts
OVERALL = {
    'clip_a.mp4': 'Snow rocky mountains peaks canyon. Snow blanketed rocky mountains surround and shadow '
                  'deep canyons. The canyons twist and bend through the high elevated mountain peaks.',
    'clip_b.mp4': 'Close up of grapes on a rotating table.',
    'clip_c.mp4': 'A cute happy Corgi playing in park, sunset, pixel art',
    'clip_d.mp4': 'a cat’s “toy” &amp; 2 dogs!',
    'clip_e.mp4': 'An astronaut flying in space, oil painting',
}
TEMPORAL = {
    'clip_a.mp4': 'Snow rocky mountains peaks canyon. Snow blanketed rocky mountains surround and shadow '
                  'deep canyons. The canyons twist and bend through the high elevated mountain peaks, in '
                  'super slow motion',
    'clip_b.mp4': 'A beautiful coastal beach in spring, waves lapping on sand, zoom in',
    'clip_c.mp4': 'A beautiful coastal beach in spring, waves lapping on sand, camera pans left',
    'clip_d.mp4': 'The bund Shanghai, racking focus',
    'clip_e.mp4': 'A panda drinking coffee in a cafe in Paris, with an intense shaking effect',
}
TRICKY = [
    'a photo of a cat',
    'Hello, world!!! (really?) -- yes; no: 3.14 & 42%',
    'a “curly” quote’s test and ‘single’ ones',
    'café résumé naïve Zoë façade Ångström',
    'a dog 🐶 with a party hat 🎉🎉',
    'TABS\tand\nnewlines   and  spaces ',
    'html &amp; entities &lt;b&gt; &#39;x&#39; &quot;q&quot;',
    'ﬁne ﬂowers with ligatures',
    'ＦＵＬＬＷＩＤＴＨ text　ideographic space',
    'Straße İstanbul ΣΊΣΥΦΟΣ',
    'primes 5′ 6″, ʼokina, C1 \x93quoted\x94 text\ufeff and a bell\x07',
    'halfwidth ｶﾀｶﾅ ￥100 ﬀ',
    '&amp;amp; double escaped &lt;tag&gt; &eacute;t&eacute;',
    'a <b>bold</b> &amp;amp; tag',
    '日本語のテキスト and 中文',
    'The bund Shanghai, rock-carved façades',
    ' '.join(['word%d' % i for i in range(40)]),
    ' '.join(['a very long prompt that goes on'] * 12),
]


def phrase_key(i):
    return f'p{i:02d}'


def make_clip_e(path):
    if not os.path.exists(path):
        subprocess.run(FF + CLIP_E[1] + BITEXACT + [path], check=True)


# ---- tiny ViCLIP ----------------------------------------------------------------------------
TINY_VISION = dict(input_resolution=224, patch_size=14, width=32, layers=2, heads=2, output_dim=24,
                   kernel_size=1, num_frames=8)
TINY_TEXT = dict(embed_dim=24, context_length=32, vocab_size=49408, transformer_width=8, transformer_heads=2,
                 transformer_layers=2, checkpoint_num=0)
FULL_VISION = dict(input_resolution=224, patch_size=14, width=1024, layers=24, heads=16, output_dim=768,
                   kernel_size=1, num_frames=8)
FULL_TEXT = dict(embed_dim=768, context_length=32, vocab_size=49408, transformer_width=768,
                 transformer_heads=12, transformer_layers=12, checkpoint_num=0)


def viclip_class(vision_kw, text_kw):
    from vbench.third_party.ViCLIP.viclip import ViCLIP
    from vbench.third_party.ViCLIP.viclip_vision import VisionTransformer
    from vbench.third_party.ViCLIP.viclip_text import CLIP_TEXT

    class SizedViCLIP(ViCLIP):
        """VBench's ViCLIP; only the two builders return VBench's encoder classes at another size."""

        def build_vision_encoder(self):
            return VisionTransformer(**vision_kw).eval()

        def build_text_encoder(self):
            return CLIP_TEXT(**text_kw).eval()

    return SizedViCLIP


def rust_config(vision_kw, text_kw):
    return {
        'vision': {k: vision_kw[k] for k in ('input_resolution', 'patch_size', 'width', 'layers', 'heads',
                                             'num_frames', 'output_dim')},
        'text': {'context_length': text_kw['context_length'], 'vocab_size': text_kw['vocab_size'],
                 'width': text_kw['transformer_width'], 'heads': text_kw['transformer_heads'],
                 'layers': text_kw['transformer_layers'], 'embed_dim': text_kw['embed_dim']},
    }


def build_checkpoint(cls, tokenizer, seed, path, dtype, **init):
    """Random fixed-seed weights through make_fixtures.init_random_ (the projections are (in, out) like CLIP's
    visual.proj/text_projection), rounded to `dtype`, saved as {'model': sd}."""
    torch.manual_seed(seed)
    m = cls(tokenizer=tokenizer, pretrain=None)
    named = dict(m.named_parameters())
    # init_random_ treats 'visual.proj' / 'text_projection' as (in, out); map our names onto that rule
    with torch.no_grad():
        init_random_(m.vision_encoder, seed, **init)
        init_random_(m.text_encoder, seed + 7, **init)
        g = torch.Generator().manual_seed(seed + 1)
        for name in ('vision_encoder.proj', 'text_encoder.text_projection'):
            p = named[name]
            p.copy_(2.0 * torch.randn(p.shape, generator=g) / math.sqrt(p.shape[0]))
        # temporal embedding: init_random_ leaves it to the generic >=2-dim rule; make it embedding-sized
        p = named['vision_encoder.temporal_positional_embedding']
        p.copy_(0.05 * torch.randn(p.shape, generator=g))
        m.temp.fill_(1 / 100.0)
    sd = {k: v.detach().to(dtype).contiguous().clone() for k, v in m.state_dict().items()}
    torch.save({'model': sd, 'epoch': 0}, path)
    return sd


def run(out, work, vision_kw, text_kw, seed, dtype, full):
    import decord
    import torchvision
    from safetensors.torch import save_file
    import vbench.utils as vu
    from vbench.overall_consistency import overall_consistency, get_text_features, get_vid_features
    from vbench.temporal_style import temporal_style
    from vbench.third_party.ViCLIP.simple_tokenizer import SimpleTokenizer
    import clip

    bpe = os.path.join(vu.CACHE_DIR, 'ViCLIP', 'bpe_simple_vocab_16e6.txt.gz')
    tokenizer = SimpleTokenizer(bpe)
    cls = viclip_class(vision_kw, text_kw)

    os.makedirs(out, exist_ok=True)
    ckpt_dir = os.path.join(out, 'OpenGVLab', 'VBench_Used_Models') if full else os.path.join(out, 'models')
    os.makedirs(ckpt_dir, exist_ok=True)
    ckpt = os.path.join(ckpt_dir, 'ViClip-InternVid-10M-FLT.pth')
    build_checkpoint(cls, tokenizer, seed, ckpt, dtype)
    cfg = rust_config(vision_kw, text_kw)
    if not full:     # the real size is the scorer's built-in preset: no config file
      with open(os.path.join(ckpt_dir, 'ViClip-InternVid-10M-FLT.config.json'), 'w') as f:
          json.dump(cfg, f, indent=2)
    # VBench's own loading path: torch.load(path)['model'], strict load_state_dict
    model = cls(tokenizer=tokenizer, pretrain=ckpt).eval()
    if full:
        tok_dir = os.path.join(out, 'openai', 'clip-vit-base-patch32')
        os.makedirs(tok_dir, exist_ok=True)
        shutil.copy(os.path.join(PARITY, 'models', 'clip_b32_tiny', 'tokenizer.json'), tok_dir)

    # VBench's functions, in the clip directory so that paths read "clips/<name>"
    cwd = os.getcwd()
    os.chdir(work)
    paths = {c: f'clips/{c}' for c in CLIPS}
    ov_dict = [{'prompt': OVERALL[c], 'video_list': [paths[c]]} for c in CLIPS]
    ts_dict = [{'prompt': TEMPORAL[c], 'video_list': [paths[c]]} for c in CLIPS]
    seconds = {}
    scores = {}
    with torch.no_grad():
        t0 = time.perf_counter()
        scores['overall_consistency'] = list(overall_consistency(model, ov_dict, tokenizer, 'cpu'))
        seconds['overall_consistency'] = time.perf_counter() - t0
        t0 = time.perf_counter()
        scores['temporal_style'] = list(temporal_style(model, ts_dict, tokenizer, 'cpu'))
        seconds['temporal_style'] = time.perf_counter() - t0

        tens = {}
        recomputed = {}
        transform = vu.clip_transform(224)
        crop_only = torchvision.transforms.Compose(transform.transforms[:2])
        sampled = {}
        for c in CLIPS:
            vr = decord.VideoReader(paths[c], num_threads=1)
            sampled[c] = {'vlen': len(vr), 'avg_fps': vr.get_avg_fps(),
                          'indices': [int(i) for i in vu.get_frame_indices(8, len(vr), sample='middle')]}
            frames = vu.read_frames_decord_by_fps(paths[c], num_frames=8, sample='middle')  # uint8 (8,3,H,W)
            x = transform(frames)
            if not full:
                tens[f'crop_u8/{c}'] = crop_only(frames)[0].contiguous()
                if c in ('clip_a.mp4', 'clip_e.mp4'):
                    tens[f'input/{c}'] = x[0].contiguous()
            feat = model.encode_vision(x.unsqueeze(0), test=True).float()
            tens[f'video_features/{c}'] = feat[0]
            vf = get_vid_features(model, x.unsqueeze(0))
            for dim, prompts in (('overall_consistency', OVERALL), ('temporal_style', TEMPORAL)):
                tf = get_text_features(model, prompts[c], tokenizer)
                recomputed[(dim, c)] = float((vf @ tf.T)[0][0])
        prompts_all = TRICKY + list(OVERALL.values()) + list(TEMPORAL.values())
        phrases = {}
        for i, p in enumerate(prompts_all):
            k = phrase_key(i)
            phrases[k] = p
            ids = model.text_encoder.tokenize(p, context_length=model.max_txt_l)
            tens[f'text_ids/{k}'] = ids[0].to(torch.int64)
            tens[f'text_ids77/{k}'] = clip.tokenize([p], truncate=True)[0].to(torch.int64)
            tens[f'text_features/{k}'] = model.encode_text(p).float()[0]
    os.chdir(cwd)
    for dim in scores:
        for rec in scores[dim][1]:
            c = os.path.basename(rec['video_path'])
            assert abs(recomputed[(dim, c)] - rec['video_results']) < 1e-7, (dim, c)
    tens = {k: v.detach().contiguous().clone() for k, v in tens.items()}
    save_file(tens, os.path.join(out, 'tensors.safetensors'))
    with open(os.path.join(out, 'scores.json'), 'w') as f:
        json.dump(to_json(scores), f, indent=2, allow_nan=False)
    token_counts = {k: len(tokenizer.encode(p)) + 2 for k, p in phrases.items()}
    inputs = {
        'generator': 'tools/parity/make_fixtures_viclip.py' + (' --full-size' if full else ''),
        'clips': {c: {'path': paths[c], 'ffprobe': ffprobe(os.path.join(work, paths[c])), **sampled[c]}
                  for c in CLIPS},
        'clip_e_ffmpeg': {'description': CLIP_E[0], 'args': CLIP_E[1] + BITEXACT},
        'prompts': {'overall_consistency': OVERALL, 'temporal_style': TEMPORAL},
        'phrases': phrases,
        'token_counts_with_sot_eot': token_counts,
        'model': {'vision': vision_kw, 'text': text_kw, 'seed': seed, 'stored_dtype': str(dtype),
                  'rust_config': cfg, 'checkpoint': os.path.relpath(ckpt, out)},
        'tensors': {'crop_u8': "uint8 (3,224,224): Resize+CenterCrop of the first sampled frame",
                    'input': 'f32 (3,224,224): clip_transform(224) of the first sampled frame',
                    'video_features': 'encode_vision(x, test=True).float()[0], not normalised',
                    'text_ids': 'CLIP_TEXT.tokenize(p, context_length=32)[0]',
                    'text_ids77': 'clip.tokenize([p], truncate=True)[0]',
                    'text_features': 'encode_text(p).float()[0], not normalised'},
        'vbench_seconds': seconds,
        'versions': {'python': sys.version.split()[0], 'torch': torch.__version__,
                     'torchvision': torchvision.__version__, 'numpy': np.__version__,
                     'decord': decord.__version__, 'vbench': '0.1.5'},
    }
    with open(os.path.join(out, 'inputs.json'), 'w') as f:
        json.dump(to_json(inputs), f, indent=2, allow_nan=False, ensure_ascii=False)
    print(json.dumps(to_json({k: v for k, v in scores.items()}), indent=1))
    print('vbench seconds', seconds)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--out', default=os.path.join(REPO_ROOT, 'tests', 'fixtures', 'parity_viclip'))
    ap.add_argument('--full-size', metavar='OUT_DIR', help='real-size ViCLIP-L/14 with random weights, '
                    'laid out as a --weights-dir (not committed)')
    args = ap.parse_args()

    # VBench reads the BPE vocabulary from $VBENCH_CACHE_DIR/ViCLIP/ (it would wget it): use the openai-clip
    # package's identical copy. vbench.utils reads the variable at import time.
    cache = tempfile.mkdtemp(prefix='vbench-cache-')
    os.makedirs(os.path.join(cache, 'ViCLIP'))
    import clip
    shutil.copy(os.path.join(os.path.dirname(clip.__file__), 'bpe_simple_vocab_16e6.txt.gz'),
                os.path.join(cache, 'ViCLIP'))
    os.environ['VBENCH_CACHE_DIR'] = cache

    out = os.path.abspath(args.full_size or args.out)
    clip_dir = os.path.join(out if not args.full_size else os.path.join(REPO_ROOT, 'tests', 'fixtures',
                                                                        'parity_viclip'), 'clips')
    os.makedirs(clip_dir, exist_ok=True)
    make_clip_e(os.path.join(clip_dir, 'clip_e.mp4'))
    # a work dir with every clip under clips/
    work = tempfile.mkdtemp(prefix='viclip-work-')
    os.makedirs(os.path.join(work, 'clips'))
    for c in CLIPS:
        src = os.path.join(clip_dir if c == 'clip_e.mp4' else os.path.join(PARITY, 'clips'), c)
        shutil.copy(src, os.path.join(work, 'clips', c))
    if args.full_size:
        run(out, work, FULL_VISION, FULL_TEXT, seed=2024, dtype=torch.float16, full=True)
    else:
        run(out, work, TINY_VISION, TINY_TEXT, seed=1114, dtype=torch.float16, full=False)
    shutil.rmtree(work)
    shutil.rmtree(cache)


if __name__ == '__main__':
    main()
