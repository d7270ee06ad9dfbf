//! The tiny GRiT of `tests/fixtures/parity_grit/` (made by `tools/parity/make_fixtures_grit.py`)
//! and the real GRiT-B key list, shared by the GRiT parity tests and the `vbench-score` end-to-end
//! test.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device};
use candle_nn::{VarBuilder, VarMap};
use vbench_models::grit::{Grit, GritConfig, GritHeadsConfig};

/// `tests/fixtures/parity_grit`.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/parity_grit")
}

fn config_json() -> serde_json::Value {
    let path = fixtures().join("config.json");
    serde_json::from_str(&std::fs::read_to_string(&path).expect("config.json")).expect("json")
}

/// The fixture's tiny configuration (`config.json`) as a [`GritConfig`].
pub fn tiny_config() -> GritConfig {
    let c = config_json();
    let backbone: vbench_models::vitdet::VitDetConfig =
        serde_json::from_value(c["backbone"].clone()).expect("backbone config");
    let text: vbench_models::grit_text::GritTextConfig =
        serde_json::from_value(c["text"].clone()).expect("text config");
    let fc = c["box_head_fc_dim"].as_u64().expect("box_head_fc_dim") as usize;
    GritConfig {
        heads: GritHeadsConfig::with_dims(backbone.fpn_dim, fc),
        backbone,
        text,
    }
}

/// The fixture's weights (`model.safetensors`, real key names) as a VarBuilder.
pub fn tiny_weights() -> VarBuilder<'static> {
    // SAFETY: the fixture file is not modified while the tests run
    unsafe {
        VarBuilder::from_mmaped_safetensors(
            &[fixtures().join("model.safetensors")],
            DType::F32,
            &Device::Cpu,
        )
    }
    .expect("model.safetensors")
}

/// The whole tiny GRiT.
pub fn tiny_grit() -> Grit {
    Grit::new(&tiny_config(), tiny_weights()).expect("tiny grit")
}

/// The real GRiT-B state-dict keys and shapes (`grit_b_keys.txt`, dumped from VBench's model at
/// full size) for which `keep` is true.
pub fn grit_b_keys(keep: impl Fn(&str) -> bool) -> BTreeMap<String, Vec<usize>> {
    let text = std::fs::read_to_string(fixtures().join("grit_b_keys.txt")).expect("key list");
    text.lines()
        .filter_map(|line| {
            let (k, shape) = line.split_once(' ').expect("`key [shape]`");
            keep(k).then(|| {
                let dims = shape
                    .trim_matches(|c| c == '[' || c == ']')
                    .split(',')
                    .filter(|s| !s.trim().is_empty())
                    .map(|s| s.trim().parse().expect("dimension"))
                    .collect();
                (k.to_string(), dims)
            })
        })
        .collect()
}

/// The keys and shapes a network asks its VarBuilder for.
pub fn requested_keys(build: impl FnOnce(VarBuilder)) -> BTreeMap<String, Vec<usize>> {
    let vm = VarMap::new();
    build(VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu));
    let data = vm.data().lock().expect("varmap");
    data.iter()
        .map(|(k, v)| (k.clone(), v.dims().to_vec()))
        .collect()
}
