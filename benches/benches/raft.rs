//! RAFT (raft-things architecture, random weights) on CPU: ms per frame pair as
//! dynamic_degree runs it (features of both frames, context of image1, correlation pyramid,
//! 20 iterations, convex upsampling) at 256×256 and 512×512 (criterion), and one 1280×720 pair
//! (timed once: a pair takes about a minute on 2 cores). `cargo bench -p vbench-benches --bench raft`.
//! Peak memory of a 1080p pair: `examples/raft_pair.rs`, or `RAFT_PEAK=1920x1080 cargo bench
//! -p vbench-benches --bench raft` (one pair in this process, prints VmHWM, no timings;
//! `RAFT_PEAK_ENCODERS=1`: only the feature and context encoders of that pair).
//!
//! Quick mode for a shared machine: `RAFT_QUICK=3 cargo bench -p vbench-benches --bench raft`
//! runs each size 3 times after a warm-up and prints the minimum wall time, the minimum CPU time
//! of the process (user + system, all threads) and the load average before each size; the same
//! protocol as `tools/bench/reference_raft.py`. `RAFT_SIZES=256,512,720` picks the sizes.

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use criterion::{criterion_group, Criterion};
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

/// (user + system CPU seconds of this process, from /proc/self/stat).
fn cpu_s() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // fields after the ")" of the command name: state is field 3, utime 14, stime 15
    let rest = s.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (tick(11) + tick(12)) / 100.0
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

fn main() {
    if let Some((w, h)) = std::env::var("RAFT_PEAK").ok().and_then(|v| {
        let (w, h) = v.split_once('x')?;
        Some((w.parse::<usize>().ok()?, h.parse::<usize>().ok()?))
    }) {
        let iters = std::env::var("RAFT_ITERS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(20);
        let (_vm, m) = random_raft(iters);
        let (a, b) = frames(h, w);
        let before = peak_rss_kib();
        let t = std::time::Instant::now();
        if std::env::var("RAFT_PEAK_ENCODERS").is_ok() {
            // the feature encoder on both frames and the context encoder on image1, as
            // `forward` runs them, without the correlation pyramid (whose size is known)
            let f = m.features(&Tensor::cat(&[&a, &b], 0).unwrap()).unwrap();
            let c = m.context(&a).unwrap();
            let _ = (f.sum_all().unwrap(), c.net.sum_all().unwrap());
            println!("(encoders only)");
        } else {
            let (_, up) = m.forward(&a, &b).unwrap();
            let _ = up.sum_all().unwrap().to_scalar::<f32>().unwrap();
        }
        println!(
            "raft pair {w}x{h} ({iters} iterations): {:.1} s, peak RSS {:.2} GiB (before the forward {:.2} GiB), load {}",
            t.elapsed().as_secs_f64(),
            peak_rss_kib() as f64 / (1 << 20) as f64,
            before as f64 / (1 << 20) as f64,
            loadavg()
        );
        return;
    }
    if let Some(reps) = std::env::var("RAFT_QUICK")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
    {
        let sizes = std::env::var("RAFT_SIZES").unwrap_or_else(|_| "256,512,720".into());
        let (_vm, m) = random_raft(20);
        for s in sizes.split(',') {
            let (h, w) = match s.trim() {
                "720" => (720, 1280),
                "1080" => (1080, 1920),
                n => {
                    let n: usize = n.parse().expect("RAFT_SIZES: 256,512,720,1080");
                    (n, n)
                }
            };
            let (a, b) = frames(h, w);
            let load = loadavg();
            let _ = m.forward(&a, &b).unwrap();
            let (mut wall, mut cpu) = (f64::MAX, f64::MAX);
            for _ in 0..reps {
                let (t, c) = (std::time::Instant::now(), cpu_s());
                let _ = m.forward(&a, &b).unwrap();
                wall = wall.min(t.elapsed().as_secs_f64());
                cpu = cpu.min(cpu_s() - c);
            }
            println!(
                "raft pair {w}x{h}: min wall {:.0} ms, min CPU {:.0} ms over {reps} runs (load average before: {load}; after: {})",
                wall * 1e3,
                cpu * 1e3,
                loadavg()
            );
        }
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
