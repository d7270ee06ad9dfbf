//! The GRiT dimensions' own CPU work per frame (no network): the two resize paths VBench applies
//! to frames whose short side is > 768 (1080p → 720×1280: torchvision's antialiased bilinear on
//! floats, and `cv2.resize` INTER_LINEAR on uint8), the uint8 → planar f32 conversion, and the
//! per-frame matching rules on 100 detections. `cargo bench -p vbench-benches --bench grit_dims`
//! Python reference: `tools/bench/reference_grit_dims.py`.

use criterion::{criterion_group, criterion_main, Criterion};
use vbench_scorer::dimensions::spatial_relationship::frame_score;
use vbench_scorer::grit_detect::{prepare_frame, FloatFrameRgb, FrameDetections, ResizePath};
use vbench_scorer::prompt_info::SpatialInfo;
use vbench_scorer::video::Frame;

fn frame(h: usize, w: usize) -> Frame {
    Frame {
        width: w,
        height: h,
        data: (0..h * w * 3).map(|i| (i * 7 % 251) as u8).collect(),
    }
}

fn bench(c: &mut Criterion) {
    let f = frame(1080, 1920);
    let mut g = c.benchmark_group("grit_frame_1080p");
    g.sample_size(10);
    g.bench_function("to_float_planar", |b| {
        b.iter(|| FloatFrameRgb::from_frame(&f))
    });
    g.bench_function("torch_resize_aa_to_720p", |b| {
        b.iter(|| prepare_frame(&f, ResizePath::TorchFloat))
    });
    g.bench_function("cv2_resize_to_720p", |b| {
        b.iter(|| prepare_frame(&f, ResizePath::Cv2Uint8))
    });
    g.finish();
    let names = ["car", "dog", "person", "cat"];
    let det = FrameDetections {
        object_det_texts: (0..100).map(|i| names[i % 4].to_string()).collect(),
        boxes: (0..100)
            .map(|i| {
                let x = (i * 13 % 600) as f32;
                [x, x / 2.0, x + 50.5, x / 2.0 + 40.25]
            })
            .collect(),
        dense_captions: None,
    };
    let key = SpatialInfo {
        object_a: "car".into(),
        object_b: "dog".into(),
        relationship: "on the left of".into(),
    };
    c.bench_function("spatial_frame_score_100_instances", |b| {
        b.iter(|| frame_score(&key, &det, false))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
