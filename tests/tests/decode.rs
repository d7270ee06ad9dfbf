//! Decoding details beyond the parity fixtures: rotation tags, which decord and OpenCV both
//! apply (FFmpeg's autorotate), checked against the ffmpeg CLI's own rotated RGB output.

use std::path::Path;
use std::process::Command;

use vbench_scorer::video::{decode_all, ReaderKind, VideoReader};

fn ffmpeg(args: &[&str]) {
    let st = Command::new("ffmpeg")
        .args(["-v", "error", "-y"])
        .args(args)
        .status()
        .unwrap();
    assert!(st.success(), "ffmpeg {args:?}");
}

fn ffmpeg_rgb(path: &Path) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .unwrap();
    assert!(out.status.success());
    out.stdout
}

#[test]
fn rotation_tags_are_applied_like_ffmpeg_autorotate() {
    let t = tempfile::tempdir().unwrap();
    let base = t.path().join("r0.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=64x48:rate=8",
        "-frames:v",
        "3",
        "-pix_fmt",
        "yuv420p",
        "-c:v",
        "libx264",
        base.to_str().unwrap(),
    ]);
    for deg in ["90", "180", "270"] {
        let p = t.path().join(format!("r{deg}.mp4"));
        ffmpeg(&[
            "-i",
            base.to_str().unwrap(),
            "-c",
            "copy",
            "-metadata:s:v:0",
            &format!("rotate={deg}"),
            p.to_str().unwrap(),
        ]);
        let want = ffmpeg_rgb(&p);
        for kind in [ReaderKind::Decord, ReaderKind::OpenCv] {
            let frames = decode_all(&p, kind).unwrap();
            let got: Vec<u8> = frames.iter().flat_map(|f| f.data.iter().copied()).collect();
            assert_eq!(frames.len(), 3);
            if deg != "180" {
                assert_eq!(
                    (frames[0].width, frames[0].height),
                    (48, 64),
                    "rotate={deg}"
                );
            }
            assert_eq!(got.len(), want.len(), "rotate={deg} {kind:?}");
            assert!(
                got == want,
                "rotate={deg} {kind:?}: frames differ from ffmpeg's autorotate"
            );
        }
        let meta = VideoReader::open(&p).unwrap().meta;
        assert_ne!(meta.rotation, 0, "rotate={deg}");
    }
}
