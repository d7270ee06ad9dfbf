//! GRiT detection heads on CPU with the real-size architecture (FPN 256, box-head FC 1024) and
//! random weights made at bench time, on random p3..p7 shaped as for a 512×512 and a 1280×720
//! frame (padded to 32): CenterNet head + proposals, the 3-stage cascade, post-processing; and the
//! 14×14 object-feature pooling of 50 boxes.
//! `cargo bench -p vbench-benches --bench grit`

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use criterion::{criterion_group, criterion_main, Criterion};
use vbench_models::grit::{GritHeads, GritHeadsConfig};
use vbench_models::nn::detection::{BoxF, RoiPooler};

fn features(h: usize, w: usize, dev: &Device) -> Vec<Tensor> {
    let (hp, wp) = (h.div_ceil(32) * 32, w.div_ceil(32) * 32);
    let mut out = Vec::new();
    let (mut fh, mut fw) = (hp / 8, wp / 8);
    for _ in 0..5 {
        out.push(Tensor::randn(0f32, 1.0, (1, 256, fh, fw), dev).unwrap());
        fh = fh.div_ceil(2);
        fw = fw.div_ceil(2);
    }
    out
}

fn bench_heads(c: &mut Criterion) {
    let dev = Device::Cpu;
    let vm = VarMap::new();
    let vb = VarBuilder::from_varmap(&vm, DType::F32, &dev);
    let heads = GritHeads::new(&GritHeadsConfig::grit_b(), vb).unwrap();
    let mut g = c.benchmark_group("grit heads");
    g.sample_size(10);
    for (h, w) in [(512usize, 512usize), (720, 1280)] {
        let feats = features(h, w, &dev);
        g.bench_function(format!("centernet+cascade+post {h}x{w}"), |b| {
            b.iter(|| heads.run(&feats, (h, w)).unwrap())
        });
        let pooler = RoiPooler::new((14, 14), &[8, 16, 32]);
        let boxes: Vec<BoxF> = (0..50)
            .map(|i| {
                let x = (i * 23 % w) as f32;
                let y = (i * 37 % h) as f32;
                let s = 16.0 + (i * 13 % 300) as f32;
                [x, y, x + s, y + 0.8 * s]
            })
            .collect();
        g.bench_function(format!("object-feature pooling 50 boxes {h}x{w}"), |b| {
            b.iter(|| {
                let input = pooler.prepare(&feats[..3]).unwrap();
                pooler.forward(&input, &boxes).unwrap()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench_heads);
criterion_main!(benches);
