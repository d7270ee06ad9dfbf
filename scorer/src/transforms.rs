//! VBench's image transforms (`vbench/utils.py`), on decoded RGB frames, reproducing the exact
//! kernels (spec 10-frame-dims §1.3, 00-common §4): torchvision's resize-size and centre-crop
//! rules, PyTorch's CPU bilinear/bicubic on float input (from `vbench_models::nn::resample`),
//! Pillow's antialiased bicubic on uint8, and `Normalize`.

use vbench_models::nn::resample;

use crate::video::Frame;

pub const CLIP_MEAN: [f32; 3] = [0.48145466, 0.4578275, 0.40821073];
// the digits OpenAI's CLIP writes, kept as they are so the constants read the same
#[allow(clippy::excessive_precision)]
pub const CLIP_STD: [f32; 3] = [0.26862954, 0.26130258, 0.27577711];
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// torchvision `Resize(n)` output `(h, w)`: the shorter side becomes `n`, the longer side
/// `int(n * long / short)` (evaluated as an integer product divided in f64, truncated).
pub fn resize_shorter_size(h: usize, w: usize, n: usize) -> (usize, usize) {
    let (short, long) = if w <= h { (w, h) } else { (h, w) };
    let new_long = ((n * long) as f64 / short as f64) as usize;
    if w <= h {
        (new_long, n)
    } else {
        (n, new_long)
    }
}

/// Python's `round` (half to even) of a non-negative half-integer-or-integer value.
fn round_half_even(x: f64) -> i64 {
    let r = x.round();
    if (x - x.trunc()).abs() == 0.5 {
        let f = x.floor();
        if (f as i64) % 2 == 0 {
            f as i64
        } else {
            f as i64 + 1
        }
    } else {
        r as i64
    }
}

/// torchvision `CenterCrop(c)` offsets `(top, left)` for an image at least `c` on each side.
pub fn center_crop_offsets(h: usize, w: usize, c: usize) -> (usize, usize) {
    let top = round_half_even((h as f64 - c as f64) / 2.0).max(0) as usize;
    let left = round_half_even((w as f64 - c as f64) / 2.0).max(0) as usize;
    (top, left)
}

/// HWC uint8 RGB → planar (3, H, W) f32 with values 0..255 (`torch.Tensor(ndarray)`).
pub fn to_planar_f32(frame: &Frame) -> Vec<f32> {
    let (h, w) = (frame.height, frame.width);
    let mut out = vec![0f32; 3 * h * w];
    let plane = h * w;
    for (i, px) in frame.data.chunks_exact(3).enumerate() {
        out[i] = px[0] as f32;
        out[plane + i] = px[1] as f32;
        out[2 * plane + i] = px[2] as f32;
    }
    out
}

/// Crops a planar (C, H, W) buffer.
#[allow(clippy::too_many_arguments)]
pub fn crop_planar(
    src: &[f32],
    c: usize,
    h: usize,
    w: usize,
    top: usize,
    left: usize,
    ch: usize,
    cw: usize,
) -> Vec<f32> {
    let mut out = Vec::with_capacity(c * ch * cw);
    for k in 0..c {
        for y in top..top + ch {
            let row = k * h * w + y * w;
            out.extend_from_slice(&src[row + left..row + left + cw]);
        }
    }
    out
}

/// `x.float().div(255.0)` then `Normalize(mean, std)`: `(x / 255 - mean) / std` in f32, in
/// that order (subtract, then divide).
pub fn normalize_255(buf: &mut [f32], plane: usize, mean: [f32; 3], std: [f32; 3]) {
    for (k, chunk) in buf.chunks_exact_mut(plane).enumerate() {
        let (m, s) = (mean[k], std[k]);
        for v in chunk {
            *v = (*v / 255.0 - m) / s;
        }
    }
}

/// A preprocessed image, planar (3, height, width) f32.
#[derive(Debug, Clone)]
pub struct Planar {
    pub height: usize,
    pub width: usize,
    pub data: Vec<f32>,
}

/// `utils.clip_transform(224)` on the float tensor `load_video` returns: bicubic (A = -0.75,
/// no antialias, unclamped) to the shorter-side size, centre crop, /255, CLIP normalisation.
pub fn clip_transform_float(frame: &Frame, n: usize) -> Planar {
    let (h, w) = (frame.height, frame.width);
    let (rh, rw) = resize_shorter_size(h, w, n);
    let x = to_planar_f32(frame);
    let x = if (rh, rw) == (h, w) {
        x
    } else {
        resample::resize_bicubic(&x, 3, h, w, rh, rw, None)
    };
    finish_crop_norm(x, rh, rw, n, CLIP_MEAN, CLIP_STD)
}

/// `Resize(n, BICUBIC, antialias=False)` + `CenterCrop(n)` of `utils.clip_transform(n)` applied
/// to a **uint8** tensor, as `read_frames_decord_by_fps` delivers it (spec 30-video-text §1.4):
/// torchvision casts to f32, runs the bicubic kernel (A = −0.75, no antialias), clamps to
/// [0, 255], rounds half to even and casts back to uint8; an image already at the target size is
/// returned untouched. Returns the cropped planar (3, n, n) values (integers 0..=255, as f32).
pub fn clip_resize_crop_u8(frame: &Frame, n: usize) -> Vec<f32> {
    let (h, w) = (frame.height, frame.width);
    let (rh, rw) = resize_shorter_size(h, w, n);
    let x = to_planar_f32(frame);
    let x = if (rh, rw) == (h, w) {
        x
    } else {
        let mut r = resample::resize_bicubic(&x, 3, h, w, rh, rw, None);
        for v in r.iter_mut() {
            *v = v.clamp(0.0, 255.0).round_ties_even();
        }
        r
    };
    if (rh, rw) == (n, n) {
        return x;
    }
    let (top, left) = center_crop_offsets(rh, rw, n);
    crop_planar(&x, 3, rh, rw, top, left, n, n)
}

/// `utils.clip_transform(n)` on a uint8 frame (ViCLIP's `overall_consistency` /
/// `temporal_style`): [`clip_resize_crop_u8`], then `x.float().div(255.0)` and CLIP `Normalize`.
pub fn clip_transform_u8(frame: &Frame, n: usize) -> Planar {
    let mut c = clip_resize_crop_u8(frame, n);
    normalize_255(&mut c, n * n, CLIP_MEAN, CLIP_STD);
    Planar {
        height: n,
        width: n,
        data: c,
    }
}

fn finish_crop_norm(
    x: Vec<f32>,
    h: usize,
    w: usize,
    n: usize,
    mean: [f32; 3],
    std: [f32; 3],
) -> Planar {
    let (top, left) = center_crop_offsets(h, w, n);
    let mut c = if (h, w) == (n, n) {
        x
    } else {
        crop_planar(&x, 3, h, w, top, left, n, n)
    };
    normalize_255(&mut c, n * n, mean, std);
    Planar {
        height: n,
        width: n,
        data: c,
    }
}

/// `utils.dino_transform(224)`: bilinear (no antialias) to the shorter-side size, **no crop**,
/// /255, ImageNet normalisation.
pub fn dino_transform(frame: &Frame, n: usize) -> Planar {
    let (h, w) = (frame.height, frame.width);
    let (rh, rw) = resize_shorter_size(h, w, n);
    let x = to_planar_f32(frame);
    let mut x = if (rh, rw) == (h, w) {
        x
    } else {
        resample::resize_bilinear(&x, 3, h, w, rh, rw)
    };
    normalize_255(&mut x, rh * rw, IMAGENET_MEAN, IMAGENET_STD);
    Planar {
        height: rh,
        width: rw,
        data: x,
    }
}

/// `utils.clip_transform_Image(224)` on a PIL image: Pillow's antialiased bicubic (a = -0.5,
/// uint8 passes), centre crop, ToTensor (/255), CLIP normalisation.
pub fn clip_transform_pil(frame: &Frame, n: usize) -> Planar {
    let (h, w) = (frame.height, frame.width);
    let (rh, rw) = resize_shorter_size(h, w, n);
    let resized;
    let img = if (rh, rw) == (h, w) {
        frame
    } else {
        resized = pil_resize_bicubic(frame, rw, rh);
        &resized
    };
    let x = to_planar_f32(img);
    finish_crop_norm(x, rh, rw, n, CLIP_MEAN, CLIP_STD)
}

// ---- Pillow `Image.resize(size, BICUBIC)` for 8-bit RGB (libImaging/Resample.c) ----

const PRECISION_BITS: u32 = 32 - 8 - 2;

fn bicubic_filter(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

/// Per output index: first input index and fixed-point weights (Pillow `precompute_coeffs` +
/// `normalize_coeffs_8bpc`).
fn pil_coeffs(in_size: usize, out_size: usize) -> Vec<(usize, Vec<i32>)> {
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = 2.0 * filterscale;
    let mut out = Vec::with_capacity(out_size);
    for xx in 0..out_size {
        let center = (xx as f64 + 0.5) * scale;
        let ss = 1.0 / filterscale;
        let xmin = ((center - support + 0.5) as i64).max(0) as usize;
        let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
        let mut ws: Vec<f64> = (xmin..xmax)
            .map(|x| bicubic_filter((x as f64 - center + 0.5) * ss))
            .collect();
        let total: f64 = ws.iter().sum();
        if total != 0.0 {
            for w in ws.iter_mut() {
                *w /= total;
            }
        }
        let k: Vec<i32> = ws
            .iter()
            .map(|&w| {
                let v = w * (1u32 << PRECISION_BITS) as f64;
                if w < 0.0 {
                    (v - 0.5) as i32
                } else {
                    (v + 0.5) as i32
                }
            })
            .collect();
        out.push((xmin, k));
    }
    out
}

fn clip8(v: i32) -> u8 {
    (v >> PRECISION_BITS).clamp(0, 255) as u8
}

/// Pillow bicubic resize of an RGB frame to `(out_w, out_h)`: horizontal pass first into a
/// uint8 image, then vertical; a pass is skipped when its axis keeps its size.
pub fn pil_resize_bicubic(frame: &Frame, out_w: usize, out_h: usize) -> Frame {
    let (w, h) = (frame.width, frame.height);
    let init = 1i32 << (PRECISION_BITS - 1);
    let horiz = if out_w != w {
        let cs = pil_coeffs(w, out_w);
        let mut data = vec![0u8; h * out_w * 3];
        for (row, out) in frame
            .data
            .chunks_exact(w * 3)
            .zip(data.chunks_exact_mut(out_w * 3))
        {
            for ((xmin, k), px) in cs.iter().zip(out.chunks_exact_mut(3)) {
                let (mut r, mut g, mut b) = (init, init, init);
                for (src, &kk) in row[xmin * 3..].chunks_exact(3).zip(k) {
                    r += src[0] as i32 * kk;
                    g += src[1] as i32 * kk;
                    b += src[2] as i32 * kk;
                }
                px[0] = clip8(r);
                px[1] = clip8(g);
                px[2] = clip8(b);
            }
        }
        Frame {
            width: out_w,
            height: h,
            data,
        }
    } else {
        frame.clone()
    };
    if out_h == h {
        return horiz;
    }
    let cs = pil_coeffs(h, out_h);
    let stride = out_w * 3;
    let mut data = vec![0u8; out_h * stride];
    // accumulate whole rows: the inner loop runs along memory
    let mut acc = vec![0i32; stride];
    for ((ymin, k), out) in cs.iter().zip(data.chunks_exact_mut(stride)) {
        acc.fill(init);
        for (j, &kk) in k.iter().enumerate() {
            let src = &horiz.data[(ymin + j) * stride..(ymin + j + 1) * stride];
            for (a, &v) in acc.iter_mut().zip(src) {
                *a += v as i32 * kk;
            }
        }
        for (o, &a) in out.iter_mut().zip(&acc) {
            *o = clip8(a);
        }
    }
    Frame {
        width: out_w,
        height: out_h,
        data,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorter_side_sizes_match_spec_table() {
        assert_eq!(resize_shorter_size(320, 512, 224), (224, 358));
        assert_eq!(resize_shorter_size(576, 1024, 224), (224, 398));
        assert_eq!(resize_shorter_size(480, 848, 224), (224, 395));
        assert_eq!(resize_shorter_size(1024, 576, 224), (398, 224));
        assert_eq!(resize_shorter_size(512, 512, 224), (224, 224));
        assert_eq!(resize_shorter_size(768, 1360, 224), (224, 396));
    }

    #[test]
    fn crop_rounds_half_to_even() {
        assert_eq!(center_crop_offsets(224, 395, 224), (0, 86)); // 85.5 -> 86
        assert_eq!(center_crop_offsets(224, 397, 224), (0, 86)); // 86.5 -> 86
        assert_eq!(center_crop_offsets(224, 225, 224), (0, 0)); // 0.5 -> 0
        assert_eq!(center_crop_offsets(224, 398, 224), (0, 87));
        assert_eq!(center_crop_offsets(398, 224, 224), (87, 0));
    }

    #[test]
    fn clip_u8_resize_requantises_and_keeps_exact_sizes() {
        // a 2-row ramp upscaled: bicubic overshoot is clamped to 0..=255 and rounded to integers
        let (w, h) = (6, 4);
        let data: Vec<u8> = (0..w * h)
            .flat_map(|i| {
                let v = if i % w < 3 { 0 } else { 255 };
                [v, v, v]
            })
            .collect();
        let f = Frame {
            width: w,
            height: h,
            data,
        };
        let c = clip_resize_crop_u8(&f, 8);
        assert_eq!(c.len(), 3 * 8 * 8);
        assert!(c
            .iter()
            .all(|v| (0.0..=255.0).contains(v) && v.fract() == 0.0));
        assert!(c.contains(&0.0) && c.contains(&255.0));
        // already 224 on the short side and int(224·long/short) on the long side: untouched
        let f = Frame {
            width: 230,
            height: 224,
            data: (0..230 * 224 * 3).map(|i| (i % 251) as u8).collect(),
        };
        let c = clip_resize_crop_u8(&f, 224);
        // crop left = round(6 / 2) = 3
        assert_eq!(c[0], f.data[3 * 3] as f32);
    }

    #[test]
    fn pil_identity_and_constant_images() {
        let f = Frame {
            width: 5,
            height: 4,
            data: (0..60).map(|v| (v * 4) as u8).collect(),
        };
        assert_eq!(pil_resize_bicubic(&f, 5, 4), f);
        let c = Frame {
            width: 7,
            height: 3,
            data: vec![77; 63],
        };
        let r = pil_resize_bicubic(&c, 3, 5);
        assert!(r.data.iter().all(|&v| v == 77));
    }
}
