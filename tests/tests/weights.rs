//! Checkpoint loading on real PyTorch files written by torch.save (the fixtures).

use vbench_tests::fixtures;
use vbench_weights::load::read_torch_tensors;

#[test]
fn nested_and_prefixed_pth_equals_plain() {
    let m = fixtures().join("models");
    let plain = read_torch_tensors(&m.join("aesthetic_head.pth"), None).unwrap();
    // {"state_dict": {"module.weight", "module.bias"}, "epoch": 3}
    let nested = read_torch_tensors(&m.join("aesthetic_head_nested.pth"), None).unwrap();
    let explicit =
        read_torch_tensors(&m.join("aesthetic_head_nested.pth"), Some("state_dict")).unwrap();
    for key in ["weight", "bias"] {
        let a: Vec<f32> = plain[key].flatten_all().unwrap().to_vec1().unwrap();
        let b: Vec<f32> = nested[key].flatten_all().unwrap().to_vec1().unwrap();
        let c: Vec<f32> = explicit[key].flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(a, b, "{key}");
        assert_eq!(a, c, "{key}");
    }
    assert_eq!(plain["weight"].dims(), &[1, 768]);
}

#[test]
fn hf_cache_layout_is_read_offline() {
    let t = tempfile::tempdir().unwrap();
    let snap = t
        .path()
        .join("hub/models--facebook--dino-vitb16/snapshots/0123abc");
    std::fs::create_dir_all(&snap).unwrap();
    std::os::unix::fs::symlink(
        fixtures().join("models/dino_tiny/model.safetensors"),
        snap.join("model.safetensors"),
    )
    .unwrap();
    std::fs::create_dir_all(t.path().join("hub/models--facebook--dino-vitb16/refs")).unwrap();
    std::fs::write(
        t.path().join("hub/models--facebook--dino-vitb16/refs/main"),
        "0123abc",
    )
    .unwrap();
    let opts = vbench_weights::ResolverOptions {
        weights_dir: None,
        hf_cache: t.path().join("hub"),
        download_dir: t.path().join("dl"),
        offline: true,
        hf_endpoint: Some("http://127.0.0.1:9".into()),
        progress: false,
    };
    let r = vbench_weights::Resolver::new(vbench_weights::Manifest::builtin(), opts);
    let e = r.manifest.entry("dino-vitb16").unwrap().clone();
    let f = r.require(&e, "model.safetensors").unwrap();
    assert_eq!(f.location, vbench_weights::Location::HfCache);
    let vb = vbench_weights::open_checkpoint(
        &f.path,
        None,
        candle_core::DType::F32,
        &candle_core::Device::Cpu,
    )
    .unwrap();
    assert!(vb.contains_tensor("embeddings.cls_token"));
    // config.json is not there: the error names the places and the command
    let err = r.require(&e, "config.json").unwrap_err().to_string();
    assert!(
        err.contains("vbench-score weights download subject_consistency"),
        "{err}"
    );
}

#[test]
fn transposed_half_and_nested_layouts_load() {
    // tools/parity/make_weight_fixtures.py: {"model": {"module.transposed": a.t(),
    // "module.half": f16, "module.plain": a}, "step": 7}, a = arange(6).reshape(2, 3)
    let p = vbench_tests::fixtures().join("../weights/layouts.pth");
    let t = read_torch_tensors(&p, None).unwrap();
    let tr = &t["transposed"];
    assert_eq!(tr.dims(), &[3, 2]);
    assert_eq!(
        tr.to_vec2::<f32>().unwrap(),
        vec![vec![0., 3.], vec![1., 4.], vec![2., 5.]]
    );
    assert_eq!(
        t["plain"].to_vec2::<f32>().unwrap(),
        vec![vec![0., 1., 2.], vec![3., 4., 5.]]
    );
    let h = t["half"]
        .to_dtype(candle_core::DType::F32)
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    assert_eq!(h, vec![0.5, -1.25, 3.0]);
    let vb = vbench_weights::open_checkpoint(
        &p,
        Some("model"),
        candle_core::DType::F32,
        &candle_core::Device::Cpu,
    )
    .unwrap();
    let half = vb.get(3, "half").unwrap();
    assert_eq!(half.dtype(), candle_core::DType::F32);
}
