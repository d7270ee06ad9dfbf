//! Weights-dir builders for the tiny ViCLIP, MUSIQ and UMT parity networks (end-to-end tests of
//! `vbench-score` and `tests/tests/parity_issue7.rs`).

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// `tests/fixtures/parity_issue7` (made by `tools/parity/make_fixtures_issue7.py`).
pub fn fixtures() -> PathBuf {
    root().join("parity_issue7")
}

/// `tests/fixtures/parity_viclip`.
pub fn viclip_fixtures() -> PathBuf {
    root().join("parity_viclip")
}

/// A ViCLIP parity clip (its own `clip_e.mp4`, the others from `tests/fixtures/parity/clips`).
pub fn viclip_clip(name: &str) -> PathBuf {
    let own = viclip_fixtures().join("clips").join(name);
    if own.exists() {
        own
    } else {
        crate::fixtures().join("clips").join(name)
    }
}

fn link(dst: &Path, rel: &str, target: &Path) -> std::io::Result<()> {
    let p = dst.join(rel);
    std::fs::create_dir_all(p.parent().expect("has parent"))?;
    let _ = std::fs::remove_file(&p);
    std::os::unix::fs::symlink(target, &p)
}

/// The tiny ViCLIP (with its config sidecar) and the CLIP BPE tokenizer as a `--weights-dir`.
pub fn viclip_weights_dir(dst: &Path) -> std::io::Result<()> {
    let m = viclip_fixtures().join("models");
    link(
        dst,
        "OpenGVLab/VBench_Used_Models/ViClip-InternVid-10M-FLT.pth",
        &m.join("ViClip-InternVid-10M-FLT.pth"),
    )?;
    link(
        dst,
        "OpenGVLab/VBench_Used_Models/ViClip-InternVid-10M-FLT.config.json",
        &m.join("ViClip-InternVid-10M-FLT.config.json"),
    )?;
    link(
        dst,
        "openai/clip-vit-base-patch32/tokenizer.json",
        &crate::fixtures().join("models/clip_b32_tiny/tokenizer.json"),
    )
}

/// The tiny MUSIQ of `tests/fixtures/parity_musiq` as the `musiq-spaq` checkpoint, with a
/// `.config.json` sidecar giving its shrunken sizes (`musiq::Config::tiny`).
pub fn musiq_weights_dir(dst: &Path) -> std::io::Result<()> {
    let rel = "chaofengc/IQA-PyTorch-Weights/musiq_spaq_ckpt-358bb6af.pth";
    link(dst, rel, &root().join("parity_musiq/models/musiq_tiny.pth"))?;
    std::fs::write(
        dst.join(rel).with_extension("config.json"),
        r#"{"hidden_size": 16, "mlp_dim": 32, "num_heads": 2, "num_layers": 2}"#,
    )
}

/// The tiny UMT of `tests/fixtures/parity_umt` as the `umt-l16-k400` checkpoint.
pub fn umt_weights_dir(dst: &Path) -> std::io::Result<()> {
    link(
        dst,
        "OpenGVLab/VBench_Used_Models/l16_ptk710_ftk710_ftk400_f16_res224.pth",
        &root().join("parity_umt/models/umt_tiny.pth"),
    )
}
