//! Detection ops with torchvision 0.20.1 / detectron2 (commit 02b5c4e2) semantics, as GRiT uses
//! them (spec 40-semantic.md §3.10):
//!
//! * [`roi_align`]: `torchvision.ops.roi_align(aligned=True, sampling_ratio=0)` (detectron2's
//!   `ROIAlignV2`) for any output size. Sample coordinates and bilinear weights are computed per
//!   box on the host in f32 exactly as torchvision's CPU kernel (`pre_calc_for_bilinear_interpolate`);
//!   the gather/weight/sum runs as tensor ops (`index_select`, `broadcast_mul`, `index_add`), so it
//!   also runs on CUDA.
//! * [`RoiPooler`]: detectron2's multi-level `ROIPooler` (level = `clamp(floor(4 +
//!   log2(sqrt(area)/224 + 1e-8)), 3, 5)`).
//! * [`nms`] / [`batched_nms`]: torchvision's CPU `nms` (stable descending sort by score, so equal
//!   scores keep input order; suppress IoU `>` threshold, IoU in f32 compared in f64).
//! * [`kth_top_k`]: CenterNet's `kthvalue` top-k that keeps ties.
//! * [`Box2BoxTransform`]: detectron2's `apply_deltas` with the `log(1000/16)` clamp.
//! * [`clip_box`] / [`nonempty`]: `Boxes.clip` / `Boxes.nonempty`.
//!
//! Boxes are `[x0, y0, x1, y1]` in f32 image pixels.

use candle_core::{DType, Device, Result, Tensor};

/// `[x0, y0, x1, y1]`.
pub type BoxF = [f32; 4];

/// One bilinear tap of one sampling point: flat pixel index, output bin, weight.
struct Tap {
    pixel: u32,
    bin: u32,
    weight: f32,
}

/// The taps of one box on one feature map of size `h × w` (torchvision `roi_align_forward_kernel_impl`
/// with `aligned = true`, `sampling_ratio = 0`), appended to `taps`; `bin0` is the index of the
/// box's first output bin and `counts` receives `max(grid_h · grid_w, 1)` per bin.
#[allow(clippy::too_many_arguments)]
fn box_taps(
    b: &BoxF,
    scale: f32,
    h: usize,
    w: usize,
    out: (usize, usize),
    pixel_offset: u32,
    bin0: u32,
    taps: &mut Vec<Tap>,
    counts: &mut Vec<f32>,
) {
    let (ph_n, pw_n) = out;
    let offset = 0.5f32;
    let start_w = b[0] * scale - offset;
    let start_h = b[1] * scale - offset;
    let end_w = b[2] * scale - offset;
    let end_h = b[3] * scale - offset;
    let roi_w = end_w - start_w;
    let roi_h = end_h - start_h;
    let bin_h = roi_h / ph_n as f32;
    let bin_w = roi_w / pw_n as f32;
    // `ceil(roi_height / pooled_height)` in float, then int (negative sizes give no samples)
    let grid_h = (roi_h / ph_n as f32).ceil();
    let grid_w = (roi_w / pw_n as f32).ceil();
    let grid_h = if grid_h.is_finite() && grid_h > 0.0 {
        grid_h as usize
    } else {
        0
    };
    let grid_w = if grid_w.is_finite() && grid_w > 0.0 {
        grid_w as usize
    } else {
        0
    };
    let count = (grid_h * grid_w).max(1) as f32;
    let (hf, wf) = (h as f32, w as f32);
    for ph in 0..ph_n {
        for pw in 0..pw_n {
            let bin = bin0 + (ph * pw_n + pw) as u32;
            counts.push(count);
            for iy in 0..grid_h {
                let yy = start_h + ph as f32 * bin_h + (iy as f32 + 0.5) * bin_h / grid_h as f32;
                for ix in 0..grid_w {
                    let xx =
                        start_w + pw as f32 * bin_w + (ix as f32 + 0.5) * bin_w / grid_w as f32;
                    let (mut y, mut x) = (yy, xx);
                    if y < -1.0 || y > hf || x < -1.0 || x > wf {
                        continue;
                    }
                    if y <= 0.0 {
                        y = 0.0;
                    }
                    if x <= 0.0 {
                        x = 0.0;
                    }
                    let mut y_low = y as usize;
                    let mut x_low = x as usize;
                    let y_high;
                    let x_high;
                    if y_low >= h - 1 {
                        y_low = h - 1;
                        y_high = h - 1;
                        y = y_low as f32;
                    } else {
                        y_high = y_low + 1;
                    }
                    if x_low >= w - 1 {
                        x_low = w - 1;
                        x_high = w - 1;
                        x = x_low as f32;
                    } else {
                        x_high = x_low + 1;
                    }
                    let ly = y - y_low as f32;
                    let lx = x - x_low as f32;
                    let hy = 1.0 - ly;
                    let hx = 1.0 - lx;
                    for (py, px, wt) in [
                        (y_low, x_low, hy * hx),
                        (y_low, x_high, hy * lx),
                        (y_high, x_low, ly * hx),
                        (y_high, x_high, ly * lx),
                    ] {
                        if wt != 0.0 {
                            taps.push(Tap {
                                pixel: pixel_offset + (py * w + px) as u32,
                                bin,
                                weight: wt,
                            });
                        }
                    }
                }
            }
        }
    }
}

/// Most gathered elements (channels × taps) materialised at once; boxes are processed in chunks.
const GATHER_BUDGET: usize = 1 << 24;

/// Gathers `taps` from `flat` (C, L) into `n_bins` bins, dividing each bin by its count.
fn gather_bins(flat: &Tensor, taps: &[Tap], counts: &[f32]) -> Result<Tensor> {
    let (c, _) = flat.dims2()?;
    let dev = flat.device();
    let n_bins = counts.len();
    let out = Tensor::zeros((c, n_bins), flat.dtype(), dev)?;
    if taps.is_empty() {
        return Ok(out);
    }
    let pix: Vec<u32> = taps.iter().map(|t| t.pixel).collect();
    let bins: Vec<u32> = taps.iter().map(|t| t.bin).collect();
    let wts: Vec<f32> = taps.iter().map(|t| t.weight).collect();
    let k = taps.len();
    let pix = Tensor::from_vec(pix, k, dev)?;
    let bins = Tensor::from_vec(bins, k, dev)?;
    let wts = Tensor::from_vec(wts, (1, k), dev)?.to_dtype(flat.dtype())?;
    let src = flat.index_select(&pix, 1)?.broadcast_mul(&wts)?;
    let out = out.index_add(&bins, &src, 1)?;
    let counts = Tensor::from_vec(counts.to_vec(), (1, n_bins), dev)?.to_dtype(flat.dtype())?;
    out.broadcast_div(&counts)
}

/// Result rows `(N, C, ph, pw)` from bins `(C, N·ph·pw)`.
fn bins_to_rois(bins: Tensor, n: usize, out: (usize, usize)) -> Result<Tensor> {
    let c = bins.dim(0)?;
    bins.reshape((c, n, out.0, out.1))?
        .permute((1, 0, 2, 3))?
        .contiguous()
}

/// `torchvision.ops.roi_align(feat[None], boxes, out, spatial_scale, sampling_ratio=0,
/// aligned=True)` for one image: `feat` is `(C, H, W)` or `(1, C, H, W)`; returns `(N, C, ph, pw)`.
pub fn roi_align(
    feat: &Tensor,
    boxes: &[BoxF],
    out: (usize, usize),
    spatial_scale: f32,
) -> Result<Tensor> {
    let feat = if feat.rank() == 4 {
        feat.squeeze(0)?
    } else {
        feat.clone()
    };
    let (c, h, w) = feat.dims3()?;
    let flat = feat.reshape((c, h * w))?;
    let levels = vec![Some(0usize); boxes.len()];
    pool_levels(&[flat], &[(h, w)], &[spatial_scale], boxes, &levels, out)
}

/// Pools every box from its level's flattened map (`None`: zeros, as detectron2 for a NaN level).
fn pool_levels(
    flats: &[Tensor],
    sizes: &[(usize, usize)],
    scales: &[f32],
    boxes: &[BoxF],
    levels: &[Option<usize>],
    out: (usize, usize),
) -> Result<Tensor> {
    let c = flats[0].dim(0)?;
    let dev = flats[0].device().clone();
    let dtype = flats[0].dtype();
    let flat = if flats.len() == 1 {
        flats[0].clone()
    } else {
        Tensor::cat(flats, 1)?
    };
    let mut offsets = Vec::with_capacity(sizes.len());
    let mut acc = 0u32;
    for &(h, w) in sizes {
        offsets.push(acc);
        acc += (h * w) as u32;
    }
    let bins_per_box = out.0 * out.1;
    if boxes.is_empty() {
        return Tensor::zeros((0, c, out.0, out.1), dtype, &dev);
    }
    let mut chunks = Vec::new();
    let mut taps = Vec::new();
    let mut counts = Vec::new();
    let mut n_in_chunk = 0usize;
    for (b, lvl) in boxes.iter().zip(levels) {
        let bin0 = (n_in_chunk * bins_per_box) as u32;
        match lvl {
            Some(l) => {
                let (h, w) = sizes[*l];
                box_taps(
                    b,
                    scales[*l],
                    h,
                    w,
                    out,
                    offsets[*l],
                    bin0,
                    &mut taps,
                    &mut counts,
                );
            }
            None => counts.extend(std::iter::repeat_n(1.0, bins_per_box)),
        }
        n_in_chunk += 1;
        if taps.len() * c >= GATHER_BUDGET {
            chunks.push(bins_to_rois(
                gather_bins(&flat, &taps, &counts)?,
                n_in_chunk,
                out,
            )?);
            taps.clear();
            counts.clear();
            n_in_chunk = 0;
        }
    }
    if n_in_chunk > 0 {
        chunks.push(bins_to_rois(
            gather_bins(&flat, &taps, &counts)?,
            n_in_chunk,
            out,
        )?);
    }
    if chunks.len() == 1 {
        Ok(chunks.remove(0))
    } else {
        Tensor::cat(&chunks, 0)
    }
}

/// detectron2 `ROIPooler(output_size, scales = 1/stride, sampling_ratio=0, "ROIAlignV2")` with
/// the default canonical box size 224 at canonical level 4.
#[derive(Debug, Clone)]
pub struct RoiPooler {
    output: (usize, usize),
    scales: Vec<f32>,
    min_level: i64,
    max_level: i64,
}

impl RoiPooler {
    /// `strides` of the pooled maps in order (GRiT: 8, 16, 32 for p3, p4, p5).
    pub fn new(output: (usize, usize), strides: &[usize]) -> Self {
        let scales: Vec<f32> = strides.iter().map(|&s| (1.0 / s as f64) as f32).collect();
        // detectron2: min_level = -log2(scales[0]), max_level = -log2(scales[-1])
        let min_level = (strides[0] as f64).log2().round() as i64;
        let max_level = (strides[strides.len() - 1] as f64).log2().round() as i64;
        Self {
            output,
            scales,
            min_level,
            max_level,
        }
    }

    /// `assign_boxes_to_levels(..., canonical_box_size=224, canonical_level=4)`: index into the
    /// pooled maps, `None` where the level is NaN (detectron2 then leaves the rows zero).
    pub fn assign_levels(&self, boxes: &[BoxF]) -> Vec<Option<usize>> {
        boxes
            .iter()
            .map(|b| {
                let area = (b[2] - b[0]) * (b[3] - b[1]);
                let size = area.sqrt();
                let lvl = (4.0f32 + (size / 224.0f32 + 1e-8f32).log2()).floor();
                if lvl.is_nan() {
                    None
                } else {
                    let l = (lvl as i64).clamp(self.min_level, self.max_level);
                    Some((l - self.min_level) as usize)
                }
            })
            .collect()
    }

    /// Flattens the pooled maps once per image; reuse the result for every pooling of that image.
    pub fn prepare(&self, features: &[Tensor]) -> Result<PoolerInput> {
        let mut flats = Vec::with_capacity(features.len());
        let mut sizes = Vec::with_capacity(features.len());
        for f in features.iter().take(self.scales.len()) {
            let f = if f.rank() == 4 {
                f.squeeze(0)?
            } else {
                f.clone()
            };
            let (c, h, w) = f.dims3()?;
            flats.push(f.reshape((c, h * w))?);
            sizes.push((h, w));
        }
        if flats.len() != self.scales.len() {
            candle_core::bail!(
                "RoiPooler: {} maps for {} scales",
                flats.len(),
                self.scales.len()
            );
        }
        let flat = Tensor::cat(&flats, 1)?;
        Ok(PoolerInput { flat, sizes })
    }

    /// Pooled features `(N, C, ph, pw)` of `boxes` (one image).
    pub fn forward(&self, input: &PoolerInput, boxes: &[BoxF]) -> Result<Tensor> {
        let levels = self.assign_levels(boxes);
        pool_levels(
            std::slice::from_ref(&input.flat),
            &input.sizes,
            &self.scales,
            boxes,
            &levels,
            self.output,
        )
    }
}

/// The pooled maps of one image, flattened and concatenated (`(C, Σ H·W)`).
#[derive(Debug, Clone)]
pub struct PoolerInput {
    flat: Tensor,
    sizes: Vec<(usize, usize)>,
}

/// Indices sorted by descending score, equal scores in input order (torchvision's CPU `nms` sorts
/// with `stable=true`).
fn order_desc(scores: &[f32]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    // total order (a NaN sorts first, as in torch's descending sort); `sort_by` is stable
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    order
}

/// torchvision `nms(boxes, scores, iou_threshold)` (CPU kernel): kept indices in descending score
/// order.
pub fn nms(boxes: &[BoxF], scores: &[f32], iou_threshold: f64) -> Vec<usize> {
    let labels = vec![0u32; boxes.len()];
    batched_nms(boxes, scores, &labels, iou_threshold)
}

/// detectron2 / torchvision `batched_nms`: boxes of different labels never suppress each other;
/// kept indices in descending score order (ties: input order, as the coordinate-trick path; the
/// "vanilla" path torchvision takes for > 1000 boxes on CPU re-sorts with an unstable sort, so
/// the order of exactly tied scores there is unspecified).
pub fn batched_nms(
    boxes: &[BoxF],
    scores: &[f32],
    labels: &[u32],
    iou_threshold: f64,
) -> Vec<usize> {
    let order = order_desc(scores);
    let areas: Vec<f32> = boxes
        .iter()
        .map(|b| (b[2] - b[0]) * (b[3] - b[1]))
        .collect();
    let mut suppressed = vec![false; boxes.len()];
    let mut keep = Vec::new();
    for (oi, &i) in order.iter().enumerate() {
        if suppressed[i] {
            continue;
        }
        keep.push(i);
        let bi = &boxes[i];
        for &j in &order[oi + 1..] {
            if suppressed[j] || labels[j] != labels[i] {
                continue;
            }
            let bj = &boxes[j];
            let xx1 = bi[0].max(bj[0]);
            let yy1 = bi[1].max(bj[1]);
            let xx2 = bi[2].min(bj[2]);
            let yy2 = bi[3].min(bj[3]);
            let w = (xx2 - xx1).max(0.0);
            let h = (yy2 - yy1).max(0.0);
            let inter = w * h;
            let ovr = inter / (areas[i] + areas[j] - inter);
            if ovr as f64 > iou_threshold {
                suppressed[j] = true;
            }
        }
    }
    keep
}

/// Smallest IoU distance `|IoU − thr|` over the pairs [`batched_nms`] compared (for margin reports).
pub fn nms_margin(boxes: &[BoxF], scores: &[f32], iou_threshold: f64) -> f64 {
    let order = order_desc(scores);
    let kept = nms(boxes, scores, iou_threshold);
    let mut m = f64::INFINITY;
    for &i in &kept {
        let bi = &boxes[i];
        for &j in &order {
            if j == i {
                continue;
            }
            m = m.min((iou(bi, &boxes[j]) as f64 - iou_threshold).abs());
        }
    }
    m
}

/// IoU as the NMS kernel computes it.
pub fn iou(a: &BoxF, b: &BoxF) -> f32 {
    let area_a = (a[2] - a[0]) * (a[3] - a[1]);
    let area_b = (b[2] - b[0]) * (b[3] - b[1]);
    let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = w * h;
    inter / (area_a + area_b - inter)
}

/// CenterNet `nms_and_topK`'s post-NMS cut: if more than `k` scores, `t = kthvalue(scores, n − k
/// + 1)` and every index with `score ≥ t` is kept (ties can keep more than `k`), in input order.
pub fn kth_top_k(scores: &[f32], k: usize) -> Vec<usize> {
    let n = scores.len();
    if n <= k {
        return (0..n).collect();
    }
    let mut sorted = scores.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let t = sorted[n - k];
    (0..n).filter(|&i| scores[i] >= t).collect()
}

/// detectron2 `Box2BoxTransform(weights, scale_clamp=log(1000/16))`.
#[derive(Debug, Clone, Copy)]
pub struct Box2BoxTransform {
    pub weights: [f32; 4],
    pub scale_clamp: f32,
}

impl Box2BoxTransform {
    pub fn new(weights: [f32; 4]) -> Self {
        Self {
            weights,
            scale_clamp: (1000.0f64 / 16.0).ln() as f32,
        }
    }

    /// `apply_deltas(deltas, boxes)` for class-agnostic deltas, in f32 as detectron2.
    pub fn apply_deltas(&self, deltas: &[[f32; 4]], boxes: &[BoxF]) -> Vec<BoxF> {
        let [wx, wy, ww, wh] = self.weights;
        deltas
            .iter()
            .zip(boxes)
            .map(|(d, b)| {
                let widths = b[2] - b[0];
                let heights = b[3] - b[1];
                let ctr_x = b[0] + 0.5 * widths;
                let ctr_y = b[1] + 0.5 * heights;
                let dx = d[0] / wx;
                let dy = d[1] / wy;
                // torch.clamp(max=): NaN stays NaN
                let dw = clamp_max(d[2] / ww, self.scale_clamp);
                let dh = clamp_max(d[3] / wh, self.scale_clamp);
                let pcx = dx * widths + ctr_x;
                let pcy = dy * heights + ctr_y;
                let pw = dw.exp() * widths;
                let ph = dh.exp() * heights;
                [
                    pcx - 0.5 * pw,
                    pcy - 0.5 * ph,
                    pcx + 0.5 * pw,
                    pcy + 0.5 * ph,
                ]
            })
            .collect()
    }
}

fn clamp_max(v: f32, max: f32) -> f32 {
    if v > max {
        max
    } else {
        v
    }
}

/// detectron2 `Boxes.clip((h, w))`: x clamped to `[0, w]`, y to `[0, h]`.
pub fn clip_box(b: &BoxF, h: usize, w: usize) -> BoxF {
    let (h, w) = (h as f32, w as f32);
    let cl = |v: f32, hi: f32| {
        if v < 0.0 {
            0.0
        } else if v > hi {
            hi
        } else {
            v
        }
    };
    [cl(b[0], w), cl(b[1], h), cl(b[2], w), cl(b[3], h)]
}

/// detectron2 `Boxes.nonempty(threshold=0)`: width > 0 and height > 0.
pub fn nonempty(b: &BoxF) -> bool {
    b[2] - b[0] > 0.0 && b[3] - b[1] > 0.0
}

/// Boxes to a `(N, 4)` f32 tensor.
pub fn boxes_to_tensor(boxes: &[BoxF], dev: &Device) -> Result<Tensor> {
    let flat: Vec<f32> = boxes.iter().flatten().copied().collect();
    Tensor::from_vec(flat, (boxes.len(), 4), dev)
}

/// A `(N, 4)` tensor to boxes.
pub fn tensor_to_boxes(t: &Tensor) -> Result<Vec<BoxF>> {
    Ok(t.to_dtype(DType::F32)?
        .to_vec2::<f32>()?
        .into_iter()
        .map(|r| [r[0], r[1], r[2], r[3]])
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn fixture() -> HashMap<String, Tensor> {
        let p = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/fixtures/parity_grit/ops.safetensors"
        );
        candle_core::safetensors::load(p, &Device::Cpu).expect("ops fixture")
    }

    fn idx(t: &Tensor) -> Vec<usize> {
        t.to_vec1::<f32>()
            .unwrap()
            .into_iter()
            .map(|v| v as usize)
            .collect()
    }

    fn max_abs(a: &Tensor, b: &Tensor) -> f32 {
        assert_eq!(a.dims(), b.dims());
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    }

    /// torchvision roi_align (aligned, adaptive sampling) for 7×7, 14×14 and 3×5 outputs on boxes
    /// covering the map, crossing/outside the border, tiny, huge, zero and negative width.
    #[test]
    fn roi_align_matches_torchvision() {
        let t = fixture();
        let boxes = tensor_to_boxes(&t["ra.boxes"]).unwrap();
        for (name, out) in [("7", (7, 7)), ("14", (14, 14)), ("3x5", (3, 5))] {
            let got = roi_align(&t["ra.feat"], &boxes, out, 1.0 / 8.0).unwrap();
            let d = max_abs(&got, &t[&format!("ra.out{name}")]);
            assert!(d < 1e-5, "roi_align {name}: max abs diff {d}");
        }
    }

    #[test]
    fn pooler_levels_and_values_match_detectron2() {
        let t = fixture();
        let boxes = tensor_to_boxes(&t["pool.boxes"]).unwrap();
        let feats: Vec<Tensor> = (0..3)
            .map(|i| t[&format!("pool.feat{i}")].clone())
            .collect();
        for res in [7usize, 14] {
            let pooler = RoiPooler::new((res, res), &[8, 16, 32]);
            let lv: Vec<usize> = pooler
                .assign_levels(&boxes)
                .into_iter()
                .map(|l| l.unwrap())
                .collect();
            assert_eq!(lv, idx(&t["pool.levels"]));
            let input = pooler.prepare(&feats).unwrap();
            let got = pooler.forward(&input, &boxes).unwrap();
            let d = max_abs(&got, &t[&format!("pool.out{res}")]);
            assert!(d < 1e-5, "pooler {res}: max abs diff {d}");
        }
    }

    #[test]
    fn nms_matches_torchvision_with_ties() {
        let t = fixture();
        let boxes = tensor_to_boxes(&t["nms.boxes"]).unwrap();
        let scores = t["nms.scores"].to_vec1::<f32>().unwrap();
        for thr in ["0.5", "0.9", "0.3"] {
            let keep = nms(&boxes, &scores, thr.parse().unwrap());
            assert_eq!(keep, idx(&t[&format!("nms.keep{thr}")]), "thr {thr}");
        }
    }

    #[test]
    fn kth_top_k_keeps_ties() {
        let t = fixture();
        let scores = t["topk.scores"].to_vec1::<f32>().unwrap();
        let keep = kth_top_k(&scores, 256);
        assert!(keep.len() > 256);
        assert_eq!(keep, idx(&t["topk.keep"]));
        assert_eq!(kth_top_k(&scores[..10], 256), (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn apply_deltas_matches_detectron2() {
        let t = fixture();
        let boxes = tensor_to_boxes(&t["b2b.boxes"]).unwrap();
        let deltas = tensor_to_boxes(&t["b2b.deltas"]).unwrap();
        for (i, w) in [
            [10.0, 10.0, 5.0, 5.0],
            [20.0, 20.0, 10.0, 10.0],
            [30.0, 30.0, 15.0, 15.0],
        ]
        .into_iter()
        .enumerate()
        {
            let got = Box2BoxTransform::new(w).apply_deltas(&deltas, &boxes);
            let want = tensor_to_boxes(&t[&format!("b2b.out{i}")]).unwrap();
            for (g, e) in got.iter().zip(&want) {
                for k in 0..4 {
                    let tol = 1e-5 * e[k].abs().max(1.0);
                    assert!((g[k] - e[k]).abs() <= tol, "stage {i}: {g:?} vs {e:?}");
                }
            }
        }
    }

    #[test]
    fn clip_and_nonempty() {
        assert_eq!(
            clip_box(&[-3.0, 2.0, 50.0, 70.0], 60, 40),
            [0.0, 2.0, 40.0, 60.0]
        );
        assert!(!nonempty(&clip_box(&[45.0, 2.0, 50.0, 7.0], 60, 40)));
        assert!(nonempty(&[1.0, 1.0, 1.001, 2.0]));
    }
}
