//! GRiT's backbone and text decoder on the CPU, real sizes with random weights made at bench
//! time: ViTDet-B + GRiT pyramid on a normalised 512×512 and a 720×1280 (padded to 736×1280)
//! frame, and the greedy text decoder on 20 objects with EOS suppressed (every row runs the
//! full 39 steps, VBench's worst case). `cargo bench -p vbench-benches --bench grit_vit`;
//! VBench-Python's figures for the same work: `tools/bench/reference_grit_vit.py`.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use criterion::{criterion_group, criterion_main, Criterion};
use vbench_models::grit_text::{GritTextConfig, GritTextDecoder};
use vbench_models::vitdet::{VitDetConfig, VitDetFpn};

/// Random plain tensors with the shapes `build` asks for (LayerNorm weights 1, others
/// N(0, 0.02)); re-read as plain tensors so candle records no backprop graph.
fn random_weights(build: impl Fn(VarBuilder)) -> HashMap<String, Tensor> {
    let vm = VarMap::new();
    build(VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu));
    let data = vm.data().lock().unwrap();
    data.iter()
        .map(|(k, v)| {
            let t = v.as_tensor();
            let r = if k.contains("norm") && k.ends_with("weight") || k.contains("LayerNorm.weight")
            {
                t.ones_like().unwrap()
            } else {
                (Tensor::randn(0f32, 1., t.shape(), &Device::Cpu).unwrap() * 0.02).unwrap()
            };
            (k.clone(), r)
        })
        .collect()
}

fn bench_grit_vit(c: &mut Criterion) {
    let mut g = c.benchmark_group("grit backbone + text decoder");
    g.sample_size(10);
    let cfg = VitDetConfig::grit_b();
    let w = random_weights(|vb| {
        VitDetFpn::new(&cfg, vb.pp("backbone")).unwrap();
    });
    let model = VitDetFpn::new(
        &cfg,
        VarBuilder::from_tensors(w, DType::F32, &Device::Cpu).pp("backbone"),
    )
    .unwrap();
    for (h, w) in [(512usize, 512usize), (736, 1280)] {
        let x = Tensor::randn(0f32, 1., (1, 3, h, w), &Device::Cpu).unwrap();
        g.bench_function(format!("ViTDet-B + pyramid {h}x{w}"), |b| {
            b.iter(|| model.forward(&x).unwrap())
        });
    }
    drop(model);

    let tcfg = GritTextConfig::grit_b();
    let mut w = random_weights(|vb| {
        GritTextDecoder::new(&tcfg, vb.pp("roi_heads.text_decoder")).unwrap();
    });
    let key = "roi_heads.text_decoder.textual.output.bias";
    let mut bias = vec![0f32; tcfg.vocab_size];
    bias[tcfg.eos_token_id as usize] = -1e4;
    w.insert(
        key.into(),
        Tensor::from_vec(bias, tcfg.vocab_size, &Device::Cpu).unwrap(),
    );
    let dec = GritTextDecoder::new(
        &tcfg,
        VarBuilder::from_tensors(w, DType::F32, &Device::Cpu).pp("roi_heads.text_decoder"),
    )
    .unwrap();
    let feats = Tensor::randn(0f32, 1., (20, 196, tcfg.object_feat_dim), &Device::Cpu).unwrap();
    g.bench_function("text decoder 20 objects x 39 steps", |b| {
        b.iter(|| {
            let ids = dec.generate(&feats, 101).unwrap();
            assert!(ids.iter().all(|r| r.len() == 39));
            ids
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(std::time::Duration::from_secs(1));
    targets = bench_grit_vit
}
criterion_main!(benches);
