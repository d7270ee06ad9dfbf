//! imaging_quality per frame on the CPU: VBench's `'longer'` transform and real-size MUSIQ
//! (pyiqa defaults: 14 layers, 384 wide, scales 224/384 + original) with random weights, at
//! 512 px longer side (512×512: 450 tokens; 288×512, a 16:9 frame: 257 valid tokens).
//! VBench runs one frame per forward; batch 4 is what the scorer does by default.
//! `cargo bench -p vbench-benches --bench musiq`; Python: `tools/bench/reference_musiq.py`.
//!
//! Measured 2026-12-01 on the 2-core dev machine under load average ~12 (noisy, inflated):
//! transform 720p 3.2 ms (Python 32 ms); patches 512×512 5.6 ms (Python 375 ms); forward
//! 512×512 batch 1 1.53 s/frame (Python 3.65 s), 288×512 batch 1 0.91 s (Python 4.9 s, noise),
//! 512×512 batch 4 7.11 s per batch = 1.78 s/frame (Python 3.70 s/frame).
//! Again at 11:38–11:42 UTC (`-- --quick`, plain-tensor weights) under load average 17–25:
//! transform 3.4 ms (Python 42 ms); patches 4.7 ms (Python 119 ms); forward 512×512 batch 1
//! 4.0 s/frame (Python 6.6 s), 288×512 batch 1 2.2 s (Python 13.1 s, noise), 512×512 batch 4
//! 9.46 s per batch = 2.37 s/frame (Python 5.55 s/frame); peak RSS 466 MB (Python 1.25 GB).

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use criterion::{criterion_group, criterion_main, Criterion};
use vbench_models::musiq;
use vbench_scorer::dimensions::imaging_quality::{transform, PreprocessMode};
use vbench_scorer::video::Frame;

fn frame(h: usize, w: usize) -> Frame {
    Frame {
        width: w,
        height: h,
        data: (0..h * w * 3).map(|i| (i * 7 % 251) as u8).collect(),
    }
}

fn input(h: usize, w: usize, n: usize) -> Tensor {
    let p = transform(&frame(h, w), PreprocessMode::Longer).expect("valid size");
    let data: Vec<f32> = (0..n).flat_map(|_| p.data.iter().copied()).collect();
    Tensor::from_vec(data, (n, 3, p.height, p.width), &Device::Cpu).expect("shape")
}

fn bench_musiq(c: &mut Criterion) {
    // random weights through a VarMap, then re-read as plain tensors: candle records a backprop
    // graph for every op on a `Var`, which would keep every layer's activations alive
    let cfg = musiq::Config::spaq();
    let vm = VarMap::new();
    musiq::Model::new(&cfg, VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu))
        .expect("random MUSIQ");
    let weights: HashMap<String, Tensor> = vm
        .data()
        .lock()
        .expect("not poisoned")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_tensor().detach()))
        .collect();
    drop(vm);
    let model = musiq::Model::new(
        &cfg,
        VarBuilder::from_tensors(weights, DType::F32, &Device::Cpu),
    )
    .expect("random MUSIQ");

    let mut g = c.benchmark_group("imaging_quality transform");
    let f720 = frame(720, 1280);
    g.bench_function("720p -> 288x512", |b| {
        b.iter(|| transform(&f720, PreprocessMode::Longer))
    });
    let x = input(512, 512, 1);
    g.bench_function("musiq patches 512x512", |b| {
        b.iter(|| model.patches(&x).expect("patches"))
    });
    g.finish();

    let mut g = c.benchmark_group("musiq forward per frame");
    g.sample_size(10);
    g.measurement_time(std::time::Duration::from_secs(20));
    for (h, w) in [(512, 512), (288, 512)] {
        let x1 = input(h, w, 1);
        g.bench_function(format!("{h}x{w} batch 1"), |b| {
            b.iter(|| model.forward(&x1).expect("forward"))
        });
    }
    // batch 4: the time of one batch ÷ 4 is the per-frame figure
    let x4 = input(512, 512, 4);
    g.bench_function("512x512 batch 4 (whole batch)", |b| {
        b.iter(|| model.forward(&x4).expect("forward"))
    });
    g.finish();
}

criterion_group!(benches, bench_musiq);
criterion_main!(benches);
