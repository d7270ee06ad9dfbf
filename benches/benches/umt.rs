//! human_action's work per 16-frame clip on the CPU, real-size UMT-L/16 with random weights
//! made at bench time: the preprocessing (cv2 INTER_LINEAR to short side 256, centre crop 224,
//! ClipToTensor + ImageNet normalisation) of 16 720p frames, and the network forward on one
//! (1, 3, 16, 224, 224) clip. `cargo bench -p vbench-benches --bench umt`; VBench-Python's
//! figures for the same work: `tools/bench/reference_umt.py`.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use criterion::{criterion_group, criterion_main, Criterion};
use vbench_models::umt;
use vbench_scorer::dimensions::human_action;
use vbench_scorer::video::Frame;

fn frame(h: usize, w: usize, k: usize) -> Frame {
    Frame {
        width: w,
        height: h,
        data: (0..h * w * 3).map(|i| ((i + k) * 7 % 251) as u8).collect(),
    }
}

fn bench_umt(c: &mut Criterion) {
    let frames: Vec<Frame> = (0..human_action::NUM_FRAMES)
        .map(|k| frame(720, 1280, k))
        .collect();
    let mut g = c.benchmark_group("human_action per 16-frame clip");
    g.sample_size(10);
    g.bench_function("preprocess 16x720p", |b| {
        b.iter(|| {
            let crops: Vec<Frame> = frames.iter().map(human_action::resize_and_crop).collect();
            human_action::clip_to_tensor(&crops)
        })
    });
    // random weights through a VarMap, then re-read as plain tensors: candle records a backprop
    // graph for every op on a `Var`, which would keep all 24 blocks' activations (tens of GB)
    let cfg = umt::Config::vit_large_patch16_224();
    let vm = VarMap::new();
    umt::Model::new(&cfg, VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu)).unwrap();
    let weights: HashMap<String, Tensor> = vm
        .data()
        .lock()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_tensor().detach()))
        .collect();
    drop(vm);
    let model = umt::Model::new(
        &cfg,
        VarBuilder::from_tensors(weights, DType::F32, &Device::Cpu),
    )
    .unwrap();
    let x = Tensor::randn(0f32, 1., (1, 3, 16, 224, 224), &Device::Cpu).unwrap();
    g.bench_function("UMT-L/16 forward", |b| {
        b.iter(|| model.forward(&x).unwrap())
    });
    g.bench_function("per 16-frame clip: preprocess 16x720p + forward", |b| {
        b.iter(|| {
            let crops: Vec<Frame> = frames.iter().map(human_action::resize_and_crop).collect();
            let x = Tensor::from_vec(
                human_action::clip_to_tensor(&crops),
                (1, 3, 16, 224, 224),
                &Device::Cpu,
            )
            .unwrap();
            model.forward(&x).unwrap()
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(std::time::Duration::from_secs(1));
    targets = bench_umt
}
criterion_main!(benches);
