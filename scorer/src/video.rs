//! Decoding: every video is decoded once (video-rs / FFmpeg), and each decoded YUV frame is
//! converted to RGB the way the reader a dimension mirrors does it:
//!
//! * [`ReaderKind::Decord`] (`vbench.utils.load_video`): decord runs the libavfilter `scale`
//!   filter to `rgb24` with swscale flags `bilinear` and `in_color_matrix=auto`, so the YUV→RGB
//!   matrix and range follow the stream's tags (BT.709 when tagged 709).
//! * [`ReaderKind::OpenCv`] (`cv2.VideoCapture`): `sws_scale` with `SWS_BICUBIC` and swscale's
//!   default matrix (BT.601, limited range) whatever the tags.
//!
//! Both go through libswscale itself, so the bytes equal the readers' on the same FFmpeg
//! conversion path (spec 00-common §3.4, §3.5, pitfall 7).

use std::path::{Path, PathBuf};

use video_rs::ffmpeg;
use video_rs::ffmpeg::format::Pixel;
use video_rs::ffmpeg::software::scaling;

use crate::error::VideoErrorKind;

/// Which VBench reader's colour conversion a dimension needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReaderKind {
    Decord,
    OpenCv,
    /// decord's `VideoReader(path, width=384, height=384)` (`scene`): the same filter graph,
    /// whose `scale` filter also resamples to 384×384 (bilinear swscale, aspect ratio dropped)
    /// in the same pass as the YUV→RGB conversion.
    Decord384,
}

/// Output side of [`ReaderKind::Decord384`].
pub const DECORD_SCENE_SIZE: u32 = 384;

/// One decoded frame, RGB24, row-major `(height, width, 3)`.
///
/// For [`ReaderKind::OpenCv`] the channels are also RGB (cv2 would give BGR); the dimensions
/// that read through cv2 either convert to RGB themselves or are channel-symmetric.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    pub width: usize,
    pub height: usize,
    pub data: Vec<u8>,
}

impl Frame {
    pub fn pixel(&self, y: usize, x: usize) -> [u8; 3] {
        let i = (y * self.width + x) * 3;
        [self.data[i], self.data[i + 1], self.data[i + 2]]
    }
}

/// What is known about a video before decoding its frames.
#[derive(Debug, Clone)]
pub struct VideoMeta {
    pub path: PathBuf,
    pub width: usize,
    pub height: usize,
    /// `avg_frame_rate` of the stream (decord's `get_avg_fps`).
    pub avg_fps: f64,
    /// `av_guess_frame_rate` of the stream: OpenCV's `CAP_PROP_FPS` (spec 00-common §3.5).
    pub guessed_fps: f64,
    /// Packets the container declares for the stream (may be 0 when unknown).
    pub declared_frames: u64,
    /// The number of demuxed video packets: decord's `len(vr)` (spec 00-common §3.3). Only
    /// counted by [`probe`] when asked for, since it reads the whole file.
    pub packets: Option<u64>,
    /// Clockwise rotation (0, 90, 180, 270) from the stream's display matrix, applied to every
    /// frame as decord and OpenCV do (FFmpeg's autorotate convention).
    pub rotation: u32,
}

/// Converts decoded frames to RGB the way one reader does.
struct Converter {
    ctx: scaling::Context,
}

impl Converter {
    fn new(kind: ReaderKind, frame: &ffmpeg::frame::Video) -> Result<Self, VideoErrorKind> {
        let flags = match kind {
            ReaderKind::Decord | ReaderKind::Decord384 => scaling::Flags::BILINEAR,
            ReaderKind::OpenCv => scaling::Flags::BICUBIC,
        };
        let (dst_w, dst_h) = match kind {
            ReaderKind::Decord384 => (DECORD_SCENE_SIZE, DECORD_SCENE_SIZE),
            _ => (frame.width(), frame.height()),
        };
        let mut ctx = scaling::Context::get(
            frame.format(),
            frame.width(),
            frame.height(),
            Pixel::RGB24,
            dst_w,
            dst_h,
            flags,
        )
        .map_err(|e| VideoErrorKind::Decode(format!("swscale: {e}")))?;
        if kind != ReaderKind::OpenCv {
            // vf_scale with in_color_matrix=auto: the frame's colorspace picks the matrix
            // (unspecified → BT.601) and its color_range the input range.
            let cs = frame.color_space();
            let full = frame.color_range() == ffmpeg::color::Range::JPEG;
            unsafe {
                let sys = ffmpeg::ffi::AVColorSpace::from(cs) as i32;
                let table = ffmpeg::ffi::sws_getCoefficients(sys);
                ffmpeg::ffi::sws_setColorspaceDetails(
                    ctx.as_mut_ptr(),
                    table,
                    full as i32,
                    table,
                    0,
                    0,
                    1 << 16,
                    1 << 16,
                );
            }
        }
        Ok(Self { ctx })
    }

    fn convert(&mut self, frame: &ffmpeg::frame::Video) -> Result<Frame, VideoErrorKind> {
        let mut rgb = ffmpeg::frame::Video::empty();
        self.ctx
            .run(frame, &mut rgb)
            .map_err(|e| VideoErrorKind::Decode(format!("swscale: {e}")))?;
        let (w, h) = (rgb.width() as usize, rgb.height() as usize);
        let stride = rgb.stride(0);
        let src = rgb.data(0);
        let mut data = Vec::with_capacity(w * h * 3);
        for y in 0..h {
            data.extend_from_slice(&src[y * stride..y * stride + w * 3]);
        }
        Ok(Frame {
            width: w,
            height: h,
            data,
        })
    }
}

/// A video opened for one sequential decode. video-rs's own decoder converts every frame to
/// RGB with its fixed scaler (`SWS_AREA`, default matrix), which matches neither reader, so
/// we drive FFmpeg's decoder (re-exported by video-rs) directly and convert ourselves.
pub struct VideoReader {
    input: ffmpeg::format::context::Input,
    decoder: ffmpeg::decoder::Video,
    stream: usize,
    draining: bool,
    done: bool,
    pub meta: VideoMeta,
}

/// Lower-case extensions the scorer decodes (VBench: `.mp4` via decord, `.gif`, `.png`;
/// we accept the other containers FFmpeg reads too). FFmpeg's GIF and PNG frames equal PIL's
/// `convert('RGB')` ones, which VBench's `load_video` uses (`tests/tests/parity_issue7.rs`).
pub const VIDEO_EXTENSIONS: &[&str] = &["mp4", "mkv", "mov", "webm", "avi", "gif", "png", "m4v"];

pub fn is_video_path(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .map(|e| VIDEO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
        .unwrap_or(false)
}

impl VideoReader {
    pub fn open(path: &Path) -> Result<Self, VideoErrorKind> {
        let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => VideoErrorKind::Missing,
            _ => VideoErrorKind::Io(e.to_string()),
        })?;
        if meta.is_dir() {
            return Err(VideoErrorKind::Io("is a directory".into()));
        }
        if meta.len() == 0 {
            return Err(VideoErrorKind::Empty);
        }
        ffmpeg::init().map_err(|e| VideoErrorKind::Decode(e.to_string()))?;
        ffmpeg::util::log::set_level(ffmpeg::util::log::Level::Fatal);
        let input =
            ffmpeg::format::input(&path).map_err(|e| VideoErrorKind::Unreadable(e.to_string()))?;
        let st = input
            .streams()
            .best(ffmpeg::media::Type::Video)
            .ok_or(VideoErrorKind::NoVideoStream)?;
        let stream = st.index();
        let r = st.avg_frame_rate();
        let avg_fps = if r.denominator() != 0 {
            r.numerator() as f64 / r.denominator() as f64
        } else {
            0.0
        };
        let declared_frames = st.frames().max(0) as u64;
        // SAFETY: both pointers come from the live format context; the codec context may be null.
        let g = unsafe {
            ffmpeg::ffi::av_guess_frame_rate(
                input.as_ptr() as *mut _,
                st.as_ptr() as *mut _,
                std::ptr::null_mut(),
            )
        };
        let guessed_fps = if g.den != 0 {
            g.num as f64 / g.den as f64
        } else {
            0.0
        };
        let rotation = stream_rotation(&st);
        let ctx = ffmpeg::codec::context::Context::from_parameters(st.parameters())
            .map_err(|e| VideoErrorKind::Unreadable(e.to_string()))?;
        let decoder = ctx
            .decoder()
            .video()
            .map_err(|e| VideoErrorKind::Unreadable(e.to_string()))?;
        if decoder.width() == 0 || decoder.height() == 0 {
            return Err(VideoErrorKind::Unreadable(
                "stream has no frame size".into(),
            ));
        }
        let (w, h) = (decoder.width() as usize, decoder.height() as usize);
        // the size of the frames as delivered, after rotation
        let (w, h) = if rotation % 180 == 90 { (h, w) } else { (w, h) };
        Ok(Self {
            input,
            decoder,
            stream,
            draining: false,
            done: false,
            meta: VideoMeta {
                path: path.to_path_buf(),
                width: w,
                height: h,
                avg_fps,
                guessed_fps,
                declared_frames,
                packets: None,
                rotation,
            },
        })
    }

    /// The next decoded (YUV) frame, or `None` at the end of the stream.
    pub fn next_raw(&mut self) -> Result<Option<ffmpeg::frame::Video>, VideoErrorKind> {
        let mut frame = ffmpeg::frame::Video::empty();
        loop {
            if self.done {
                return Ok(None);
            }
            match self.decoder.receive_frame(&mut frame) {
                Ok(()) => return Ok(Some(frame)),
                Err(ffmpeg::Error::Eof) => {
                    self.done = true;
                    return Ok(None);
                }
                Err(ffmpeg::Error::Other { errno }) if errno == ffmpeg::util::error::EAGAIN => {}
                Err(e) => {
                    // a corrupt frame: the readers skip it and go on
                    if self.draining {
                        self.done = true;
                        return Err(VideoErrorKind::Decode(e.to_string()));
                    }
                }
            }
            if self.draining {
                self.done = true;
                return Ok(None);
            }
            let mut sent = false;
            for (s, packet) in self.input.packets() {
                if s.index() == self.stream {
                    // errors on a damaged packet are skipped like the readers do
                    let _ = self.decoder.send_packet(&packet);
                    sent = true;
                    break;
                }
            }
            if !sent {
                self.draining = true;
                let _ = self.decoder.send_eof();
                // after EOF keep receiving until Eof
                loop {
                    match self.decoder.receive_frame(&mut frame) {
                        Ok(()) => return Ok(Some(frame)),
                        Err(ffmpeg::Error::Other { errno })
                            if errno == ffmpeg::util::error::EAGAIN =>
                        {
                            continue
                        }
                        Err(_) => {
                            self.done = true;
                            return Ok(None);
                        }
                    }
                }
            }
        }
    }
}

/// The clockwise rotation FFmpeg's autorotate applies for a stream's display matrix:
/// theta = -round(av_display_rotation_get), normalised to [0, 360), snapped to 90° steps.
fn stream_rotation(st: &ffmpeg::format::stream::Stream) -> u32 {
    for sd in st.side_data() {
        if sd.kind() == ffmpeg::codec::packet::side_data::Type::DisplayMatrix
            && sd.data().len() >= 36
        {
            let m: Vec<i32> = sd
                .data()
                .chunks_exact(4)
                .take(9)
                .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            // SAFETY: `m` holds the 9 values the function reads.
            let ccw = unsafe { ffmpeg::ffi::av_display_rotation_get(m.as_ptr()) };
            if ccw.is_nan() {
                return 0;
            }
            let mut theta = -ccw.round();
            theta -= 360.0 * (theta / 360.0 + 0.9 / 360.0).floor();
            return [90u32, 180, 270]
                .into_iter()
                .find(|&a| (theta - a as f64).abs() < 1.0)
                .unwrap_or(0);
        }
    }
    0
}

/// Rotates a frame clockwise by 90, 180 or 270 degrees (`transpose=clock`, `hflip,vflip`,
/// `transpose=cclock`).
pub fn rotate(frame: Frame, clockwise: u32) -> Frame {
    let (w, h) = (frame.width, frame.height);
    let src = |y: usize, x: usize| (y * w + x) * 3;
    let (ow, oh) = match clockwise {
        90 | 270 => (h, w),
        180 => (w, h),
        _ => return frame,
    };
    let mut data = vec![0u8; ow * oh * 3];
    for oy in 0..oh {
        for ox in 0..ow {
            let i = match clockwise {
                90 => src(h - 1 - ox, oy),
                180 => src(h - 1 - oy, w - 1 - ox),
                _ => src(ox, w - 1 - oy),
            };
            let o = (oy * ow + ox) * 3;
            data[o..o + 3].copy_from_slice(&frame.data[i..i + 3]);
        }
    }
    Frame {
        width: ow,
        height: oh,
        data,
    }
}

/// What is known about a video without decoding it; with `count_packets` also decord's frame
/// count (one demux pass, no decoding).
pub fn probe(path: &Path, count_packets: bool) -> Result<VideoMeta, VideoErrorKind> {
    let mut reader = VideoReader::open(path)?;
    if count_packets {
        let stream = reader.stream;
        let n = reader
            .input
            .packets()
            .filter(|(s, _)| s.index() == stream)
            .count() as u64;
        reader.meta.packets = Some(n);
    }
    Ok(reader.meta)
}

/// Decodes a video once and hands every frame, converted for each requested reader, to `sink`.
/// Returns the number of frames decoded.
pub fn for_each_frame(
    path: &Path,
    kinds: &[ReaderKind],
    mut sink: impl FnMut(usize, &[(ReaderKind, &Frame)]) -> Result<(), VideoErrorKind>,
) -> Result<(VideoMeta, usize), VideoErrorKind> {
    let mut reader = VideoReader::open(path)?;
    let mut converters: Vec<(ReaderKind, Option<Converter>)> =
        kinds.iter().map(|k| (*k, None)).collect();
    let mut n = 0usize;
    while let Some(raw) = reader.next_raw()? {
        let mut frames = Vec::with_capacity(converters.len());
        for (kind, conv) in converters.iter_mut() {
            if conv.is_none() {
                *conv = Some(Converter::new(*kind, &raw)?);
            }
            let c = conv.as_mut().expect("set just above");
            frames.push((*kind, rotate(c.convert(&raw)?, reader.meta.rotation)));
        }
        let refs: Vec<(ReaderKind, &Frame)> = frames.iter().map(|(k, f)| (*k, f)).collect();
        sink(n, &refs)?;
        n += 1;
    }
    if n == 0 {
        return Err(VideoErrorKind::NoFrames);
    }
    Ok((reader.meta, n))
}

/// Decodes every frame for one reader (tests and small tools; the scorer streams instead).
pub fn decode_all(path: &Path, kind: ReaderKind) -> Result<Vec<Frame>, VideoErrorKind> {
    let mut out = Vec::new();
    for_each_frame(path, &[kind], |_, fs| {
        out.push(fs[0].1.clone());
        Ok(())
    })?;
    Ok(out)
}
