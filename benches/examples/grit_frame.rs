//! One GRiT-B frame on CPU (real-size architecture, random weights N(0, 0.02), norms at 1):
//! the box path (`Grit::detections`: normalise + pad, ViTDet-B + pyramid, CenterNet, cascade,
//! post-processing, 14×14 object features) at W×H, timed over REPS runs (minimum printed), and
//! the text decoder for the instances found (ObjectDet pass) when there are any.
//! `cargo run --release -p vbench-benches --example grit_frame -- 512 512 [REPS]`

use std::collections::HashMap;
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use vbench_models::grit::{Grit, GritConfig, OBJECT_DET_BEGIN};

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("W H [REPS]"))
        .collect();
    let (w, h) = (args[0], args[1]);
    let reps = args.get(2).copied().unwrap_or(1);
    let dev = Device::Cpu;
    let cfg = GritConfig::grit_b();
    // shapes from a VarMap build, then plain tensors (a VarMap's weights would record a
    // backprop graph and keep every intermediate alive)
    let vm = VarMap::new();
    Grit::new(&cfg, VarBuilder::from_varmap(&vm, DType::F32, &dev)).expect("shapes");
    let weights: HashMap<String, Tensor> = vm
        .data()
        .lock()
        .expect("varmap")
        .iter()
        .map(|(k, v)| {
            let t = v.as_tensor();
            let r = if k.contains("norm") && k.ends_with("weight") {
                t.ones_like().expect("ones")
            } else {
                (Tensor::randn(0f32, 1., t.shape(), &dev).expect("randn") * 0.02).expect("scale")
            };
            (k.clone(), r)
        })
        .collect();
    let grit = Grit::new(&cfg, VarBuilder::from_tensors(weights, DType::F32, &dev)).expect("grit");
    let image = Tensor::rand(0f32, 255., (3, h, w), &dev).expect("frame");
    let mut best = f64::INFINITY;
    let mut dets = None;
    for _ in 0..reps {
        let t = Instant::now();
        dets = Some(grit.detections(&image).expect("detections"));
        best = best.min(t.elapsed().as_secs_f64());
    }
    let dets = dets.expect("at least one run");
    println!(
        "grit box path {w}x{h}: min {best:.2} s over {reps} runs, {} instances",
        dets.boxes.len()
    );
    if !dets.boxes.is_empty() {
        let t = Instant::now();
        let ids = grit.describe(&dets, OBJECT_DET_BEGIN).expect("decode");
        let steps = ids.iter().map(Vec::len).max().unwrap_or(0);
        println!(
            "grit text decoder, {} instances, up to {steps} tokens: {:.2} s",
            ids.len(),
            t.elapsed().as_secs_f64()
        );
    }
}
