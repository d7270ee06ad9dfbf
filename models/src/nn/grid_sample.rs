//! `torch.nn.functional.grid_sample(input, grid, mode='bilinear', padding_mode, align_corners)`
//! for 4-D inputs, built from candle tensor ops (gathers), so it runs on every backend.
//!
//! Semantics follow PyTorch's CPU kernel (`aten/src/ATen/native/cpu/GridSamplerKernel.cpp`,
//! `ComputeLocationBase` / `ApplyGridSample<…, Bilinear, …>`), spec 20-motion.md §8.1–8.2:
//!
//! * unnormalise: `align_corners=true`: `ix = (gx + 1) · ((W − 1)/2)`;
//!   `align_corners=false`: `ix = (gx + 1) · (W/2) − 0.5` (same for y with H), in f32;
//! * `Border` padding clamps `ix` to `[0, W−1]` (`iy` to `[0, H−1]`) before sampling;
//! * `x0 = floor(ix)`, `w = ix − x0`, `e = 1 − w` (`n`, `s` for y); corner weights
//!   `nw = s·e, ne = s·w, sw = n·e, se = n·w`;
//! * `Zeros` padding: a corner outside the input contributes 0;
//! * `out = ((nw_val·nw + ne_val·ne) + sw_val·sw) + se_val·se`, in that order.
//!
//! A NaN coordinate yields NaN (as in PyTorch: a masked corner value 0 times a NaN weight).

use candle_core::{DType, Result, Tensor, D};

/// `padding_mode` of `grid_sample` (reflection is not needed by VBench's networks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GridPadding {
    /// Taps outside the input read 0.
    Zeros,
    /// Coordinates are clamped into the input first.
    Border,
}

/// One axis: unnormalised, padded source coordinate → (index of the lower tap, index of the
/// upper tap, both clamped into `[0, size−1]`; in-bounds masks of both as f32; fractional part).
struct AxisTaps {
    lo: Tensor,
    hi: Tensor,
    lo_ok: Tensor,
    hi_ok: Tensor,
    frac: Tensor,
}

fn axis_taps(
    coord: &Tensor,
    size: usize,
    padding: GridPadding,
    align_corners: bool,
) -> Result<AxisTaps> {
    let max = (size - 1) as f64;
    let c = if align_corners {
        let scale = ((size - 1) as f32 / 2.0) as f64;
        ((coord + 1.0)? * scale)?
    } else {
        let scale = (size as f32 / 2.0) as f64;
        (((coord + 1.0)? * scale)? - 0.5)?
    };
    let c = match padding {
        // `minimum(max_val, maximum(in, 0))`
        GridPadding::Border => c.maximum(0f32)?.minimum(max as f32)?,
        GridPadding::Zeros => c,
    };
    let lo_f = c.floor()?;
    let frac = (&c - &lo_f)?;
    // NaN coordinates: any index will do (the weight is NaN), but keep the gather in range.
    let finite = c.eq(&c)?;
    let lo_f = finite.where_cond(&lo_f, &lo_f.zeros_like()?)?;
    let hi_f = (&lo_f + 1.0)?;
    let in_range = |t: &Tensor| -> Result<Tensor> {
        t.ge(0f32)?
            .to_dtype(DType::F32)?
            .mul(&t.le(max as f32)?.to_dtype(DType::F32)?)
    };
    let lo_ok = in_range(&lo_f)?;
    let hi_ok = in_range(&hi_f)?;
    let clamp = |t: &Tensor| -> Result<Tensor> {
        t.maximum(0f32)?.minimum(max as f32)?.to_dtype(DType::U32)
    };
    Ok(AxisTaps {
        lo: clamp(&lo_f)?,
        hi: clamp(&hi_f)?,
        lo_ok,
        hi_ok,
        frac,
    })
}

/// `torch.nn.functional.grid_sample(input, grid, mode='bilinear', padding_mode, align_corners)`.
///
/// `input` (N, C, H, W) f32, `grid` (N, Ho, Wo, 2) f32 with `grid[..., 0] = x` (width axis) and
/// `grid[..., 1] = y`, normalised to [-1, 1] (values outside are allowed) → (N, C, Ho, Wo).
pub fn grid_sample_bilinear(
    input: &Tensor,
    grid: &Tensor,
    padding: GridPadding,
    align_corners: bool,
) -> Result<Tensor> {
    let (n, c, h, w) = input.dims4()?;
    let (gn, ho, wo, two) = grid.dims4()?;
    if gn != n || two != 2 {
        candle_core::bail!(
            "grid_sample: input {:?} and grid {:?} do not match (grid must be (N, Ho, Wo, 2))",
            input.dims(),
            grid.dims()
        );
    }
    if h == 0 || w == 0 {
        candle_core::bail!("grid_sample: empty input {:?}", input.dims());
    }
    let m = ho * wo;
    let grid = grid.reshape((n, m, 2))?;
    let gx = grid.narrow(D::Minus1, 0, 1)?.squeeze(D::Minus1)?;
    let gy = grid.narrow(D::Minus1, 1, 1)?.squeeze(D::Minus1)?;
    let x = axis_taps(&gx, w, padding, align_corners)?;
    let y = axis_taps(&gy, h, padding, align_corners)?;

    // distances to each side, then the corner weights (PyTorch's order)
    let e = (1.0 - &x.frac)?;
    let s = (1.0 - &y.frac)?;
    let (wgt_nw, wgt_ne) = ((&s * &e)?, (&s * &x.frac)?);
    let (wgt_sw, wgt_se) = ((&y.frac * &e)?, (&y.frac * &x.frac)?);

    let flat = input.reshape((n, c, h * w))?;
    let w_t = Tensor::new(w as u32, input.device())?;
    let corner = |yi: &Tensor, xi: &Tensor, yok: &Tensor, xok: &Tensor, wgt: Tensor| {
        let idx = yi.broadcast_mul(&w_t)?.add(xi)?; // (n, m)
        let idx = idx.unsqueeze(1)?.expand((n, c, m))?.contiguous()?;
        let vals = flat.gather(&idx, 2)?; // (n, c, m)
        let vals = match padding {
            // out-of-range corners read 0 (value masked, weight kept: NaN·0 stays NaN)
            GridPadding::Zeros => vals.broadcast_mul(&(yok * xok)?.unsqueeze(1)?)?,
            GridPadding::Border => vals,
        };
        vals.broadcast_mul(&wgt.unsqueeze(1)?)
    };
    let out = corner(&y.lo, &x.lo, &y.lo_ok, &x.lo_ok, wgt_nw)?;
    let out = (out + corner(&y.lo, &x.hi, &y.lo_ok, &x.hi_ok, wgt_ne)?)?;
    let out = (out + corner(&y.hi, &x.lo, &y.hi_ok, &x.lo_ok, wgt_sw)?)?;
    let out = (out + corner(&y.hi, &x.hi, &y.hi_ok, &x.hi_ok, wgt_se)?)?;
    out.reshape((n, c, ho, wo))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn fixture() -> std::collections::HashMap<String, Tensor> {
        let p = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/fixtures/parity_raft/grid_sample.safetensors"
        );
        candle_core::safetensors::load(p, &Device::Cpu).expect("grid_sample fixture")
    }

    /// Every case of the fixture (made by `tools/parity/make_fixtures_raft.py` with PyTorch 2.5.1:
    /// random inputs, grids reaching 30 % beyond the borders, exact corner/border hits).
    #[test]
    fn grid_sample_matches_pytorch_fixture() {
        let t = fixture();
        let mut cases = 0;
        for (mode, padding) in [
            ("zeros", GridPadding::Zeros),
            ("border", GridPadding::Border),
        ] {
            for ac in [true, false] {
                for case in 0..3 {
                    let key = |k: &str| format!("{k}/{case}");
                    let out_key = format!("out_{mode}_{}/{case}", if ac { "ac" } else { "nac" });
                    let got =
                        grid_sample_bilinear(&t[&key("input")], &t[&key("grid")], padding, ac)
                            .unwrap();
                    let want = &t[&out_key];
                    assert_eq!(got.dims(), want.dims(), "{out_key}");
                    let d: f32 = (got - want)
                        .unwrap()
                        .abs()
                        .unwrap()
                        .flatten_all()
                        .unwrap()
                        .max(0)
                        .unwrap()
                        .to_scalar()
                        .unwrap();
                    assert!(d <= 1e-5, "{out_key}: max diff {d}");
                    cases += 1;
                }
            }
        }
        assert_eq!(cases, 12);
    }

    #[test]
    fn grid_sample_exact_pixels_and_zero_outside() {
        let dev = Device::Cpu;
        let input = Tensor::arange(0f32, 12., &dev)
            .unwrap()
            .reshape((1, 1, 3, 4))
            .unwrap();
        // align_corners: -1 → pixel 0, 1 → last pixel; x = 1/3 → pixel 2 of 4
        let grid = Tensor::new(
            &[[[[-1f32, -1.], [1., 1.], [1.0 / 3.0, 0.], [3.0, 0.]]]],
            &dev,
        )
        .unwrap();
        let z = grid_sample_bilinear(&input, &grid, GridPadding::Zeros, true)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert!((z[0] - 0.0).abs() < 1e-6 && (z[1] - 11.0).abs() < 1e-6);
        assert!((z[2] - 6.0).abs() < 1e-5, "{z:?}");
        assert_eq!(z[3], 0.0);
        let b = grid_sample_bilinear(&input, &grid, GridPadding::Border, true)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert!((b[3] - 7.0).abs() < 1e-6, "{b:?}");
        let nan = Tensor::new(&[[[[f32::NAN, 0f32]]]], &dev).unwrap();
        let r = grid_sample_bilinear(&input, &nan, GridPadding::Zeros, true)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert!(r[0].is_nan());
        assert!(grid_sample_bilinear(&input, &input, GridPadding::Zeros, true).is_err());
    }
}
