//! AMT-S (motion_smoothness) CPU latency: one interpolated frame (padded inputs → `imgt_pred`,
//! `embt = 0.5`, scale 1) at 256×256, 512×512 and 1280×720, real-size AMT-S with random
//! weights. `cargo bench -p vbench-benches --bench amt`
//!
//! Peak memory of one interpolation in a fresh process:
//! `AMT_PEAK=1920x1080 cargo bench -p vbench-benches --bench amt` (padded to 1920×1088) prints
//! the peak RSS (VmHWM) and exits without running the timings.
//!
//! Quick mode (no criterion, for a loaded machine where 10 samples per size take too long):
//! `AMT_QUICK=3 cargo bench -p vbench-benches --bench amt` prints the mean of 3 runs per size
//! after one warm-up, the same protocol as `tools/bench/reference_amt.py`.

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
        for (h, w) in [(256, 256), (512, 512), (720, 1280)] {
            let (a, b) = inputs(h, w);
            let _ = m.forward(&a, &b, 0.5, 1.0).unwrap();
            let t = std::time::Instant::now();
            for _ in 0..reps {
                let _ = m.forward(&a, &b, 0.5, 1.0).unwrap();
            }
            println!(
                "amt-s interpolated frame {w}x{h}: {:.1} ms",
                t.elapsed().as_secs_f64() * 1e3 / reps as f64
            );
        }
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
