//! `nn.Conv2d` forward (groups 1, dilation 1, zero padding per axis, any stride) as explicit
//! im2col + one matmul per band of output rows, built from candle tensor ops only (narrow,
//! stack, matmul), so it runs on every backend.
//!
//! Why not `Tensor::conv2d`: candle 0.11's CPU kernel builds its im2col tiles pixel by pixel
//! from an NHWC copy and scatters every output value back to NCHW; at RAFT/AMT sizes that
//! bookkeeping took more time than the gemm itself (57 % against 26 % of a RAFT pair). Here the
//! column matrix is a stack of shifted views of the padded input (`(C·kh·kw, rows·Wo)`, row
//! index `c·kh·kw + i·kw + j` as PyTorch's weight layout flattens), the product
//! `W (Cout, C·kh·kw) @ cols` comes out in NCHW directly, and the column matrix never exceeds
//! [`BAND_BYTES`] (the output is computed in horizontal bands of whole rows), so memory stays
//! bounded at any frame size.
//!
//! Stride s > 1 without strided views: the padded input is split once into its s² phase planes
//! `x[.., a::s, b::s]` (a reshape to `(.., H/s, s, W/s, s)` and a narrow); tap `(i, j)` is then the
//! plane `(i mod s, j mod s)` shifted by `(i div s, j div s)`.
//!
//! Results equal PyTorch's conv to float rounding (a sum of `C·kh·kw` products in another
//! order); they do not depend on the band height.

use candle_core::{Result, Tensor};

/// Upper bound on one band's column matrix (f32 bytes); a band is at least one output row.
/// 16 MB rather than more: glibc serves blocks below its 32 MB mmap ceiling from the heap and
/// reuses them, larger ones are mapped and zero-filled anew every time (AMT-S 512²: 0.5 s of
/// system time per frame at 16 MB against 1.9 s at 64 MB, same user time).
pub const BAND_BYTES: usize = 16 << 20;

/// Weights of one convolution, pre-flattened for the matmul.
#[derive(Debug, Clone)]
pub struct Conv2d {
    /// (Cout, Cin·kh·kw), contiguous.
    wmat: Tensor,
    /// (1, Cout, 1, 1).
    bias: Option<Tensor>,
    cin: usize,
    cout: usize,
    k: (usize, usize),
    stride: usize,
    pad: (usize, usize),
}

impl Conv2d {
    /// `weight` (Cout, Cin, kh, kw) as PyTorch stores it, `bias` (Cout); `pad` = (rows, cols).
    pub fn new(
        weight: &Tensor,
        bias: Option<&Tensor>,
        stride: usize,
        pad: (usize, usize),
    ) -> Result<Self> {
        let (cout, cin, kh, kw) = weight.dims4()?;
        if stride == 0 {
            candle_core::bail!("conv2d: stride must be at least 1");
        }
        let wmat = weight
            .detach()
            .reshape((cout, cin * kh * kw))?
            .contiguous()?;
        let bias = match bias {
            Some(b) => Some(b.detach().reshape((1, cout, 1, 1))?),
            None => None,
        };
        Ok(Self {
            wmat,
            bias,
            cin,
            cout,
            k: (kh, kw),
            stride,
            pad,
        })
    }

    /// (B, Cin, H, W) → (B, Cout, Ho, Wo), `Ho = (H + 2·ph − kh)/s + 1`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_with_band(x, BAND_BYTES)
    }

    /// [`Self::forward`] with a given column-matrix budget (tests use tiny bands).
    pub fn forward_with_band(&self, x: &Tensor, band_bytes: usize) -> Result<Tensor> {
        let (b, c, h, w) = x.dims4()?;
        if c != self.cin {
            candle_core::bail!(
                "conv2d: input has {c} channels, the weight expects {}",
                self.cin
            );
        }
        let (kh, kw) = self.k;
        let (ph, pw) = self.pad;
        let s = self.stride;
        if h + 2 * ph < kh || w + 2 * pw < kw {
            candle_core::bail!("conv2d: input {:?} smaller than the kernel", x.dims());
        }
        let ho = (h + 2 * ph - kh) / s + 1;
        let wo = (w + 2 * pw - kw) / s + 1;
        let out = if kh == 1 && kw == 1 && s == 1 && ph == 0 && pw == 0 {
            // a 1×1 conv is one matmul per image, no column matrix
            let xf = x.reshape((b, c, h * w))?;
            let mut outs = Vec::with_capacity(b);
            for i in 0..b {
                outs.push(self.wmat.matmul(&xf.get(i)?.contiguous()?)?);
            }
            Tensor::stack(&outs, 0)?.reshape((b, self.cout, ho, wo))?
        } else {
            // padded input, extended with zero rows/cols (never read) to a multiple of the stride
            let hp = (h + 2 * ph).div_ceil(s) * s;
            let wp = (w + 2 * pw).div_ceil(s) * s;
            let xp = x
                .pad_with_zeros(2, ph, hp - h - ph)?
                .pad_with_zeros(3, pw, wp - w - pw)?;
            // phase planes: phases[a·s + b] = xp[.., a::s, b::s], (B, C, hp/s, wp/s)
            let phases: Vec<Tensor> = if s == 1 {
                vec![xp]
            } else {
                let xr = xp.reshape((b, c, hp / s, s, wp / s, s))?;
                let mut v = Vec::with_capacity(s * s);
                for a in 0..s {
                    for bb in 0..s {
                        v.push(xr.narrow(3, a, 1)?.narrow(5, bb, 1)?.reshape((
                            b,
                            c,
                            hp / s,
                            wp / s,
                        ))?);
                    }
                }
                v
            };
            let row_bytes = c * kh * kw * wo * 4;
            let rows = (band_bytes / row_bytes.max(1)).clamp(1, ho);
            let mut bands = Vec::with_capacity(ho.div_ceil(rows));
            let mut y0 = 0;
            while y0 < ho {
                let r = rows.min(ho - y0);
                let mut taps = Vec::with_capacity(kh * kw);
                for i in 0..kh {
                    for j in 0..kw {
                        let plane = &phases[(i % s) * s + (j % s)];
                        taps.push(plane.narrow(2, y0 + i / s, r)?.narrow(3, j / s, wo)?);
                    }
                }
                // (B, C, kh·kw, r, wo) → (B, C·kh·kw, r·wo): row c·kh·kw + i·kw + j
                let cols = Tensor::stack(&taps, 2)?.reshape((b, c * kh * kw, r * wo))?;
                drop(taps);
                let mut outs = Vec::with_capacity(b);
                for n in 0..b {
                    outs.push(self.wmat.matmul(&cols.get(n)?)?);
                }
                bands.push(Tensor::stack(&outs, 0)?.reshape((b, self.cout, r, wo))?);
                y0 += r;
            }
            if bands.len() == 1 {
                bands.pop().expect("one band")
            } else {
                Tensor::cat(&bands, 2)?
            }
        };
        match &self.bias {
            Some(bias) => out.broadcast_add(bias),
            None => Ok(out),
        }
    }
}

impl candle_core::Module for Conv2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Conv2d::forward(self, x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, D};

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        assert_eq!(a.dims(), b.dims());
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(D::Minus1)
            .unwrap()
            .to_scalar()
            .unwrap()
    }

    /// Against candle's own conv2d (square padding) and against a pre-padded candle conv2d
    /// (per-axis padding), for the shapes RAFT and AMT use, with bands of one row and more.
    #[test]
    fn matches_candle_conv2d() {
        let dev = Device::Cpu;
        // (cin, cout, kh, kw, stride, ph, pw, h, w)
        let cases = [
            (3, 8, 7, 7, 2, 3, 3, 24, 18),
            (6, 5, 3, 3, 1, 1, 1, 9, 11),
            (6, 5, 3, 3, 2, 1, 1, 10, 14),
            (6, 5, 3, 3, 2, 1, 1, 9, 13),
            (6, 7, 1, 1, 2, 0, 0, 10, 12),
            (6, 7, 1, 1, 1, 0, 0, 5, 7),
            (9, 4, 1, 5, 1, 0, 2, 6, 10),
            (9, 4, 5, 1, 1, 2, 0, 6, 10),
            (4, 3, 4, 4, 1, 0, 0, 7, 8),
        ];
        for (ci, co, kh, kw, s, ph, pw, h, w) in cases {
            let x = Tensor::randn(0f32, 1., (2, ci, h, w), &dev).unwrap();
            let wt = Tensor::randn(0f32, 1., (co, ci, kh, kw), &dev).unwrap();
            let bias = Tensor::randn(0f32, 1., co, &dev).unwrap();
            let want = x
                .pad_with_zeros(2, ph, ph)
                .unwrap()
                .pad_with_zeros(3, pw, pw)
                .unwrap()
                .conv2d(&wt, 0, s, 1, 1)
                .unwrap()
                .broadcast_add(&bias.reshape((1, co, 1, 1)).unwrap())
                .unwrap();
            let conv = Conv2d::new(&wt, Some(&bias), s, (ph, pw)).unwrap();
            for band in [1usize, 4 * ci * kh * kw * 3, usize::MAX / 2] {
                let got = conv.forward_with_band(&x, band).unwrap();
                let d = max_diff(&got, &want);
                assert!(
                    d < 1e-4,
                    "{:?} band {band}: {d}",
                    (ci, co, kh, kw, s, ph, pw, h, w)
                );
            }
        }
    }

    #[test]
    fn bands_do_not_change_the_result() {
        let dev = Device::Cpu;
        let x = Tensor::randn(0f32, 1., (1, 16, 33, 20), &dev).unwrap();
        let wt = Tensor::randn(0f32, 1., (8, 16, 3, 3), &dev).unwrap();
        let conv = Conv2d::new(&wt, None, 1, (1, 1)).unwrap();
        let one = conv.forward_with_band(&x, usize::MAX / 2).unwrap();
        let many = conv.forward_with_band(&x, 1).unwrap();
        assert_eq!(max_diff(&one, &many), 0.0);
        assert!(conv
            .forward(&Tensor::zeros((1, 3, 8, 8), candle_core::DType::F32, &dev).unwrap())
            .is_err());
    }
}
