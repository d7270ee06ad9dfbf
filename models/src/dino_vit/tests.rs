use super::*;
use candle_nn::VarMap;

/// `facebook/dino-vitb16` config.json as published by the transformers conversion script.
const DINO_VITB16_JSON: &str = r#"{
  "architectures": ["ViTModel"],
  "attention_probs_dropout_prob": 0.0,
  "hidden_act": "gelu",
  "hidden_dropout_prob": 0.0,
  "hidden_size": 768,
  "image_size": 224,
  "initializer_range": 0.02,
  "intermediate_size": 3072,
  "layer_norm_eps": 1e-12,
  "model_type": "vit",
  "num_attention_heads": 12,
  "num_channels": 3,
  "num_hidden_layers": 12,
  "patch_size": 16,
  "qkv_bias": true,
  "torch_dtype": "float32",
  "transformers_version": "4.13.0.dev0"
}"#;

const TINY_JSON: &str = r#"{"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
  "intermediate_size": 64, "image_size": 32, "patch_size": 8, "layer_norm_eps": 1e-12}"#;

#[test]
fn config_parses_dino_vitb16_with_dino_eps() {
    let cfg = Config::from_json_str(DINO_VITB16_JSON).unwrap();
    assert_eq!(cfg, Config::dino_vitb16());
    assert_eq!(cfg.layer_norm_eps, 1e-6);
    let bad = DINO_VITB16_JSON.replace("\"gelu\"", "\"gelu_new\"");
    assert!(Config::from_json_str(&bad).is_err());
}

/// Tiny model whose every variable is random (VarMap's default init for `get` is zero).
fn tiny() -> (Model, VarMap) {
    let dev = Device::Cpu;
    let cfg = Config::from_json_str(TINY_JSON).unwrap();
    let vm = VarMap::new();
    Model::new(&cfg, VarBuilder::from_varmap(&vm, DType::F32, &dev)).unwrap();
    for (i, var) in vm.all_vars().iter().enumerate() {
        let t = Tensor::randn(0f32, 0.3, var.shape(), &dev).unwrap();
        let t = if i % 2 == 0 { (t + 0.1).unwrap() } else { t };
        var.set(&t).unwrap();
    }
    let m = Model::new(&cfg, VarBuilder::from_varmap(&vm, DType::F32, &dev)).unwrap();
    (m, vm)
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

#[test]
fn forward_shapes_and_leftover_pixels_ignored() {
    let (m, _) = tiny();
    let dev = Device::Cpu;
    for (h, w) in [(32, 32), (32, 48), (48, 32), (35, 50), (8, 8)] {
        let x = Tensor::randn(0f32, 1., (2, 3, h, w), &dev).unwrap();
        assert_eq!(m.forward(&x).unwrap().dims(), &[2, 32], "{h}x{w}");
    }
    // 35x50 uses the top-left 32x48 (grid 4x6) and the same (interpolated) positions.
    let x = Tensor::randn(0f32, 1., (1, 3, 35, 50), &dev).unwrap();
    let crop = x.narrow(2, 0, 32).unwrap().narrow(3, 0, 48).unwrap();
    assert_eq!(
        max_abs_diff(&m.forward(&x).unwrap(), &m.forward(&crop).unwrap()),
        0.0
    );
    assert!(m
        .forward(&Tensor::zeros((1, 3, 7, 32), DType::F32, &dev).unwrap())
        .is_err());
}

#[test]
fn forward_batch_invariant() {
    let (m, _) = tiny();
    let x = Tensor::randn(0f32, 1., (3, 3, 32, 48), &Device::Cpu).unwrap();
    let all = m.forward(&x).unwrap();
    for i in 0..3 {
        let one = m.forward(&x.narrow(0, i, 1).unwrap()).unwrap();
        assert!(max_abs_diff(&all.narrow(0, i, 1).unwrap(), &one) <= 1e-5);
    }
}

#[test]
fn pos_embed_unchanged_only_for_square_full_grid() {
    let (m, vm) = tiny();
    let raw = vm
        .data()
        .lock()
        .unwrap()
        .get("embeddings.position_embeddings")
        .unwrap()
        .as_tensor()
        .clone();
    assert_eq!(
        max_abs_diff(&m.position_embeddings(32, 32).unwrap(), &raw),
        0.0
    );
    // Leftover pixels keep a square full grid and H == W: unchanged.
    assert_eq!(
        max_abs_diff(&m.position_embeddings(39, 39).unwrap(), &raw),
        0.0
    );
    // Grid 4x4 but H != W: interpolated with step 4/4.1, so not the identity (§8.1.3).
    let p = m.position_embeddings(32, 39).unwrap();
    assert_eq!(p.dims(), raw.dims());
    assert!(max_abs_diff(&p, &raw) > 1e-4);
    // The CLS row is never touched.
    assert_eq!(
        max_abs_diff(
            &p.i((.., 0..1, ..)).unwrap(),
            &raw.i((.., 0..1, ..)).unwrap()
        ),
        0.0
    );
}

#[test]
fn pos_embed_interpolation_follows_dino() {
    let (m, vm) = tiny();
    let raw = vm
        .data()
        .lock()
        .unwrap()
        .get("embeddings.position_embeddings")
        .unwrap()
        .as_tensor()
        .clone();
    // Independent construction: (1, 17, 32) → grid (32, 4, 4) → R-BC scale mode → (6·4 ... ).
    let (gh, gw) = (4usize, 6usize);
    let grid: Vec<f32> = raw
        .squeeze(0)
        .unwrap()
        .narrow(0, 1, 16)
        .unwrap()
        .t()
        .unwrap()
        .contiguous()
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    let sf = ((gh as f64 + 0.1) / 4.0, (gw as f64 + 0.1) / 4.0);
    let out = resize_bicubic(&grid, 32, 4, 4, gh, gw, Some(sf));
    let p = m.position_embeddings(32, 48).unwrap();
    assert_eq!(p.dims(), &[1, 1 + gh * gw, 32]);
    let got = p.squeeze(0).unwrap().to_vec2::<f32>().unwrap();
    for tok in 0..gh * gw {
        for ch in 0..32 {
            assert_eq!(
                got[1 + tok][ch],
                out[ch * gh * gw + tok],
                "token {tok} ch {ch}"
            );
        }
    }
    // Cached: one entry, the same tensor on the next call.
    let again = m.position_embeddings(33, 50).unwrap();
    assert_eq!(max_abs_diff(&p, &again), 0.0);
    assert_eq!(m.pos_cache.lock().unwrap().len(), 1);
}

#[test]
fn missing_key_is_an_error_naming_it() {
    let (_, vm) = tiny();
    let mut ts: HashMap<String, Tensor> = vm
        .data()
        .lock()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
        .collect();
    // Extra pooler keys are fine.
    ts.insert(
        "pooler.dense.weight".into(),
        Tensor::zeros((32, 32), DType::F32, &Device::Cpu).unwrap(),
    );
    let cfg = Config::from_json_str(TINY_JSON).unwrap();
    Model::new(
        &cfg,
        VarBuilder::from_tensors(ts.clone(), DType::F32, &Device::Cpu),
    )
    .unwrap();
    ts.remove("encoder.layer.1.attention.attention.key.bias");
    let err = Model::new(&cfg, VarBuilder::from_tensors(ts, DType::F32, &Device::Cpu)).unwrap_err();
    assert!(
        err.to_string()
            .contains("encoder.layer.1.attention.attention.key.bias"),
        "{err}"
    );
}
