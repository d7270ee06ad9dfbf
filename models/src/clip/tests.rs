use super::*;
use candle_core::Device;
use candle_nn::{Init, VarMap};
use std::collections::HashMap;

/// `openai/clip-vit-base-patch32` config.json as published (abridged only in generation keys).
const BASE_PATCH32_JSON: &str = r#"{
  "_name_or_path": "openai/clip-vit-base-patch32",
  "architectures": ["CLIPModel"],
  "initializer_factor": 1.0,
  "logit_scale_init_value": 2.6592,
  "model_type": "clip",
  "projection_dim": 512,
  "text_config": {
    "_name_or_path": "",
    "attention_dropout": 0.0,
    "bos_token_id": 0,
    "dropout": 0.0,
    "eos_token_id": 2,
    "hidden_act": "quick_gelu",
    "hidden_size": 512,
    "initializer_factor": 1.0,
    "initializer_range": 0.02,
    "intermediate_size": 2048,
    "layer_norm_eps": 1e-05,
    "max_position_embeddings": 77,
    "model_type": "clip_text_model",
    "num_attention_heads": 8,
    "num_hidden_layers": 12,
    "pad_token_id": 1,
    "projection_dim": 512,
    "transformers_version": "4.16.0.dev0",
    "vocab_size": 49408
  },
  "text_config_dict": null,
  "transformers_version": null,
  "vision_config": {
    "_name_or_path": "",
    "attention_dropout": 0.0,
    "dropout": 0.0,
    "hidden_act": "quick_gelu",
    "hidden_size": 768,
    "image_size": 224,
    "initializer_factor": 1.0,
    "initializer_range": 0.02,
    "intermediate_size": 3072,
    "layer_norm_eps": 1e-05,
    "model_type": "clip_vision_model",
    "num_attention_heads": 12,
    "num_hidden_layers": 12,
    "patch_size": 32,
    "projection_dim": 512,
    "transformers_version": "4.16.0.dev0"
  },
  "vision_config_dict": null
}"#;

/// `openai/clip-vit-large-patch14` style: full sub-configs plus `*_config_dict` overrides.
const LARGE_PATCH14_JSON: &str = r#"{
  "architectures": ["CLIPModel"],
  "initializer_factor": 1.0,
  "logit_scale_init_value": 2.6592,
  "model_type": "clip",
  "projection_dim": 768,
  "text_config": {
    "hidden_act": "quick_gelu",
    "hidden_size": 512,
    "intermediate_size": 2048,
    "layer_norm_eps": 1e-05,
    "max_position_embeddings": 77,
    "num_attention_heads": 8,
    "num_hidden_layers": 12,
    "projection_dim": 512,
    "vocab_size": 49408
  },
  "text_config_dict": {
    "hidden_size": 768,
    "intermediate_size": 3072,
    "num_attention_heads": 12,
    "num_hidden_layers": 12,
    "projection_dim": 768
  },
  "torch_dtype": "float32",
  "transformers_version": null,
  "vision_config": {
    "hidden_act": "quick_gelu",
    "hidden_size": 768,
    "image_size": 224,
    "intermediate_size": 3072,
    "layer_norm_eps": 1e-05,
    "num_attention_heads": 12,
    "num_hidden_layers": 12,
    "patch_size": 32,
    "projection_dim": 512
  },
  "vision_config_dict": {
    "hidden_size": 1024,
    "intermediate_size": 4096,
    "num_attention_heads": 16,
    "num_hidden_layers": 24,
    "patch_size": 14,
    "projection_dim": 768
  }
}"#;

const TINY_JSON: &str = r#"{
  "projection_dim": 24,
  "text_config": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                  "num_attention_heads": 4, "max_position_embeddings": 12, "vocab_size": 50},
  "vision_config": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                    "num_attention_heads": 4, "image_size": 32, "patch_size": 8}
}"#;

#[test]
fn config_parses_base_patch32() {
    let cfg = Config::from_json_str(BASE_PATCH32_JSON).unwrap();
    assert_eq!(cfg, Config::vit_base_patch32());
}

#[test]
fn config_dict_overrides_like_transformers() {
    let cfg = Config::from_json_str(LARGE_PATCH14_JSON).unwrap();
    assert_eq!(cfg, Config::vit_large_patch14());
}

#[test]
fn config_rejects_other_activations_and_eps() {
    let bad = BASE_PATCH32_JSON.replacen("\"quick_gelu\"", "\"gelu\"", 1);
    let err = Config::from_json_str(&bad).unwrap_err().to_string();
    assert!(err.contains("hidden_act"), "{err}");
    let bad = BASE_PATCH32_JSON.replacen("1e-05", "1e-06", 1);
    assert!(Config::from_json_str(&bad).is_err());
}

fn tiny() -> (Config, VarMap, Device) {
    let dev = Device::Cpu;
    let cfg = Config::from_json_str(TINY_JSON).unwrap();
    let vm = VarMap::new();
    let vb = VarBuilder::from_varmap(&vm, DType::F32, &dev);
    // candle's CLIP never registers these two; create them so they are real, saved variables.
    vb.get_with_hints(
        32,
        CLASS_EMBEDDING_KEY,
        candle_nn::init::DEFAULT_KAIMING_NORMAL,
    )
    .unwrap();
    vb.get_with_hints((), LOGIT_SCALE_KEY, Init::Const(4.6052))
        .unwrap();
    Model::new(&cfg, vb).unwrap();
    (cfg, vm, dev)
}

fn tensors(vm: &VarMap) -> HashMap<String, Tensor> {
    vm.data()
        .lock()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
        .collect()
}

fn ids(dev: &Device) -> Tensor {
    // SOT-like 48, tokens, EOT = 49 (largest id), zero padding.
    Tensor::new(
        &[
            [48u32, 5, 7, 49, 0, 0],
            [48, 3, 9, 11, 13, 49],
            [48, 49, 0, 0, 0, 0],
        ],
        dev,
    )
    .unwrap()
}

#[test]
fn features_have_projection_shape() {
    let (cfg, vm, dev) = tiny();
    let m = Model::new(&cfg, VarBuilder::from_varmap(&vm, DType::F32, &dev)).unwrap();
    let x = Tensor::randn(0f32, 1., (2, 3, 32, 32), &dev).unwrap();
    assert_eq!(m.image_features(&x).unwrap().dims(), &[2, 24]);
    assert_eq!(m.text_features(&ids(&dev)).unwrap().dims(), &[3, 24]);
    assert!((m.logit_scale().unwrap() - 4.6052).abs() < 1e-6);
    // Wrong image size is a clear error, not a broadcast failure.
    let err = m
        .image_features(&Tensor::zeros((1, 3, 64, 64), DType::F32, &dev).unwrap())
        .unwrap_err();
    assert!(err.to_string().contains("expected (3, 32, 32)"), "{err}");
}

#[test]
fn forward_batch_invariant() {
    let (cfg, vm, dev) = tiny();
    let m = Model::new(&cfg, VarBuilder::from_varmap(&vm, DType::F32, &dev)).unwrap();
    let x = Tensor::randn(0f32, 1., (3, 3, 32, 32), &dev).unwrap();
    let all = m.image_features(&x).unwrap();
    let one = m.image_features(&x.narrow(0, 1, 1).unwrap()).unwrap();
    let d = (all.narrow(0, 1, 1).unwrap() - one)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap();
    assert!(d.to_scalar::<f32>().unwrap() <= 1e-5);
    let t = ids(&dev);
    let all = m.text_features(&t).unwrap();
    let one = m.text_features(&t.narrow(0, 2, 1).unwrap()).unwrap();
    let d = (all.narrow(0, 2, 1).unwrap() - one)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap();
    assert!(d.to_scalar::<f32>().unwrap() <= 1e-5);
}

#[test]
fn padding_after_eot_is_irrelevant() {
    let (cfg, vm, dev) = tiny();
    let m = Model::new(&cfg, VarBuilder::from_varmap(&vm, DType::F32, &dev)).unwrap();
    let a = Tensor::new(&[[48u32, 5, 49, 0, 0, 0]], &dev).unwrap();
    let b = Tensor::new(&[[48u32, 5, 49, 7, 3, 0]], &dev).unwrap();
    let d = (m.text_features(&a).unwrap() - m.text_features(&b).unwrap())
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap();
    assert!(d.to_scalar::<f32>().unwrap() <= 1e-6);
}

#[test]
fn missing_class_embedding_or_logit_scale_is_an_error() {
    let (cfg, vm, dev) = tiny();
    for key in [CLASS_EMBEDDING_KEY, LOGIT_SCALE_KEY] {
        let mut ts = tensors(&vm);
        ts.remove(key);
        let err = Model::new(&cfg, VarBuilder::from_tensors(ts, DType::F32, &dev)).unwrap_err();
        assert!(err.to_string().contains(key), "{key}: {err}");
    }
    // The vision-only model still needs the class embedding, with its full path.
    let mut ts = tensors(&vm);
    ts.remove(CLASS_EMBEDDING_KEY);
    let err = Model::new_vision(&cfg, VarBuilder::from_tensors(ts, DType::F32, &dev)).unwrap_err();
    assert!(err.to_string().contains(CLASS_EMBEDDING_KEY), "{err}");
}

#[test]
fn vision_only_needs_no_text_keys_and_matches_full_model() {
    let (cfg, vm, dev) = tiny();
    let full = Model::new(&cfg, VarBuilder::from_varmap(&vm, DType::F32, &dev)).unwrap();
    let ts: HashMap<_, _> = tensors(&vm)
        .into_iter()
        .filter(|(k, _)| {
            !k.starts_with("text_model") && k != "text_projection.weight" && k != LOGIT_SCALE_KEY
        })
        .collect();
    let vis = Model::new_vision(&cfg, VarBuilder::from_tensors(ts, DType::F32, &dev)).unwrap();
    assert!(!vis.has_text_tower());
    assert!(vis.text_features(&ids(&dev)).is_err());
    assert!(vis.logit_scale().is_err());
    let x = Tensor::randn(0f32, 1., (2, 3, 32, 32), &dev).unwrap();
    let d = (full.image_features(&x).unwrap() - vis.image_features(&x).unwrap())
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap();
    assert_eq!(d.to_scalar::<f32>().unwrap(), 0.0);
}

#[test]
fn safetensors_round_trip_keeps_features() {
    let (cfg, vm, dev) = tiny();
    let dir = std::env::temp_dir().join(format!("vbench-clip-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("tiny.safetensors");
    vm.save(&p).unwrap();
    let m0 = Model::new(&cfg, VarBuilder::from_varmap(&vm, DType::F32, &dev)).unwrap();
    let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[&p], DType::F32, &dev).unwrap() };
    let m1 = Model::new(&cfg, vb).unwrap();
    let x = Tensor::randn(0f32, 1., (1, 3, 32, 32), &dev).unwrap();
    let d = (m0.image_features(&x).unwrap() - m1.image_features(&x).unwrap())
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap();
    assert_eq!(d.to_scalar::<f32>().unwrap(), 0.0);
    std::fs::remove_dir_all(&dir).ok();
}
