//! `generate-images` scoring on CPU with the real PickScore architecture (ViT-H/14, random
//! weights made at bench time): PickScore's CLIPImageProcessor on a 1024x1024 image, the image
//! tower at batch 1, the text tower on a 20-token prompt. `cargo bench -p vbench-benches --bench images`.
//! VBench-Python-side reference (transformers): `tools/bench/reference_images.py`.

use candle_core::{DType, Device, Tensor};
use candle_nn::{Init, VarBuilder, VarMap};
use criterion::{criterion_group, criterion_main, Criterion};
use vbench_models::clip::{Config, TextConfig, VisionConfig};
use vbench_models::pickscore;
use vbench_scorer::image_scores::ImageProcessorConfig;
use vbench_scorer::video::Frame;

const PREPROCESSOR: &str = r#"{"crop_size":{"height":224,"width":224},"do_center_crop":true,
"do_convert_rgb":true,"do_normalize":true,"do_rescale":true,"do_resize":true,
"image_mean":[0.48145466,0.4578275,0.40821073],"image_std":[0.26862954,0.26130258,0.27577711],
"resample":3,"rescale_factor":0.00392156862745098,"size":{"shortest_edge":224}}"#;

fn pickscore_h14() -> Config {
    Config {
        text_config: TextConfig {
            vocab_size: 49408,
            hidden_size: 1024,
            intermediate_size: 4096,
            num_hidden_layers: 24,
            num_attention_heads: 16,
            max_position_embeddings: 77,
            hidden_act: "gelu".into(),
            layer_norm_eps: 1e-5,
        },
        vision_config: VisionConfig {
            hidden_size: 1280,
            intermediate_size: 5120,
            num_hidden_layers: 32,
            num_attention_heads: 16,
            num_channels: 3,
            image_size: 224,
            patch_size: 14,
            hidden_act: "gelu".into(),
            layer_norm_eps: 1e-5,
        },
        projection_dim: 1024,
    }
}

fn bench(c: &mut Criterion) {
    let dev = Device::Cpu;
    let proc: ImageProcessorConfig = serde_json::from_str(PREPROCESSOR).unwrap();
    let img = Frame {
        width: 1024,
        height: 1024,
        data: (0..1024 * 1024 * 3).map(|i| (i * 7 % 251) as u8).collect(),
    };
    c.bench_function("pickscore preprocess 1024x1024", |b| {
        b.iter(|| proc.preprocess(&img).unwrap())
    });
    let cfg = pickscore_h14();
    let vm = VarMap::new();
    let vb = VarBuilder::from_varmap(&vm, DType::F32, &dev);
    vb.get_with_hints(
        1280,
        "vision_model.embeddings.class_embedding",
        Init::Const(0.01),
    )
    .unwrap();
    vb.get_with_hints((), "logit_scale", Init::Const(4.6052))
        .unwrap();
    pickscore::Model::new(&cfg, vb.clone()).unwrap();
    for var in vm.all_vars() {
        let t = (Tensor::randn(0f32, 1.0, var.shape(), &dev).unwrap() * 0.02).unwrap();
        var.set(&t).unwrap();
    }
    let model = pickscore::Model::new(&cfg, vb).unwrap();
    let px = Tensor::randn(0f32, 1.0, (1, 3, 224, 224), &dev).unwrap();
    let ids: Vec<u32> = std::iter::once(49406)
        .chain((0..18).map(|i| 320 + i))
        .chain(std::iter::once(49407))
        .collect();
    let ids = Tensor::new(ids.as_slice(), &dev)
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    let mut g = c.benchmark_group("pickscore ViT-H/14");
    g.sample_size(10);
    g.bench_function("image tower batch 1", |b| {
        b.iter(|| model.image_features(&px).unwrap())
    });
    g.bench_function("text tower 20 tokens", |b| {
        b.iter(|| model.text_features(&ids).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
