//! AMT-S (motion_smoothness) CPU latency: one interpolated frame (padded inputs → `imgt_pred`,
//! `embt = 0.5`, scale 1) at 256×256, 512×512 and 1280×720, real-size AMT-S with random
//! weights. `cargo bench -p vbench-benches --bench amt`
//!
//! Peak memory of one interpolation in a fresh process:
//! `AMT_PEAK=1920x1080 cargo bench -p vbench-benches --bench amt` (padded to 1920×1088) prints
//! the peak RSS (VmHWM) and exits without running the timings.
//!
//! Quick mode (no criterion, for a loaded machine where 10 samples per size take too long):
//! `AMT_QUICK=3 cargo bench -p vbench-benches --bench amt` prints, per size, over 3 runs
//! after one warm-up: the minimum wall time, the minimum CPU time (user + system, all threads)
//! and the load average, the same protocol as `tools/bench/reference_amt.py`. `AMT_SIZES=256,512`
//! picks the sizes (heights; default 256,512,720).

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use criterion::{criterion_group, Criterion};
use vbench_models::amt;
use vbench_scorer::dimensions::motion_smoothness::{input_tensor, padding};
use vbench_scorer::video::Frame;

fn frame(h: usize, w: usize, shift: usize) -> Frame {
    Frame {
        width: w,
        height: h,
        data: (0..h * w * 3)
            .map(|i| ((i / 3 + shift) * 7 % 251) as u8)
            .collect(),
    }
}

/// Random weights as plain tensors: a `VarMap`'s `Var`s would make candle record every op for
/// backprop and keep all intermediate activations alive (tens of GB at 720p).
fn model() -> amt::Model {
    let vm = VarMap::new();
    let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
    amt::Model::new(&amt::Config::amt_s(), vb).expect("AMT-S");
    let tensors: HashMap<String, Tensor> = vm
        .data()
        .lock()
        .expect("not poisoned")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_tensor().detach()))
        .collect();
    let vb = VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu);
    amt::Model::new(&amt::Config::amt_s(), vb).expect("AMT-S")
}

fn inputs(h: usize, w: usize) -> (Tensor, Tensor) {
    let pad = padding(h, w, 16);
    (
        input_tensor(&frame(h, w, 0), pad, &Device::Cpu).unwrap(),
        input_tensor(&frame(h, w, 3), pad, &Device::Cpu).unwrap(),
    )
}

fn bench_amt(c: &mut Criterion) {
    let m = model();
    let mut g = c.benchmark_group("amt-s interpolated frame");
    g.sample_size(10);
    for (name, h, w) in [
        ("256x256", 256, 256),
        ("512x512", 512, 512),
        ("1280x720", 720, 1280),
    ] {
        let (a, b) = inputs(h, w);
        g.bench_function(name, |bch| {
            bch.iter(|| m.forward(&a, &b, 0.5, 1.0).unwrap().imgt_pred)
        });
    }
    g.finish();
}

/// User + system CPU seconds of this process (/proc/self/stat, all threads).
fn cpu_s() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
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

fn peak_rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

criterion_group!(benches, bench_amt);

fn main() {
    if let Some((w, h)) = std::env::var("AMT_PEAK").ok().and_then(|v| {
        let (w, h) = v.split_once('x')?;
        Some((w.parse::<usize>().ok()?, h.parse::<usize>().ok()?))
    }) {
        let m = model();
        let (a, b) = inputs(h, w);
        let before = peak_rss_kib().unwrap_or(0);
        let t = std::time::Instant::now();
        let out = m.forward(&a, &b, 0.5, 1.0).unwrap().imgt_pred;
        let _ = out.sum_all().unwrap().to_scalar::<f32>().unwrap();
        println!(
            "amt-s {w}x{h}: {:.1} s, peak RSS {:.2} GiB (before the forward {:.2} GiB)",
            t.elapsed().as_secs_f64(),
            peak_rss_kib().unwrap_or(0) as f64 / (1 << 20) as f64,
            before as f64 / (1 << 20) as f64
        );
        return;
    }
    if let Some(reps) = std::env::var("AMT_QUICK")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
    {
        let m = model();
        let sizes = std::env::var("AMT_SIZES").unwrap_or_else(|_| "256,512,720".into());
        for (h, w) in [(256, 256), (512, 512), (720, 1280)] {
            if !sizes.split(',').any(|s| s.trim() == h.to_string()) {
                continue;
            }
            let (a, b) = inputs(h, w);
            let load = loadavg();
            let _ = m.forward(&a, &b, 0.5, 1.0).unwrap();
            let (mut wall, mut cpu) = (f64::MAX, f64::MAX);
            for _ in 0..reps {
                let (t, c) = (std::time::Instant::now(), cpu_s());
                let _ = m.forward(&a, &b, 0.5, 1.0).unwrap();
                wall = wall.min(t.elapsed().as_secs_f64());
                cpu = cpu.min(cpu_s() - c);
            }
            println!(
                "amt-s interpolated frame {w}x{h}: min wall {:.1} ms, min CPU {:.1} ms over {reps} runs (load average before: {load}; after: {})",
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
