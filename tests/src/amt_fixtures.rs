//! AMT-S parity fixture helpers (`tools/parity/make_fixtures_amt.py`): the committed fixtures hold
//! the checkpoint's `(name, shape)` list, and the weights are a counter-based pseudo-random
//! function of (name, index) regenerated here bit for bit (the real AMT-S is 12 MB).
//! Included by `tests/tests/parity_amt.rs` with `#[path]`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};

/// `tests/fixtures/parity_amt`.
pub fn amt_fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/parity_amt")
}

fn fnv1a64(s: &str) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in s.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// `amt_weight(name, shape, gain)` of make_fixtures_amt.py.
pub fn amt_weight(name: &str, shape: &[usize], gain: f64) -> Vec<f32> {
    let n: usize = shape.iter().product();
    let seed = fnv1a64(name);
    let scale_u = 1.0f32 / (1u32 << 23) as f32;
    let (mul, add) = if name.ends_with("bias") {
        (0.05f32 * scale_u, 0.0f32)
    } else if shape.len() == 1 {
        (0.05f32 / (1u32 << 23) as f32, 0.25f32)
    } else {
        let fan_in = shape[1] * shape[2] * shape[3];
        let bound = gain as f32 * (1.0 / (fan_in as f64).sqrt()) as f32;
        (bound / (1u32 << 23) as f32, 0.0)
    };
    (0..n as u64)
        .map(|i| {
            let mut z = seed.wrapping_add((i + 1).wrapping_mul(0x9E3779B97F4A7C15));
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
            z ^= z >> 31;
            let u = ((z >> 40) as i64 - (1 << 23)) as f32;
            if add != 0.0 {
                add + u * mul
            } else {
                u * mul
            }
        })
        .collect()
}

/// The fixture's AMT-S state dict: `keys.json` order, regenerated weights.
pub fn amt_state_dict() -> HashMap<String, Tensor> {
    let keys: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(amt_fixtures().join("keys.json")).expect("keys.json"),
    )
    .expect("keys.json parses");
    let gain = keys["gain"].as_f64().expect("gain");
    keys["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|kv| {
            let name = kv[0].as_str().expect("name").to_string();
            let shape: Vec<usize> = kv[1]
                .as_array()
                .expect("shape")
                .iter()
                .map(|d| d.as_u64().expect("dim") as usize)
                .collect();
            let data = amt_weight(&name, &shape, gain);
            let t = Tensor::from_vec(data, shape, &Device::Cpu).expect("tensor");
            (name, t)
        })
        .collect()
}

/// A `--weights-dir` holding the fixture weights as `lalala125/AMT/amt-s.pth` (written as
/// safetensors; the loader sniffs the format).
pub fn amt_weights_dir(dst: &Path) {
    let p = dst.join("lalala125/AMT/amt-s.pth");
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    candle_core::safetensors::save(&amt_state_dict(), &p).expect("save");
}
