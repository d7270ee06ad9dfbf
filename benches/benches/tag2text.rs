//! Tag2Text (scene) CPU latency with the real-size architecture (Swin-B/384, 12-layer BERTs,
//! vocab 30524) and N(0, 0.02²) random weights made at bench time (values do not change the
//! cost; the beam search is forced to length 30 with `min_length = 30`, VBench's worst case, so
//! the work does not depend on when random captions would end).
//!
//! Criterion, per 384×384 frame (batch 1): Swin-B; the tagging head; the tag encoder + 3-beam
//! search; the whole frame (Swin + tags + tag encoder + beam search). Then, timed by hand (min of
//! `T2T_RUNS`, default 3, runs): one 16-frame `scene` video, which runs only sampled frames 0..5
//! as one batch of 6 (spec 40-semantic.md §2.5.5), and a per-stage breakdown of one frame.
//! The load average is printed next to each hand-timed figure (2 shared cores here).
//! `cargo bench -p vbench-benches --bench tag2text`; VBench-Python's figures for the same work:
//! `tools/bench/reference_tag2text.py`.

use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use criterion::{criterion_group, criterion_main, Criterion};
use vbench_models::tag2text::{BeamConfig, Config, Tag2Text};

const PROMPT: [u32; 4] = [30522, 1037, 3861, 1997];

fn load_avg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn model() -> Tag2Text {
    let dev = Device::Cpu;
    let vm = VarMap::new();
    let vb = VarBuilder::from_varmap(&vm, DType::F32, &dev);
    Tag2Text::new(&Config::tag2text_swin_b_384(), vb.clone()).expect("model");
    for v in vm.all_vars() {
        let r = Tensor::randn(0f32, 0.02, v.shape(), &dev).expect("randn");
        v.set(&r).expect("set");
    }
    // rebuild so that tensors gathered at load (Swin's relative position bias) see the values
    Tag2Text::new(&Config::tag2text_swin_b_384(), vb).expect("model")
}

/// Tag-encoder ids/mask for `n` frames: `[ENC]`, 20 word pieces, `[SEP]`, padding to 40.
fn tag_ids(n: usize) -> (Tensor, Tensor) {
    let dev = Device::Cpu;
    let row: Vec<u32> = std::iter::once(30523u32)
        .chain((0..20).map(|i| 2000 + i))
        .chain(std::iter::once(102))
        .chain(std::iter::repeat_n(0, 18))
        .collect();
    let mask: Vec<u32> = (0..40).map(|i| (i < 22) as u32).collect();
    (
        Tensor::from_vec(row.repeat(n), (n, 40), &dev).expect("ids"),
        Tensor::from_vec(mask.repeat(n), (n, 40), &dev).expect("mask"),
    )
}

fn beam() -> BeamConfig {
    BeamConfig {
        min_length: 30,
        ..BeamConfig::default()
    }
}

/// Everything `scene` runs for a batch of frames (tag strings replaced by fixed ids: the
/// tokenizer is not part of the model cost).
fn caption_frames(m: &Tag2Text, img: &Tensor) {
    let n = img.dim(0).expect("dim");
    let e = m.image_embeds(img).expect("swin");
    let logits = m.tag_logits(&e).expect("tags");
    m.select_tags(&logits).expect("select");
    let (ids, mask) = tag_ids(n);
    let t = m.encode_tags(&ids, &mask, &e).expect("tag encoder");
    m.generate(&t, &PROMPT, &beam()).expect("generate");
}

fn min_ms(runs: usize, mut f: impl FnMut()) -> f64 {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .fold(f64::INFINITY, f64::min)
}

fn bench_tag2text(c: &mut Criterion) {
    let dev = Device::Cpu;
    let m = model();
    let img = Tensor::randn(0f32, 1f32, (1, 3, 384, 384), &dev).expect("input");
    let emb = m.image_embeds(&img).expect("swin");
    let (ids, mask) = tag_ids(1);
    let states = m.encode_tags(&ids, &mask, &emb).expect("tag encoder");
    let runs: usize = std::env::var("T2T_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);

    // Hand-timed breakdown of one frame, then the 16-frame video (6 frames run).
    let swin = min_ms(runs, || {
        m.image_embeds(&img).expect("swin");
    });
    let head = min_ms(runs, || {
        m.tag_logits(&emb).expect("tags");
    });
    let enc = min_ms(runs, || {
        m.encode_tags(&ids, &mask, &emb).expect("tag encoder");
    });
    let gen = min_ms(runs, || {
        m.generate(&states, &PROMPT, &beam()).expect("generate");
    });
    println!(
        "tag2text per frame (min of {runs}): swin-b {swin:.0} ms, tag head {head:.0} ms, \
         tag encoder {enc:.0} ms, beam search to 30 {gen:.0} ms; total {:.0} ms [load {}]",
        swin + head + enc + gen,
        load_avg()
    );
    let video = Tensor::randn(0f32, 1f32, (6, 3, 384, 384), &dev).expect("input");
    let v = min_ms(runs, || caption_frames(&m, &video));
    println!(
        "tag2text per 16-frame scene video (6 frames run, min of {runs}): {v:.0} ms [load {}]",
        load_avg()
    );

    let mut g = c.benchmark_group("tag2text 384 per frame");
    g.sample_size(10);
    g.bench_function("swin-b", |b| b.iter(|| m.image_embeds(&img).expect("swin")));
    g.bench_function("tag head", |b| b.iter(|| m.tag_logits(&emb).expect("tags")));
    g.bench_function("tag encoder + beam search (3 beams, to length 30)", |b| {
        b.iter(|| {
            let t = m.encode_tags(&ids, &mask, &emb).expect("tag encoder");
            m.generate(&t, &PROMPT, &beam()).expect("generate")
        })
    });
    g.bench_function("whole frame", |b| b.iter(|| caption_frames(&m, &img)));
    g.finish();
}

criterion_group!(benches, bench_tag2text);
criterion_main!(benches);
