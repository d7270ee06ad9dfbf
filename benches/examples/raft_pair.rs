//! One RAFT frame pair (random weights) at W×H, for measuring peak memory:
//! `/usr/bin/time -v target/release/examples/raft_pair 1920 1080 [ITERS]`.
//! The correlation pyramid (5.6 GB at 1080p) and the features are allocated whatever ITERS is,
//! so a short run (ITERS = 1) shows the same peak as VBench's 20 iterations.

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use vbench_models::raft;

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("W H [ITERS]"))
        .collect();
    let (w, h) = (args[0], args[1]);
    let mut cfg = raft::Config::raft_things();
    cfg.iters = args.get(2).copied().unwrap_or(20);
    let vm = VarMap::new();
    let m = raft::Model::new(&cfg, VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu))
        .expect("model");
    let a = Tensor::rand(0f32, 255., (1, 3, h, w), &Device::Cpu).expect("frame");
    let b = a.roll(3, 3).expect("roll");
    let (a, b) = (
        raft::pad_replicate(&a).expect("pad"),
        raft::pad_replicate(&b).expect("pad"),
    );
    let t = std::time::Instant::now();
    if std::env::var("RAFT_PAIR_STAGES").is_ok() {
        let f = m.features(&Tensor::cat(&[&a, &b], 0).unwrap()).unwrap();
        eprintln!("features: {}", hwm());
        let f1 = f.narrow(0, 0, 1).unwrap();
        let f2 = f.narrow(0, 1, 1).unwrap();
        let c = raft::CorrPyramid::new(&f1, &f2, 4, 4).unwrap();
        eprintln!("pyramid: {}", hwm());
        drop(c);
    }
    let (_, up) = m.forward(&a, &b).expect("forward");
    println!(
        "{w}x{h}, {} iterations: flow {:?} in {:.1} s; correlation pyramid {:.2} GiB",
        cfg.iters,
        up.dims(),
        t.elapsed().as_secs_f64(),
        cfg.corr_pyramid_bytes(a.dim(2).unwrap(), a.dim(3).unwrap()) as f64 / (1u64 << 30) as f64
    );
}

/// Peak RSS so far (VmHWM), for the stage breakdown.
fn hwm() -> String {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM"))
        .unwrap_or("")
        .to_string()
}
