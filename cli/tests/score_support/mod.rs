//! Helpers shared by the `vbench-score` end-to-end tests.

use std::path::Path;
use std::process::{Command, Output};

/// The binary, isolated from the user's caches, the network and any job-array environment.
pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vbench-score"));
    c.env("HF_HUB_OFFLINE", "1")
        .env("HF_HOME", "/nonexistent-hf-home")
        .env(
            "XDG_CACHE_HOME",
            std::env::temp_dir().join("vbench-test-cache"),
        )
        .env_remove("VBENCH_WEIGHTS_DIR")
        .env_remove("SLURM_ARRAY_TASK_ID")
        .env_remove("JOB_COMPLETION_INDEX");
    c
}

/// An H.264 yuv420p clip from an ffmpeg lavfi source (`testsrc2`, `mandelbrot`...), 8 fps.
pub fn make_clip(path: &Path, frames: u32, size: &str, src: &str) {
    let st = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("{src}=size={size}:rate=8"))
        .args([
            "-frames:v",
            &frames.to_string(),
            "-pix_fmt",
            "yuv420p",
            "-c:v",
            "libx264",
        ])
        .arg(path)
        .status()
        .expect("ffmpeg runs");
    assert!(st.success());
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
