//! OpenCV's `cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)` on 3-channel uint8
//! images, bit for bit (spec 30-video-text §3.4; OpenCV 4.10 `modules/imgproc/src/resize.cpp`,
//! `cv::hal::resize` → `resizeGeneric_` with `HResizeLinear` + `VResizeLinear` /
//! `VResizeLinearVec_32s8u`, and the exact-2× `INTER_AREA` shortcut).
//!
//! Fixed point with 11-bit coefficients (`INTER_RESIZE_COEF_SCALE = 2048`):
//!
//! * per output column `fx = f32((dx + 0.5)·scale_x − 0.5)`, `sx = ⌊fx⌋`, `fx −= sx`; left of the
//!   image `sx = 0, fx = 0`, at or right of the last column `sx = w − 1, fx = 0` (that column then
//!   uses `S[sx]·2048`); `a0 = rne((1 − fx)·2048)`, `a1 = rne(fx·2048)`;
//! * per output row the same with `fy` (never clamped); the two source rows are clamped;
//! * vertical pass: `VResizeLinearVec_32s8u`'s arithmetic, `((D0>>4)·b0 >> 16) + ((D1>>4)·b1 >> 16)`
//!   (the high halves of 16×16-bit products), then `(· + 2) >> 2`, saturated to uint8, for **every**
//!   element of the row. The spec (§3.4, "unverified") expected the last `width·3 mod 16`
//!   elements to take the scalar `(D0·b0 + D1·b1 + 2²¹) >> 22` instead, which can be one level
//!   higher; opencv-python-headless 4.10.0.84 (the reference env) does not: settled empirically,
//!   the all-vector formula matched `cv2.resize` bit for bit on 48 random sizes (1–60 px wide,
//!   including rows narrower than 16 bytes) and on the committed cases, the scalar tail did not.
//!
//! Checked against `cv2.resize` on generated images of many sizes
//! (`tests/fixtures/parity_umt/cv_resize.safetensors`, test `parity_umt`).

use crate::video::Frame;

const COEF_BITS: i32 = 11;
const COEF_SCALE: f32 = (1 << COEF_BITS) as f32;

/// `saturate_cast<short>(float)`: round half to even, then clamp.
fn sat_short(v: f32) -> i32 {
    (v.round_ties_even() as i32).clamp(i16::MIN as i32, i16::MAX as i32)
}

/// `cvRound(double)` for the integer-scale test.
fn cv_round(v: f64) -> i64 {
    v.round_ties_even() as i64
}

/// Source index and the two fixed-point weights of one output coordinate along an axis of
/// `len` source samples. `clamp_border`: the horizontal rules (`sx < 0 → 0`, `sx ≥ len−1 → len−1`,
/// both with weight (2048, 0)); the vertical axis keeps `fy` and clamps the rows instead.
fn coeffs(d: usize, scale: f64, len: usize, clamp_border: bool) -> (i64, i32, i32) {
    let f = ((d as f64 + 0.5) * scale - 0.5) as f32;
    let s = f.floor();
    let mut frac = f - s;
    let mut s = s as i64;
    if clamp_border {
        if s < 0 {
            s = 0;
            frac = 0.0;
        }
        if s >= len as i64 - 1 {
            s = len as i64 - 1;
            frac = 0.0;
        }
    }
    (
        s,
        sat_short((1.0 - frac) * COEF_SCALE),
        sat_short(frac * COEF_SCALE),
    )
}

/// `cv2.resize(frame, (out_w, out_h), interpolation=cv2.INTER_LINEAR)` for an RGB (3-channel)
/// uint8 frame. The output is the input unchanged when the size already matches.
pub fn resize_linear(frame: &Frame, out_w: usize, out_h: usize) -> Frame {
    let (w, h) = (frame.width, frame.height);
    if (w, h) == (out_w, out_h) {
        return frame.clone();
    }
    let scale_x = 1.0 / (out_w as f64 / w as f64);
    let scale_y = 1.0 / (out_h as f64 / h as f64);
    let (ix, iy) = (cv_round(scale_x), cv_round(scale_y));
    let area_fast =
        (scale_x - ix as f64).abs() < f64::EPSILON && (scale_y - iy as f64).abs() < f64::EPSILON;
    if area_fast && ix == 2 && iy == 2 {
        return area_half(frame, out_w, out_h);
    }
    const CN: usize = 3;
    let src = &frame.data;
    // horizontal tables, per output column
    let mut xofs = Vec::with_capacity(out_w);
    let mut alpha = Vec::with_capacity(out_w);
    // first column whose (left-clamped) source index has no right neighbour: from there on
    // OpenCV copies S[w-1]·2048
    let mut xmax = out_w;
    for dx in 0..out_w {
        let (sx, a0, a1) = coeffs(dx, scale_x, w, true);
        if sx + 1 >= w as i64 {
            xmax = xmax.min(dx);
        }
        xofs.push(sx as usize);
        alpha.push((a0, a1));
    }
    let hresize = |y: usize, out: &mut [i32]| {
        let row = &src[y * w * CN..(y + 1) * w * CN];
        for dx in 0..out_w {
            let sx = xofs[dx] * CN;
            for c in 0..CN {
                out[dx * CN + c] = if dx < xmax {
                    let (a0, a1) = alpha[dx];
                    row[sx + c] as i32 * a0 + row[sx + CN + c] as i32 * a1
                } else {
                    row[sx + c] as i32 * (1 << COEF_BITS)
                };
            }
        }
    };
    let width = out_w * CN;
    let mut d0 = vec![0i32; width];
    let mut d1 = vec![0i32; width];
    let mut cached: [Option<usize>; 2] = [None, None];
    let mut out = vec![0u8; out_h * width];
    for dy in 0..out_h {
        let (sy, b0, b1) = coeffs(dy, scale_y, h, false);
        let r0 = sy.clamp(0, h as i64 - 1) as usize;
        let r1 = (sy + 1).clamp(0, h as i64 - 1) as usize;
        if cached[0] != Some(r0) {
            if cached[1] == Some(r0) {
                std::mem::swap(&mut d0, &mut d1);
                cached.swap(0, 1);
            } else {
                hresize(r0, &mut d0);
                cached[0] = Some(r0);
            }
        }
        if cached[1] != Some(r1) {
            hresize(r1, &mut d1);
            cached[1] = Some(r1);
        }
        let dst = &mut out[dy * width..(dy + 1) * width];
        for x in 0..width {
            // v_mul_hi of int16 lanes: the high half of the 32-bit product (arithmetic shift)
            let p0 = ((d0[x] >> 4) * b0) >> 16;
            let p1 = ((d1[x] >> 4) * b1) >> 16;
            dst[x] = ((p0 + p1 + 2) >> 2).clamp(0, 255) as u8;
        }
    }
    Frame {
        width: out_w,
        height: out_h,
        data: out,
    }
}

/// The exact-2× downscale, which OpenCV runs as `INTER_AREA` fast: the rounded mean of each
/// 2×2 block, `(a + b + c + d + 2) >> 2`.
fn area_half(frame: &Frame, out_w: usize, out_h: usize) -> Frame {
    let w = frame.width;
    let s = &frame.data;
    let mut out = Vec::with_capacity(out_w * out_h * 3);
    for dy in 0..out_h {
        let (r0, r1) = (2 * dy * w * 3, (2 * dy + 1) * w * 3);
        for dx in 0..out_w {
            for c in 0..3 {
                let i = 2 * dx * 3 + c;
                let sum = s[r0 + i] as u32
                    + s[r0 + i + 3] as u32
                    + s[r1 + i] as u32
                    + s[r1 + i + 3] as u32;
                out.push(((sum + 2) >> 2) as u8);
            }
        }
    }
    Frame {
        width: out_w,
        height: out_h,
        data: out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(w: usize, h: usize, seed: u32) -> Frame {
        let mut s = seed;
        let data = (0..w * h * 3)
            .map(|_| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (s >> 24) as u8
            })
            .collect();
        Frame {
            width: w,
            height: h,
            data,
        }
    }

    #[test]
    fn same_size_is_a_copy_and_constant_images_stay_constant() {
        let f = frame(7, 5, 1);
        assert_eq!(resize_linear(&f, 7, 5), f);
        let c = Frame {
            width: 9,
            height: 6,
            data: vec![200; 9 * 6 * 3],
        };
        for (w, h) in [(25, 17), (4, 3), (18, 12)] {
            let r = resize_linear(&c, w, h);
            assert!(r.data.iter().all(|&v| v == 200), "{w}x{h}");
        }
    }

    #[test]
    fn exact_half_is_the_rounded_block_mean() {
        let f = Frame {
            width: 2,
            height: 2,
            data: vec![0, 1, 2, 1, 1, 2, 2, 1, 2, 1, 2, 2],
        };
        let r = resize_linear(&f, 1, 1);
        // channel sums 4, 5, 8: (4+2)>>2 = 1, (5+2)>>2 = 1, (8+2)>>2 = 2
        assert_eq!(r.data, vec![1, 1, 2]);
    }
}
