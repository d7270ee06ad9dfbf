//! Helpers shared by the end-to-end and parity tests.

use std::path::{Path, PathBuf};

/// The committed parity fixtures (made by `tools/parity/make_fixtures.py`).
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/parity")
}

/// Lays the tiny fixture checkpoints out as a `--weights-dir` (`<org>/<repo>/<file>`), the
/// layout users hand the scorer, using symlinks into the fixtures.
pub fn fixture_weights_dir(dst: &Path) -> std::io::Result<()> {
    let f = fixtures().join("models");
    let links: [(&str, PathBuf); 8] = [
        (
            "openai/clip-vit-base-patch32/config.json",
            f.join("clip_b32_tiny/config.json"),
        ),
        (
            "openai/clip-vit-base-patch32/model.safetensors",
            f.join("clip_b32_tiny/model.safetensors"),
        ),
        (
            "openai/clip-vit-base-patch32/tokenizer.json",
            f.join("clip_b32_tiny/tokenizer.json"),
        ),
        (
            "openai/clip-vit-large-patch14/config.json",
            f.join("clip_l14_tiny/config.json"),
        ),
        (
            "openai/clip-vit-large-patch14/model.safetensors",
            f.join("clip_l14_tiny/model.safetensors"),
        ),
        (
            "facebook/dino-vitb16/config.json",
            f.join("dino_tiny/config.json"),
        ),
        (
            "facebook/dino-vitb16/model.safetensors",
            f.join("dino_tiny/model.safetensors"),
        ),
        (
            "laion/aesthetic-predictor/sa_0_4_vit_l_14_linear.pth",
            f.join("aesthetic_head.pth"),
        ),
    ];
    for (rel, target) in links.iter() {
        let p = dst.join(rel);
        std::fs::create_dir_all(p.parent().expect("has parent"))?;
        let _ = std::fs::remove_file(&p);
        std::os::unix::fs::symlink(target, &p)?;
    }
    Ok(())
}
pub mod grit;
pub mod images;
pub mod issue7;
