//! Fixtures of the image scores (`tools/parity/make_fixtures_images.py`).

use std::path::{Path, PathBuf};

/// `tests/fixtures/parity_images`.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/parity_images")
}

/// Which image metrics a weights dir made by [`image_weights_dir`] carries.
#[derive(Debug, Clone, Copy)]
pub struct ImageWeights {
    pub clip: bool,
    pub aesthetic: bool,
    pub pickscore: bool,
}

impl ImageWeights {
    pub const ALL: Self = Self {
        clip: true,
        aesthetic: true,
        pickscore: true,
    };
}

/// Lays the tiny image-score checkpoints out as a `--weights-dir` (symlinks into the fixtures):
/// the VBench parity CLIP B/32, CLIP L/14 and LAION head, and the tiny PickScore with the CLIP
/// tokenizer standing in for the laion processor's (same BPE).
pub fn image_weights_dir(dst: &Path, which: ImageWeights) -> std::io::Result<()> {
    let p = crate::fixtures().join("models");
    let i = fixtures().join("pickscore_tiny");
    let mut links: Vec<(&str, PathBuf)> = Vec::new();
    if which.clip {
        links.extend([
            (
                "openai/clip-vit-base-patch32/config.json",
                p.join("clip_b32_tiny/config.json"),
            ),
            (
                "openai/clip-vit-base-patch32/model.safetensors",
                p.join("clip_b32_tiny/model.safetensors"),
            ),
            (
                "openai/clip-vit-base-patch32/tokenizer.json",
                p.join("clip_b32_tiny/tokenizer.json"),
            ),
        ]);
    }
    if which.aesthetic {
        links.extend([
            (
                "openai/clip-vit-large-patch14/config.json",
                p.join("clip_l14_tiny/config.json"),
            ),
            (
                "openai/clip-vit-large-patch14/model.safetensors",
                p.join("clip_l14_tiny/model.safetensors"),
            ),
            (
                "laion/aesthetic-predictor/sa_0_4_vit_l_14_linear.pth",
                p.join("aesthetic_head.pth"),
            ),
        ]);
    }
    if which.pickscore {
        links.extend([
            (
                "yuvalkirstain/PickScore_v1/config.json",
                i.join("config.json"),
            ),
            (
                "yuvalkirstain/PickScore_v1/model.safetensors",
                i.join("model.safetensors"),
            ),
            (
                "laion/CLIP-ViT-H-14-laion2B-s32B-b79K/tokenizer.json",
                p.join("clip_b32_tiny/tokenizer.json"),
            ),
            (
                "laion/CLIP-ViT-H-14-laion2B-s32B-b79K/preprocessor_config.json",
                i.join("preprocessor_config.json"),
            ),
        ]);
    }
    for (rel, target) in links {
        let path = dst.join(rel);
        std::fs::create_dir_all(path.parent().expect("has parent"))?;
        let _ = std::fs::remove_file(&path);
        std::os::unix::fs::symlink(target, &path)?;
    }
    Ok(())
}
