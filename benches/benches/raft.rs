//! RAFT (raft-things architecture, random weights) on CPU: ms per frame pair as
//! dynamic_degree runs it (features of both frames, context of image1, correlation pyramid,
//! 20 iterations, convex upsampling) at 256×256 and 512×512 (criterion), and one 1280×720 pair
//! (timed once: a pair takes about a minute on 2 cores). `cargo bench -p vbench-benches --bench raft`.
//! Peak memory of a 1080p pair: `examples/raft_pair.rs`.

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use criterion::{criterion_group, criterion_main, Criterion};
use vbench_models::raft;

/// The real architecture with N(0, 0.02²) weights (values do not change the cost).
pub fn random_raft(iters: usize) -> (VarMap, raft::Model) {
    let vm = VarMap::new();
    let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
    let mut cfg = raft::Config::raft_things();
    cfg.iters = iters;
    let m = raft::Model::new(&cfg, vb).unwrap();
    for v in vm.all_vars() {
        let r = Tensor::randn(0f32, 0.02, v.shape(), &Device::Cpu).unwrap();
        v.set(&r).unwrap();
    }
    // BatchNorm variances must stay positive
    let data = vm.data().lock().unwrap();
    for (k, v) in data.iter() {
        if k.ends_with("running_var") {
            v.set(&Tensor::ones(v.shape(), DType::F32, &Device::Cpu).unwrap())
                .unwrap();
        }
    }
    drop(data);
    // rebuild so that the BatchNorm constants see the final values
    let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
    let mut cfg = raft::Config::raft_things();
    cfg.iters = iters;
    let m2 = raft::Model::new(&cfg, vb).unwrap();
    drop(m);
    (vm, m2)
}

fn frames(h: usize, w: usize) -> (Tensor, Tensor) {
    let a = Tensor::rand(0f32, 255., (1, 3, h, w), &Device::Cpu)
        .unwrap()
        .round()
        .unwrap();
    let b = a.roll(3, 3).unwrap().roll(2, 2).unwrap();
    (
        raft::pad_replicate(&a).unwrap(),
        raft::pad_replicate(&b).unwrap(),
    )
}

fn bench_raft(c: &mut Criterion) {
    let (_vm, m) = random_raft(20);
    let mut g = c.benchmark_group("raft pair");
    g.sample_size(10);
    for (h, w) in [(256usize, 256usize), (512, 512)] {
        let (a, b) = frames(h, w);
        g.bench_function(format!("{w}x{h}"), |bch| {
            bch.iter(|| m.forward(&a, &b).unwrap())
        });
    }
    g.finish();
    // last: the 720p pair needs several GB (see examples/raft_pair.rs)
    let (a, b) = frames(720, 1280);
    let t = std::time::Instant::now();
    m.forward(&a, &b).unwrap();
    println!(
        "raft pair 1280x720 (one run): {:.0} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
}

criterion_group!(benches, bench_raft);
criterion_main!(benches);
