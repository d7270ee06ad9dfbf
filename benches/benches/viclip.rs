//! ViCLIP (overall_consistency, temporal_style) CPU latency per 8-frame clip, with the real-size
//! ViCLIP-L/14 and random weights made at bench time: VBench's uint8 `clip_transform(224)` of 8
//! sampled 512×512 frames, the video forward (1, 8, 3, 224, 224), the whole clip (transform +
//! forward + cosine), and the text forward (1, 32). VBench-Python's figures for the same work:
//! `tools/bench/reference_viclip.py`. `cargo bench -p vbench-benches --bench viclip`

use std::time::Duration;

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use criterion::{criterion_group, criterion_main, Criterion};
use vbench_models::viclip;
use vbench_scorer::transforms;
use vbench_scorer::video::Frame;

fn frame(h: usize, w: usize, seed: usize) -> Frame {
    Frame {
        width: w,
        height: h,
        data: (0..h * w * 3)
            .map(|i| ((i + seed) * 7 % 251) as u8)
            .collect(),
    }
}

fn clip_input(frames: &[Frame]) -> Tensor {
    let mut data = Vec::with_capacity(8 * 3 * 224 * 224);
    for f in frames {
        data.extend(transforms::clip_transform_u8(f, 224).data);
    }
    Tensor::from_vec(data, (1, frames.len(), 3, 224, 224), &Device::Cpu).unwrap()
}

fn bench_viclip(c: &mut Criterion) {
    let frames: Vec<Frame> = (0..8).map(|i| frame(512, 512, i)).collect();
    let mut g = c.benchmark_group("viclip");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(20));
    g.bench_function("clip_transform uint8, 8 frames 512x512", |b| {
        b.iter(|| clip_input(&frames))
    });
    // random weights through a VarMap, then re-read as plain tensors: candle records a backprop
    // graph for every op on a `Var`, which would keep every block's activations alive
    let cfg = viclip::Config::vbench();
    let vm = VarMap::new();
    viclip::Model::new(&cfg, VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu)).unwrap();
    let weights: HashMap<String, Tensor> = vm
        .data()
        .lock()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_tensor().detach()))
        .collect();
    drop(vm);
    let model = viclip::Model::new(
        &cfg,
        VarBuilder::from_tensors(weights, DType::F32, &Device::Cpu),
    )
    .unwrap();
    let x = clip_input(&frames);
    g.bench_function("L/14 video forward (1, 8, 3, 224, 224)", |b| {
        b.iter(|| model.video_features(&x).unwrap())
    });
    let text = {
        let mut ids = vec![0u32; 32];
        ids[..8].copy_from_slice(&[49406, 320, 1929, 3240, 530, 320, 2858, 49407]);
        Tensor::from_vec(ids, (1, 32), &Device::Cpu).unwrap()
    };
    let t = model.text_features(&text).unwrap();
    g.bench_function("L/14 text forward (1, 32)", |b| {
        b.iter(|| model.text_features(&text).unwrap())
    });
    g.bench_function(
        "per 8-frame clip: transform + video forward + cosine",
        |b| {
            b.iter(|| {
                let v = model.video_features(&clip_input(&frames)).unwrap();
                let v = v.broadcast_div(&v.sqr().unwrap().sum_keepdim(1).unwrap().sqrt().unwrap());
                v.unwrap().matmul(&t.t().unwrap()).unwrap()
            })
        },
    );
    g.finish();
}

criterion_group!(benches, bench_viclip);
criterion_main!(benches);
