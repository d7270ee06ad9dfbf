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

/// OpenCV's `CAP_PROP_FPS` (av_guess_frame_rate) and decord's `len(vr)` (demuxed packets), as
/// cv2 4.10 and decord 0.6 report them for these two clips: 29.97002997002997 / 7 and 12.0 / 9.
#[test]
fn probe_reports_opencv_fps_and_decord_length() {
    let t = tempfile::tempdir().unwrap();
    let a = t.path().join("ntsc.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=64x48:rate=30000/1001",
        "-frames:v",
        "7",
        "-pix_fmt",
        "yuv420p",
        a.to_str().unwrap(),
    ]);
    let m = vbench_scorer::video::probe(&a, true).unwrap();
    assert_eq!(m.guessed_fps, 30000.0 / 1001.0);
    assert_eq!(m.packets, Some(7));
    let b = t.path().join("resampled.webm");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=64x48:rate=25",
        "-frames:v",
        "9",
        "-pix_fmt",
        "yuv420p",
        "-r",
        "12",
        b.to_str().unwrap(),
    ]);
    let m = vbench_scorer::video::probe(&b, true).unwrap();
    assert_eq!(m.guessed_fps, 12.0);
    assert_eq!(m.packets, Some(9));
    assert_eq!(
        vbench_scorer::video::probe(&b, false).unwrap().packets,
        None
    );
}
