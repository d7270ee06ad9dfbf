//! Tag2Text (scene) CPU latency with the real-size architecture (Swin-B/384, 12-layer BERTs,
//! vocab 30524) and random weights made at bench time: Swin + tagging head per 384×384 frame,
//! and one frame's whole caption (tags, tag encoder, 3-beam search to length 30).
//! `cargo bench -p vbench-benches --bench tag2text`; VBench-Python's figures for the same work:
//! `tools/bench/reference_tag2text.py`.

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use criterion::{criterion_group, criterion_main, Criterion};
use vbench_models::tag2text::{BeamConfig, Config, Tag2Text};

fn bench_tag2text(c: &mut Criterion) {
    let dev = Device::Cpu;
    let vm = VarMap::new();
    let vb = VarBuilder::from_varmap(&vm, DType::F32, &dev);
    let model = Tag2Text::new(&Config::tag2text_swin_b_384(), vb).expect("model");
    let img = Tensor::randn(0f32, 1f32, (1, 3, 384, 384), &dev).expect("input");
    let mut g = c.benchmark_group("tag2text 384 per frame");
    g.sample_size(10);
    g.bench_function("swin-b + tag head", |b| {
        b.iter(|| {
            let e = model.image_embeds(&img).expect("swin");
            model.tag_logits(&e).expect("tags")
        })
    });
    let emb = model.image_embeds(&img).expect("swin");
    let ids: Vec<u32> = std::iter::once(30523u32)
        .chain((0..20).map(|i| 2000 + i))
        .chain(std::iter::once(102))
        .chain(std::iter::repeat_n(0, 18))
        .collect();
    let mask: Vec<u32> = (0..40).map(|i| (i < 22) as u32).collect();
    let ids = Tensor::from_vec(ids, (1, 40), &dev).expect("ids");
    let mask = Tensor::from_vec(mask, (1, 40), &dev).expect("mask");
    g.bench_function("tag encoder + beam search (3 beams, to length 30)", |b| {
        b.iter(|| {
            let t = model.encode_tags(&ids, &mask, &emb).expect("tag encoder");
            model
                .generate(
                    &t,
                    &[30522, 1037, 3861, 1997],
                    &BeamConfig {
                        min_length: 30,
                        ..BeamConfig::default()
                    },
                )
                .expect("generate")
        })
    });
    g.finish();
}

criterion_group!(benches, bench_tag2text);
criterion_main!(benches);
