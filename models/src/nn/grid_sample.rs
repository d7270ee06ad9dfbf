//! `torch.nn.functional.grid_sample` with `mode='bilinear'`, written with candle tensor ops
//! (gather / index_select), so it runs on every backend.
//!
//! Arithmetic follows ATen's vectorised CPU kernel (`native/cpu/GridSamplerKernel.cpp`,
//! `ComputeLocationBase::unnormalize` and `ApplyGridSample<..., Bilinear, ...>::forward`), the
//! path PyTorch takes for 2-D f32 inputs, all in f32:
//! - unnormalise: `ix = (gx + 1) · ((W − 1)/2)` (align_corners) or `(gx + 1) · (W/2) − 0.5`;
//! - border padding clamps `ix` to `[0, W − 1]` (zeros padding does not clamp);
//! - `x0 = floor(ix)`, `wx = ix − x0`, corner weights `nw = (1−wy)(1−wx)`, `ne = (1−wy)·wx`,
//!   `sw = wy·(1−wx)`, `se = wy·wx`; a corner outside the input contributes 0;
//! - `out = nw·v_nw + ne·v_ne + sw·v_sw + se·v_se`, summed in that order.
//!
//! Spec: vbench-spec 20-motion.md §8.1, §8.2.

use candle_core::{DType, Tensor, D};

/// `padding_mode` of `grid_sample`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GridPadding {
    Zeros,
    Border,
}

/// torch.nn.functional.grid_sample(input, grid, mode='bilinear', padding_mode, align_corners)
/// input (N,C,H,W), grid (N,Ho,Wo,2) normalised x,y in [-1,1] → (N,C,Ho,Wo)
pub fn grid_sample_bilinear(
    input: &Tensor,
    grid: &Tensor,
    padding: GridPadding,
    align_corners: bool,
) -> candle_core::Result<Tensor> {
    let (n, c, h, w) = input.dims4()?;
    let (gn, ho, wo, two) = grid.dims4()?;
    if gn != n || two != 2 {
        candle_core::bail!(
            "grid_sample: grid {:?} does not fit input {:?}",
            grid.dims(),
            input.dims()
        );
    }
    let grid = grid.to_dtype(input.dtype())?;
    let gx = grid.narrow(D::Minus1, 0, 1)?.squeeze(D::Minus1)?;
    let gy = grid.narrow(D::Minus1, 1, 1)?.squeeze(D::Minus1)?;
    let ix = unnormalize(&gx, w, padding, align_corners)?;
    let iy = unnormalize(&gy, h, padding, align_corners)?;

    let x0 = ix.floor()?;
    let y0 = iy.floor()?;
    let wx = (&ix - &x0)?;
    let wy = (&iy - &y0)?;
    let ex = wx.affine(-1.0, 1.0)?; // 1 − wx
    let sy = wy.affine(-1.0, 1.0)?; // 1 − wy
    let corners = [
        (&x0, &y0, (&sy * &ex)?, 0.0, 0.0),
        (&x0, &y0, (&sy * &wx)?, 1.0, 0.0),
        (&x0, &y0, (&wy * &ex)?, 0.0, 1.0),
        (&x0, &y0, (&wy * &wx)?, 1.0, 1.0),
    ];
    let flat = input.reshape((n, c, h * w))?;
    let p = ho * wo;
    let mut out: Option<Tensor> = None;
    for (x0, y0, weight, dx, dy) in corners {
        let xc = x0.affine(1.0, dx)?;
        let yc = y0.affine(1.0, dy)?;
        // in-bounds mask (always true for border padding after the clamp, but the +1 corner
        // may still be at W when the weight is 0)
        let inside = xc
            .ge(0.0)?
            .mul(&xc.le((w - 1) as f64)?)?
            .mul(&yc.ge(0.0)?.mul(&yc.le((h - 1) as f64)?)?)?;
        let weight = weight.mul(&inside.to_dtype(weight.dtype())?)?;
        let xi = xc.clamp(0.0, (w - 1) as f64)?;
        let yi = yc.clamp(0.0, (h - 1) as f64)?;
        let idx = (yi.affine(w as f64, 0.0)? + xi)?
            .to_dtype(DType::U32)?
            .reshape((n, 1, p))?;
        let vals = gather_flat(&flat, &idx)?; // (n, c, p)
        let term = vals.broadcast_mul(&weight.reshape((n, 1, p))?)?;
        out = Some(match out {
            None => term,
            Some(acc) => (acc + term)?,
        });
    }
    out.expect("four corners")
        .reshape((n, c, ho, wo))?
        .contiguous()
}

/// Grid coordinate → pixel coordinate (ATen `ComputeLocation`), border-clamped if asked.
fn unnormalize(
    g: &Tensor,
    size: usize,
    padding: GridPadding,
    align_corners: bool,
) -> candle_core::Result<Tensor> {
    let g1 = g.affine(1.0, 1.0)?;
    let pos = if align_corners {
        let sf = ((size - 1) as f32 / 2.0) as f64;
        g1.affine(sf, 0.0)?
    } else {
        let sf = (size as f32 / 2.0) as f64;
        g1.affine(sf, -0.5)?
    };
    match padding {
        GridPadding::Zeros => Ok(pos),
        // `clip_coordinates`: min(max(x, 0), size − 1); NaN stays NaN in ATen, here too
        GridPadding::Border => pos.clamp(0.0, (size - 1) as f64),
    }
}

/// `flat (n, c, hw)` at `idx (n, 1, p)` → `(n, c, p)`.
fn gather_flat(flat: &Tensor, idx: &Tensor) -> candle_core::Result<Tensor> {
    let (n, c, _) = flat.dims3()?;
    let p = idx.dim(2)?;
    if c == 1 {
        return flat.contiguous()?.gather(idx, 2);
    }
    if n == 1 {
        return flat.index_select(&idx.reshape(p)?, 2);
    }
    let parts = (0..n)
        .map(|i| {
            flat.narrow(0, i, 1)?
                .index_select(&idx.narrow(0, i, 1)?.reshape(p)?, 2)
        })
        .collect::<candle_core::Result<Vec<_>>>()?;
    Tensor::cat(&parts, 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn input() -> Tensor {
        // (2, 2, 3, 4): both samples hold 0..24
        Tensor::arange(0f32, 24f32, &Device::Cpu)
            .unwrap()
            .reshape((1, 2, 3, 4))
            .unwrap()
            .repeat((2, 1, 1, 1))
            .unwrap()
            .contiguous()
            .unwrap()
    }

    fn grid() -> Tensor {
        // (2, 1, 3, 2): points inside, partly outside and far outside
        let g: Vec<f32> = vec![
            -0.3, 0.2, 1.1, -0.9, -1.4, 1.3, // batch 0
            0.25, -0.75, 0.9, 0.95, -2.0, 0.0, // batch 1
        ];
        Tensor::from_vec(g, (2, 1, 3, 2), &Device::Cpu).unwrap()
    }

    fn check(padding: GridPadding, align: bool, want: &[f32]) {
        let got: Vec<f32> = grid_sample_bilinear(&input(), &grid(), padding, align)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        assert_eq!(got.len(), want.len());
        for (a, b) in got.iter().zip(want) {
            assert!(
                (a - b).abs() < 1e-5,
                "{padding:?} {align}: {got:?} vs {want:?}"
            );
        }
    }

    /// Expected values printed by torch 2.5.1 (CPU):
    /// `F.grid_sample(torch.arange(24.).reshape(1,2,3,4).repeat(2,1,1,1), grid,
    /// mode='bilinear', padding_mode=..., align_corners=...)` with the grid above.
    #[test]
    fn grid_sample_matches_pytorch() {
        check(
            GridPadding::Zeros,
            true,
            &[
                5.85, 2.890001, 2.24, 17.85, 13.090002, 5.6, 2.875, 10.65, 0.0, 14.875, 22.65, 0.0,
            ],
        );
        check(
            GridPadding::Border,
            true,
            &[
                5.85, 3.4, 8.0, 17.85, 15.400001, 20.0, 2.875, 10.65, 4.0, 14.875, 22.65, 16.0,
            ],
        );
        check(
            GridPadding::Zeros,
            false,
            &[
                6.1, 0.585, 0.0, 18.1, 2.925002, 0.0, 1.75, 4.427499, 0.0, 12.25, 9.257498, 0.0,
            ],
        );
        check(
            GridPadding::Border,
            false,
            &[
                6.1, 3.0, 8.0, 18.1, 15.0, 20.0, 2.0, 11.0, 4.0, 14.0, 23.0, 16.0,
            ],
        );
    }
}
