//! Pure-Rust f32 image resampling that reproduces PyTorch's CPU `F.interpolate` kernels.
//!
//! Reference: ATen `native/UpSample.h` (`compute_scales_value`, `area_pixel_compute_source_index`,
//! `guard_index_and_lambda`, `compute_source_index_and_lambda`, `get_cubic_upsample_coefficients`,
//! `cubic_convolution1/2`) and `native/cpu/UpSampleKernel.cpp`
//! (`upsample_generic_Nd_kernel_impl` with `HelperInterpLinear` / `HelperInterpCubic`), as specified
//! in vbench-spec 10-frame-dims.md §1.3 (R-BL, R-BC).
//!
//! Layout: planar, contiguous `(C, H, W)` f32 buffers (a batch `(N, C, H, W)` is simply `N*C`
//! planes). Every arithmetic step is done in f32 in the order the ATen CPU kernel uses:
//! per-axis source index and weights first, then for each output pixel the W-direction sum on
//! each tap row, then the H-direction sum over those rows (`out = Σ_j wy_j · Σ_k wx_k · I`).
//! Outputs are neither rounded nor clamped.
//!
//! Bilinear sums are accumulated left to right without FMA (`acc = v0*w0 + v1*w1`).
//!
//! Bicubic follows the contraction GCC applies when it compiles ATen's
//! `upsample_generic_Nd_kernel_impl` for the AVX2/AVX512 CPU capabilities (`-mfma`,
//! `-ffp-contract=fast`), which is what torch picks on any x86-64 CPU with FMA (spec R-BC said
//! "no FMA": settled against torch 2.5.1 on this machine, bit-exact on random up- and
//! down-scales, see `tools/parity/make_bicubic_fixture.py`):
//! - source index `fma(step, d + 0.5, −0.5)` (`area_pixel_compute_source_index`);
//! - the cubic polynomials are *not* fused (they match plain f32 arithmetic);
//! - each 4-tap sum (`Interpolate<n, .., 4>::eval`: `out = t0*w0; out += t1*w1; ...` with the
//!   loop unrolled) is `fma(t0, w0, t1·w1)`, then `fma(t2, w2, ·)`, then `fma(t3, w3, ·)`:
//!   the first product is the one fused into the first addition.
//!
//! Torch builds without FMA (DEFAULT capability, non-x86 CPUs) round differently in the last
//! bit; the CUDA kernel is a different computation altogether.
//!
//! The W pass is computed once per needed input row (it does not depend on the output row), so
//! the result is bit-identical to the per-pixel formula while costing two separable passes.

use rayon::prelude::*;

/// Keys cubic coefficient used by PyTorch (`A = -0.75`; Pillow uses -0.5).
const CUBIC_A: f32 = -0.75;

/// Below this many output values per call, planes are processed sequentially.
const PAR_MIN_OUTPUT: usize = 1 << 16;

/// Per-axis interpolation plan: for each output index, `K` source indices and weights.
#[derive(Debug, Clone)]
struct Axis<const K: usize> {
    idx: Vec<[usize; K]>,
    w: Vec<[f32; K]>,
    /// The axis is an exact copy (same length, unit step); the pass is skipped.
    identity: bool,
    /// Sum the taps as ATen's FMA-contracted cubic kernel does (see the module docs).
    fused: bool,
}

/// One tap sum of `vals·wts` in the order ATen's kernel rounds it.
#[inline(always)]
fn tap_sum<const K: usize>(vals: [f32; K], wts: &[f32; K], fused: bool) -> f32 {
    if fused && K >= 2 {
        // fma(t0, w0, t1*w1), then fma(tk, wk, acc).
        let mut acc = vals[0].mul_add(wts[0], vals[1] * wts[1]);
        for k in 2..K {
            acc = vals[k].mul_add(wts[k], acc);
        }
        acc
    } else {
        let mut acc = vals[0] * wts[0];
        for k in 1..K {
            acc += vals[k] * wts[k];
        }
        acc
    }
}

/// `guard_index_and_lambda`: `i = min(floor(src), n-1)`, `t = clamp(src - i, 0, 1)`, in f32.
#[inline]
fn guard_index_and_lambda(src: f32, n: usize) -> (i64, f32) {
    let i = (src.floor() as i64).min(n as i64 - 1);
    let t = (src - i as f32).clamp(0.0, 1.0);
    (i, t)
}

/// `area_pixel_compute_source_index` with align_corners=False: `step·(d + 0.5) − 0.5` in f32.
#[inline]
fn source_index(step: f32, d: usize) -> f32 {
    step * (d as f32 + 0.5f32) - 0.5f32
}

/// Linear-interpolation plan (R-BL) for input length `n`, output length `m`, size mode.
fn linear_axis(n: usize, m: usize) -> Axis<2> {
    if m == n {
        // ATen `compute_source_index_and_lambda`: same size is a plain copy.
        return Axis {
            idx: (0..m).map(|d| [d, d]).collect(),
            w: vec![[1.0, 0.0]; m],
            identity: true,
            fused: false,
        };
    }
    let step = n as f32 / m as f32;
    let mut idx = Vec::with_capacity(m);
    let mut w = Vec::with_capacity(m);
    for d in 0..m {
        let src = source_index(step, d);
        // Linear modes clamp negative source coordinates to 0.
        let src = if src < 0.0 { 0.0 } else { src };
        let (i0, l1) = guard_index_and_lambda(src, n);
        let i0 = i0 as usize;
        let i1 = if i0 < n - 1 { i0 + 1 } else { i0 };
        idx.push([i0, i1]);
        w.push([1.0f32 - l1, l1]);
    }
    Axis {
        idx,
        w,
        identity: false,
        fused: false,
    }
}

/// `cubic_convolution1`: `((A+2)·x − (A+3))·x·x + 1`.
#[inline]
fn cubic_convolution1(x: f32, a: f32) -> f32 {
    ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
}

/// `cubic_convolution2`: `((A·x − 5A)·x + 8A)·x − 4A`.
#[inline]
fn cubic_convolution2(x: f32, a: f32) -> f32 {
    ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a
}

/// `get_cubic_upsample_coefficients` exactly as ATen writes it: the last weight is
/// `cc2((1 − t) + 1)` with `1 − t` rounded to f32 first (not `cc2(2 − t)`).
#[inline]
pub fn cubic_coefficients(t: f32) -> [f32; 4] {
    let x1 = t;
    let x2 = 1.0f32 - t;
    [
        cubic_convolution2(x1 + 1.0, CUBIC_A),
        cubic_convolution1(x1, CUBIC_A),
        cubic_convolution1(x2, CUBIC_A),
        cubic_convolution2(x2 + 1.0, CUBIC_A),
    ]
}

/// Sampling step of the bicubic kernel (R-BC).
///
/// - size mode (`scale == None`): `f32(n) / f32(m)`;
/// - scale mode (`scale == Some(sf)`, `recompute_scale_factor` unset): `f32(1.0 / sf)`, the
///   reciprocal taken in f64 and then rounded to f32 (`compute_scales_value`).
pub fn bicubic_step(n: usize, m: usize, scale: Option<f64>) -> f32 {
    match scale {
        Some(sf) if sf > 0.0 => (1.0f64 / sf) as f32,
        _ => n as f32 / m as f32,
    }
}

/// Source index `i` (may be negative) and fraction `t` of bicubic output index `d` (R-BC).
///
/// The index is `fma(step, d + 0.5, −0.5)`, as the FMA-contracted ATen kernel computes it.
pub fn bicubic_source(step: f32, n: usize, d: usize) -> (i64, f32) {
    // Cubic mode does not clamp negative source coordinates.
    guard_index_and_lambda(step.mul_add(d as f32 + 0.5f32, -0.5f32), n)
}

/// Cubic-interpolation plan (R-BC) with the given step.
fn cubic_axis(n: usize, m: usize, step: f32) -> Axis<4> {
    if m == n && step == 1.0 {
        // Weights are exactly (0, 1, 0, 0) here; skipping the pass is the same up to the sign
        // of zero (and non-finite inputs).
        return Axis {
            idx: (0..m).map(|d| [d, d, d, d]).collect(),
            w: vec![[0.0, 1.0, 0.0, 0.0]; m],
            identity: true,
            fused: true,
        };
    }
    let last = n as i64 - 1;
    let mut idx = Vec::with_capacity(m);
    let mut w = Vec::with_capacity(m);
    for d in 0..m {
        let (i, t) = bicubic_source(step, n, d);
        let taps = std::array::from_fn(|j| (i - 1 + j as i64).clamp(0, last) as usize);
        idx.push(taps);
        w.push(cubic_coefficients(t));
    }
    Axis {
        idx,
        w,
        identity: false,
        fused: true,
    }
}

/// Resample one plane with separable per-axis plans (W pass on needed rows, then H pass).
///
/// `f32::mul_add` is a correctly rounded fused multiply-add whatever the CPU, so both branches
/// give the same bits; on x86-64 CPUs with FMA the hardware instruction is used instead of a
/// libm call per tap.
fn resample_plane<const KY: usize, const KX: usize>(
    src: &[f32],
    h: usize,
    w: usize,
    ay: &Axis<KY>,
    ax: &Axis<KX>,
    out: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    if (ay.fused || ax.fused) && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU supports FMA, checked just above.
        unsafe { resample_plane_fma(src, h, w, ay, ax, out) };
        return;
    }
    resample_plane_impl(src, h, w, ay, ax, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "fma")]
unsafe fn resample_plane_fma<const KY: usize, const KX: usize>(
    src: &[f32],
    h: usize,
    w: usize,
    ay: &Axis<KY>,
    ax: &Axis<KX>,
    out: &mut [f32],
) {
    resample_plane_impl(src, h, w, ay, ax, out)
}

#[inline(always)]
fn resample_plane_impl<const KY: usize, const KX: usize>(
    src: &[f32],
    h: usize,
    w: usize,
    ay: &Axis<KY>,
    ax: &Axis<KX>,
    out: &mut [f32],
) {
    let out_w = ax.idx.len();
    let out_h = ay.idx.len();
    // W pass: tmp[y] holds the W-interpolated input row y (only rows some output row uses).
    let mut needed = vec![false; h];
    if ay.identity {
        needed.iter_mut().for_each(|n| *n = true);
    } else {
        for taps in &ay.idx {
            for &y in taps {
                needed[y] = true;
            }
        }
    }
    let mut tmp = vec![0f32; h * out_w];
    for y in 0..h {
        if !needed[y] {
            continue;
        }
        let row = &src[y * w..(y + 1) * w];
        let dst = &mut tmp[y * out_w..(y + 1) * out_w];
        if ax.identity {
            dst.copy_from_slice(row);
            continue;
        }
        for ((d, taps), wts) in dst.iter_mut().zip(&ax.idx).zip(&ax.w) {
            *d = tap_sum(taps.map(|t| row[t]), wts, ax.fused);
        }
    }
    // H pass.
    for yo in 0..out_h {
        let dst = &mut out[yo * out_w..(yo + 1) * out_w];
        if ay.identity {
            dst.copy_from_slice(&tmp[yo * out_w..(yo + 1) * out_w]);
            continue;
        }
        let taps = &ay.idx[yo];
        let wts = &ay.w[yo];
        let rows: [&[f32]; KY] = taps.map(|t| &tmp[t * out_w..(t + 1) * out_w]);
        for (x, d) in dst.iter_mut().enumerate() {
            *d = tap_sum(rows.map(|r| r[x]), wts, ay.fused);
        }
    }
}

fn resample_planes<const KY: usize, const KX: usize>(
    src: &[f32],
    c: usize,
    h: usize,
    w: usize,
    ay: &Axis<KY>,
    ax: &Axis<KX>,
) -> Vec<f32> {
    assert_eq!(
        src.len(),
        c * h * w,
        "resample: buffer of {} values is not (C={c}, H={h}, W={w})",
        src.len()
    );
    let plane_out = ay.idx.len() * ax.idx.len();
    let mut out = vec![0f32; c * plane_out];
    if plane_out == 0 || h * w == 0 {
        return out;
    }
    let run = |(ci, dst): (usize, &mut [f32])| {
        resample_plane(&src[ci * h * w..(ci + 1) * h * w], h, w, ay, ax, dst)
    };
    if c > 1 && c * plane_out >= PAR_MIN_OUTPUT {
        out.par_chunks_mut(plane_out).enumerate().for_each(run);
    } else {
        out.chunks_mut(plane_out).enumerate().for_each(run);
    }
    out
}

/// Bilinear resize of planar `(c, h, w)` f32 data to `(c, out_h, out_w)`, equal to
/// `F.interpolate(mode='bilinear', align_corners=False, antialias=False)` on the CPU (spec R-BL).
///
/// # Panics
/// If `src.len() != c*h*w`, or an input axis is empty while the output axis is not.
pub fn resize_bilinear(
    src: &[f32],
    c: usize,
    h: usize,
    w: usize,
    out_h: usize,
    out_w: usize,
) -> Vec<f32> {
    assert!(
        (h > 0 || out_h == 0) && (w > 0 || out_w == 0),
        "resize_bilinear: empty input axis"
    );
    let ay = linear_axis(h, out_h);
    let ax = linear_axis(w, out_w);
    resample_planes(src, c, h, w, &ay, &ax)
}

/// Bicubic resize of planar `(c, h, w)` f32 data to `(c, out_h, out_w)`, equal to
/// `F.interpolate(mode='bicubic', align_corners=False, antialias=False)` on the CPU (spec R-BC):
/// A = −0.75, edge-clamped taps, no output clamp.
///
/// `scale = None` is size mode (step `h/out_h`, `w/out_w` in f32). `scale = Some((sf_h, sf_w))`
/// is scale mode, as when torch is given `scale_factor` (step `f32(1/sf)`); the caller passes
/// the output size torch would compute, `floor(n · sf)`.
///
/// # Panics
/// If `src.len() != c*h*w`, or an input axis is empty while the output axis is not.
pub fn resize_bicubic(
    src: &[f32],
    c: usize,
    h: usize,
    w: usize,
    out_h: usize,
    out_w: usize,
    scale: Option<(f64, f64)>,
) -> Vec<f32> {
    assert!(
        (h > 0 || out_h == 0) && (w > 0 || out_w == 0),
        "resize_bicubic: empty input axis"
    );
    let ay = cubic_axis(h, out_h, bicubic_step(h, out_h, scale.map(|s| s.0)));
    let ax = cubic_axis(w, out_w, bicubic_step(w, out_w, scale.map(|s| s.1)));
    resample_planes(src, c, h, w, &ay, &ax)
}

/// [`resize_bilinear`] over a contiguous `(n, c, h, w)` batch.
pub fn resize_bilinear_batch(
    src: &[f32],
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    out_h: usize,
    out_w: usize,
) -> Vec<f32> {
    resize_bilinear(src, n * c, h, w, out_h, out_w)
}

/// [`resize_bicubic`] over a contiguous `(n, c, h, w)` batch.
#[allow(clippy::too_many_arguments)]
pub fn resize_bicubic_batch(
    src: &[f32],
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    out_h: usize,
    out_w: usize,
    scale: Option<(f64, f64)>,
) -> Vec<f32> {
    resize_bicubic(src, n * c, h, w, out_h, out_w, scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// I[y][x] = 10·y + x on one plane (bilinear reproduces it exactly up to rounding).
    fn ramp(h: usize, w: usize) -> Vec<f32> {
        (0..h)
            .flat_map(|y| (0..w).map(move |x| (10 * y + x) as f32))
            .collect()
    }

    /// Literal per-pixel R-BL from the spec, used as an independent oracle.
    fn bilinear_naive(src: &[f32], h: usize, w: usize, oh: usize, ow: usize) -> Vec<f32> {
        let coord = |n: usize, m: usize, d: usize| -> (usize, usize, f32, f32) {
            if n == m {
                return (d, d, 1.0, 0.0);
            }
            let s = n as f32 / m as f32;
            let src = (s * (d as f32 + 0.5) - 0.5).max(0.0);
            let i0 = (src.floor() as usize).min(n - 1);
            let l1 = (src - i0 as f32).clamp(0.0, 1.0);
            let i1 = if i0 < n - 1 { i0 + 1 } else { i0 };
            (i0, i1, 1.0 - l1, l1)
        };
        let mut out = Vec::new();
        for yo in 0..oh {
            let (y0, y1, ly0, ly1) = coord(h, oh, yo);
            for xo in 0..ow {
                let (x0, x1, lx0, lx1) = coord(w, ow, xo);
                let i = |y: usize, x: usize| src[y * w + x];
                out.push(
                    ly0 * (lx0 * i(y0, x0) + lx1 * i(y0, x1))
                        + ly1 * (lx0 * i(y1, x0) + lx1 * i(y1, x1)),
                );
            }
        }
        out
    }

    /// Literal per-pixel R-BC from the spec (with ATen's `(1−t)+1` for w3), with the FMA
    /// contraction of torch's compiled kernel (module docs).
    fn bicubic_naive(
        src: &[f32],
        h: usize,
        w: usize,
        oh: usize,
        ow: usize,
        sy: f32,
        sx: f32,
    ) -> Vec<f32> {
        let taps = |n: usize, s: f32, d: usize| -> ([usize; 4], [f32; 4]) {
            let src = s.mul_add(d as f32 + 0.5, -0.5);
            let i = (src.floor() as i64).min(n as i64 - 1);
            let t = (src - i as f32).clamp(0.0, 1.0);
            let idx = [0, 1, 2, 3].map(|j| (i - 1 + j).clamp(0, n as i64 - 1) as usize);
            (idx, cubic_coefficients(t))
        };
        let mut out = Vec::new();
        for yo in 0..oh {
            let (iy, wy) = taps(h, sy, yo);
            for xo in 0..ow {
                let (ix, wx) = taps(w, sx, xo);
                let inner = |j: usize| {
                    let v = |k: usize| src[iy[j] * w + ix[k]];
                    let a = v(0).mul_add(wx[0], v(1) * wx[1]);
                    let a = v(2).mul_add(wx[2], a);
                    v(3).mul_add(wx[3], a)
                };
                let acc = inner(0).mul_add(wy[0], inner(1) * wy[1]);
                let acc = inner(2).mul_add(wy[2], acc);
                out.push(inner(3).mul_add(wy[3], acc));
            }
        }
        out
    }

    fn pseudo_random(len: usize, seed: u32) -> Vec<f32> {
        let mut s = seed;
        (0..len)
            .map(|_| {
                s = s.wrapping_mul(1664525).wrapping_add(1013904223);
                (s >> 8) as f32 / (1u32 << 24) as f32 * 255.0
            })
            .collect()
    }

    #[test]
    fn bilinear_4x4_to_3x5_hand_computed() {
        // H: s = 4/3 → src = 0.1666667, 1.5, 2.8333335 (i0 = 0, 1, 2).
        // W: s = 0.8 → src = max(0,-0.1)=0, 0.7, 1.5, 2.3, 3.1 (last: i0 = i1 = 3).
        // On the ramp 10y + x the result is 10·ys + xs, with xs = 3 at the clamped edge.
        let out = resize_bilinear(&ramp(4, 4), 1, 4, 4, 3, 5);
        let ys = [1.0f32 / 6.0, 1.5, 2.833_333_3];
        let xs = [0.0f32, 0.7, 1.5, 2.3, 3.0];
        for (yo, &y) in ys.iter().enumerate() {
            for (xo, &x) in xs.iter().enumerate() {
                let got = out[yo * 5 + xo];
                let want = 10.0 * y + x;
                assert!((got - want).abs() < 1e-4, "({yo},{xo}): {got} vs {want}");
            }
        }
        // Exact spot values: (0,0) = λ0y·0 + λ1y·10 with λ1y = f32(4/3)·0.5 − 0.5.
        let l1 = (4.0f32 / 3.0) * 0.5 - 0.5;
        assert_eq!(out[0], (1.0 - l1) * 0.0 + l1 * 10.0);
    }

    #[test]
    fn bilinear_matches_literal_formula_bitwise() {
        for &(h, w, oh, ow) in &[
            (4, 4, 3, 5),
            (17, 23, 9, 31),
            (30, 40, 30, 11),
            (5, 7, 12, 7),
        ] {
            let src = pseudo_random(h * w, (h * 131 + w) as u32);
            let fast = resize_bilinear(&src, 1, h, w, oh, ow);
            let slow = bilinear_naive(&src, h, w, oh, ow);
            assert_eq!(fast, slow, "{h}x{w} -> {oh}x{ow}");
        }
    }

    #[test]
    fn bicubic_matches_literal_formula_bitwise() {
        for &(h, w, oh, ow) in &[
            (4, 4, 3, 5),
            (17, 23, 9, 31),
            (30, 40, 30, 11),
            (5, 7, 12, 7),
        ] {
            let src = pseudo_random(h * w, (h * 7 + w) as u32);
            let fast = resize_bicubic(&src, 1, h, w, oh, ow, None);
            let sy = h as f32 / oh as f32;
            let sx = w as f32 / ow as f32;
            let slow = bicubic_naive(&src, h, w, oh, ow, sy, sx);
            for (a, b) in fast.iter().zip(&slow) {
                // Identity axes skip the pass; equal up to the sign of zero.
                assert!(a == b, "{h}x{w} -> {oh}x{ow}: {a} vs {b}");
            }
        }
        // Scale mode.
        let src = pseudo_random(14 * 14, 3);
        let (sfh, sfw) = (14.1f64 / 14.0, 22.1f64 / 14.0);
        let fast = resize_bicubic(&src, 1, 14, 14, 14, 22, Some((sfh, sfw)));
        let slow = bicubic_naive(&src, 14, 14, 14, 22, (1.0 / sfh) as f32, (1.0 / sfw) as f32);
        assert_eq!(fast, slow);
    }

    #[test]
    fn identity_sizes_are_exact_copies() {
        let src = pseudo_random(3 * 6 * 9, 11);
        assert_eq!(resize_bilinear(&src, 3, 6, 9, 6, 9), src);
        assert_eq!(resize_bicubic(&src, 3, 6, 9, 6, 9, None), src);
        assert_eq!(resize_bicubic(&src, 3, 6, 9, 6, 9, Some((1.0, 1.0))), src);
    }

    #[test]
    fn identity_on_one_axis_only_resamples_the_other() {
        let src = pseudo_random(6 * 9, 5);
        let out = resize_bilinear(&src, 1, 6, 9, 6, 4);
        for y in 0..6 {
            let row = resize_bilinear(&src[y * 9..(y + 1) * 9], 1, 1, 9, 1, 4);
            assert_eq!(&out[y * 4..(y + 1) * 4], &row[..]);
        }
    }

    #[test]
    fn cubic_coefficients_values() {
        // t = 0: (0, 1, 0, 0) exactly; t = 0.5: (-0.09375, 0.59375, 0.59375, -0.09375).
        assert_eq!(cubic_coefficients(0.0), [0.0, 1.0, 0.0, 0.0]);
        assert_eq!(
            cubic_coefficients(0.5),
            [-0.09375, 0.59375, 0.59375, -0.09375]
        );
        let w = cubic_coefficients(0.3);
        assert!((w.iter().sum::<f32>() - 1.0).abs() < 1e-6);
    }

    #[test]
    fn bicubic_1d_hand_computed() {
        // n = 4 → m = 8: step 0.5. Input [0, 1, 4, 9].
        // d = 0: src = −0.25 → i = −1, t = 0.75, taps (0, 0, 0, 1),
        //   w = (−0.03515625, 0.26171875, 0.87890625, −0.10546875) → −0.10546875.
        // d = 1: src = 0.25 → i = 0, t = 0.25, taps (0, 0, 1, 2),
        //   w = (−0.10546875, 0.87890625, 0.26171875, −0.03515625) → 0.26171875 − 0.140625.
        // d = 7: src = 3.25 → i = 3, t = 0.25 → taps (2, 3, 3, 3) → 4·w0 + 9·(w1 + w2 + w3).
        assert_eq!(
            cubic_coefficients(0.25),
            [-0.10546875, 0.87890625, 0.26171875, -0.03515625]
        );
        let src = [0f32, 1., 4., 9.];
        let out = resize_bicubic(&src, 1, 1, 4, 1, 8, None);
        assert_eq!(out[0], -0.10546875);
        assert_eq!(out[1], 0.12109375);
        let want7 = 9.0f32.mul_add(
            -0.03515625,
            9.0f32.mul_add(0.26171875, 4.0f32.mul_add(-0.10546875, 9.0 * 0.87890625)),
        );
        assert_eq!(out[7], want7);
        // Constants are reproduced.
        let flat = vec![3.5f32; 5 * 6];
        for v in resize_bicubic(&flat, 1, 5, 6, 9, 4, None) {
            assert!((v - 3.5).abs() < 1e-5, "{v}");
        }
    }

    #[test]
    fn bicubic_overshoot_is_not_clamped() {
        // A step edge upsampled with A = -0.75 rings below 0 and above 255.
        let src: Vec<f32> = (0..8).map(|x| if x < 4 { 0.0 } else { 255.0 }).collect();
        let out = resize_bicubic(&src, 1, 1, 8, 1, 16, None);
        assert!(out.iter().any(|&v| v < 0.0));
        assert!(out.iter().any(|&v| v > 255.0));
    }

    #[test]
    fn dino_pos_embed_steps_worked_example() {
        // Spec §8.1.3 / §11.1: grid (14, 22) → steps (0.99290782, 0.63348418) in f32.
        let sf_h = (14.0f64 + 0.1) / 14.0;
        let sf_w = (22.0f64 + 0.1) / 14.0;
        assert_eq!((14.0 * sf_h).floor() as usize, 14);
        assert_eq!((14.0 * sf_w).floor() as usize, 22);
        let sh = bicubic_step(14, 14, Some(sf_h));
        let sw = bicubic_step(14, 22, Some(sf_w));
        // An f32 ulp here is ~6e-8, so 1e-8 pins the exact f32 the spec prints.
        let close = |a: f32, b: f64| ((a as f64) - b).abs() < 1e-8;
        assert!(close(sh, 0.99290782) && close(sw, 0.63348418), "{sh} {sw}");
        // Other rows of the table in §11.1.
        assert!(close(bicubic_step(14, 24, Some(24.1 / 14.0)), 0.58091289));
        assert!(close(bicubic_step(14, 21, Some(21.1 / 14.0)), 0.66350710));
        assert!(close(bicubic_step(14, 18, Some(18.1 / 14.0)), 0.77348065));
        // Not 14/g.
        assert_ne!(sw, bicubic_step(14, 22, None));
        // Row 0: src = −0.003546, i = −1, t = 0.996454, taps clamp to (0, 0, 0, 1).
        let (i, t) = bicubic_source(sh, 14, 0);
        assert_eq!(i, -1);
        assert!((t - 0.996454).abs() < 1e-6, "{t}");
        let ay = cubic_axis(14, 14, sh);
        assert!(!ay.identity, "a 14-long axis is still resampled");
        assert_eq!(ay.idx[0], [0, 0, 0, 1]);
    }

    #[test]
    fn batch_helper_equals_per_image() {
        let src = pseudo_random(2 * 3 * 10 * 13, 9);
        let all = resize_bicubic_batch(&src, 2, 3, 10, 13, 7, 20, None);
        let one = resize_bicubic(&src[3 * 130..], 3, 10, 13, 7, 20, None);
        assert_eq!(&all[3 * 140..], &one[..]);
        let all = resize_bilinear_batch(&src, 2, 3, 10, 13, 7, 20);
        let one = resize_bilinear(&src[..3 * 130], 3, 10, 13, 7, 20);
        assert_eq!(&all[..3 * 140], &one[..]);
    }

    #[derive(serde::Deserialize)]
    struct TorchCase {
        c: usize,
        h: usize,
        w: usize,
        out_h: usize,
        out_w: usize,
        scale: Option<(f64, f64)>,
        u8: bool,
        input: Vec<f32>,
        output_bits: Vec<u32>,
    }

    #[derive(serde::Deserialize)]
    struct TorchFixture {
        cases: Vec<TorchCase>,
    }

    /// Compares every case bit for bit; returns (values, mismatches) and prints the first few.
    fn check_torch_cases(json: &str) -> (usize, usize) {
        let fx: TorchFixture = serde_json::from_str(json).expect("fixture parses");
        let (mut n, mut bad) = (0, 0);
        for (ci, c) in fx.cases.iter().enumerate() {
            let mut out = resize_bicubic(&c.input, c.c, c.h, c.w, c.out_h, c.out_w, c.scale);
            if c.u8 {
                // torchvision: clamp to [0, 255], round half to even, cast to uint8.
                out.iter_mut()
                    .for_each(|v| *v = v.clamp(0.0, 255.0).round_ties_even());
            }
            assert_eq!(out.len(), c.output_bits.len(), "case {ci}: output size");
            for (i, (&got, &want)) in out.iter().zip(&c.output_bits).enumerate() {
                n += 1;
                if got.to_bits() != want {
                    bad += 1;
                    if bad <= 5 {
                        eprintln!(
                            "case {ci} ({}x{} -> {}x{}) value {i}: {got} vs torch {}",
                            c.h,
                            c.w,
                            c.out_h,
                            c.out_w,
                            f32::from_bits(want)
                        );
                    }
                }
            }
        }
        (n, bad)
    }

    /// torch 2.5.1 CPU outputs (tools/parity/make_bicubic_fixture.py): bit-exact.
    #[test]
    fn bicubic_matches_torch_bitwise() {
        let (n, bad) = check_torch_cases(include_str!("../../testdata/bicubic_torch.json"));
        assert!(n > 1000);
        assert_eq!(bad, 0, "{bad} of {n} values differ from torch");
    }

    /// The same on many random sizes: `make_bicubic_fixture.py --big PATH`, then
    /// `VBENCH_BICUBIC_BIG=PATH cargo test -p vbench-models --lib bicubic_matches_torch_big -- --ignored`.
    #[test]
    #[ignore]
    fn bicubic_matches_torch_big() {
        let path = std::env::var("VBENCH_BICUBIC_BIG").expect("set VBENCH_BICUBIC_BIG");
        let json = std::fs::read_to_string(path).expect("read the fixture");
        let (n, bad) = check_torch_cases(&json);
        eprintln!("{n} values, {bad} differ");
        assert_eq!(bad, 0, "{bad} of {n} values differ from torch");
    }

    #[test]
    fn fma_dispatch_equals_the_portable_path() {
        let (h, w, oh, ow) = (23, 31, 50, 17);
        let src = pseudo_random(h * w, 77);
        let ay = cubic_axis(h, oh, bicubic_step(h, oh, None));
        let ax = cubic_axis(w, ow, bicubic_step(w, ow, None));
        let mut a = vec![0f32; oh * ow];
        let mut b = vec![0f32; oh * ow];
        resample_plane(&src, h, w, &ay, &ax, &mut a);
        resample_plane_impl(&src, h, w, &ay, &ax, &mut b);
        assert_eq!(a, b);
    }

    #[test]
    fn large_parallel_path_equals_sequential() {
        let (c, h, w, oh, ow) = (4, 120, 200, 100, 180);
        let src = pseudo_random(c * h * w, 21);
        let par = resize_bilinear(&src, c, h, w, oh, ow);
        for ci in 0..c {
            let one = resize_bilinear(&src[ci * h * w..(ci + 1) * h * w], 1, h, w, oh, ow);
            assert_eq!(&par[ci * oh * ow..(ci + 1) * oh * ow], &one[..]);
        }
    }
}
