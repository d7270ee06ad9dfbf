//! Per-stage CPU latency with real-size architectures and random weights made at bench time:
//! decode, VBench preprocessing, and each network's forward at batch 1 and batch 16.
//! `cargo bench -p vbench-benches`

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use vbench_models::{clip, dino_vit};
use vbench_scorer::transforms;
use vbench_scorer::video::{decode_all, Frame, ReaderKind};

fn frame(h: usize, w: usize) -> Frame {
    Frame {
        width: w,
        height: h,
        data: (0..h * w * 3).map(|i| (i * 7 % 251) as u8).collect(),
    }
}

fn make_clip(dir: &std::path::Path) -> std::path::PathBuf {
    let p = dir.join("bench.mp4");
    let st = std::process::Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=512x512:rate=8",
            "-frames:v",
            "16",
            "-pix_fmt",
            "yuv420p",
            "-c:v",
            "libx264",
        ])
        .arg(&p)
        .status()
        .expect("ffmpeg");
    assert!(st.success());
    p
}

fn bench_decode_and_transforms(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let clip = make_clip(dir.path());
    c.bench_function("decode 16x512x512 (decord conversion)", |b| {
        b.iter(|| decode_all(&clip, ReaderKind::Decord).unwrap())
    });
    let f = frame(512, 512);
    let f720 = frame(720, 1280);
    let mut g = c.benchmark_group("transform per frame");
    g.bench_function("dino 512", |b| {
        b.iter(|| transforms::dino_transform(&f, 224))
    });
    g.bench_function("clip float 512", |b| {
        b.iter(|| transforms::clip_transform_float(&f, 224))
    });
    g.bench_function("clip pil 512", |b| {
        b.iter(|| transforms::clip_transform_pil(&f, 224))
    });
    g.bench_function("clip float 720p", |b| {
        b.iter(|| transforms::clip_transform_float(&f720, 224))
    });
    g.finish();
}

fn random_vb() -> (VarMap, VarBuilder<'static>) {
    let vm = VarMap::new();
    let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
    (vm, vb)
}

fn bench_networks(c: &mut Criterion) {
    let (_vm, vb) = random_vb();
    let dino = dino_vit::Model::new(&dino_vit::Config::dino_vitb16(), vb).unwrap();
    let (_vm2, vb2) = random_vb();
    let cfg = clip::Config::vit_base_patch32();
    // register the tensors candle's CLIP would otherwise replace silently
    let _ = vb2.get_with_hints(
        768,
        clip::CLASS_EMBEDDING_KEY,
        candle_nn::init::DEFAULT_KAIMING_NORMAL,
    );
    let _ = vb2.get_with_hints((), clip::LOGIT_SCALE_KEY, candle_nn::Init::Const(4.6052));
    let b32 = clip::Model::new_vision(&cfg, vb2).ok();
    let mut g = c.benchmark_group("network forward");
    g.sample_size(10);
    for batch in [1usize, 16] {
        let x = Tensor::randn(0f32, 1., (batch, 3, 224, 224), &Device::Cpu).unwrap();
        g.bench_with_input(
            BenchmarkId::new("dino vit-b/16 224x224", batch),
            &x,
            |b, x| b.iter(|| dino.forward(x).unwrap()),
        );
        if let Some(m) = &b32 {
            g.bench_with_input(BenchmarkId::new("clip vit-b/32", batch), &x, |b, x| {
                b.iter(|| m.image_features(x).unwrap())
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench_decode_and_transforms, bench_networks);
criterion_main!(benches);
