//! Frame sampling rules shared by several dimensions, applied to the pushed frame stream so
//! only the chosen frames are kept.

use crate::error::VideoErrorKind;
use crate::video::Frame;

/// `vbench/utils.py::get_frame_indices(num_frames, vlen, sample='middle')`:
/// `intervals = np.linspace(0, vlen, a + 1).astype(int)` with `a = min(num_frames, vlen)`,
/// the middle of each interval `(intervals[k] + intervals[k+1] - 1) // 2`, then padded with the
/// last index up to `num_frames` entries. Empty when `vlen` is 0.
pub fn middle_indices(num_frames: usize, vlen: usize) -> Vec<usize> {
    let a = num_frames.min(vlen);
    if a == 0 {
        return Vec::new();
    }
    // numpy's linspace: arange(0, a+1) * step + 0, with the last point set to `stop` exactly
    let step = vlen as f64 / a as f64;
    let intervals: Vec<i64> = (0..=a)
        .map(|k| {
            if k == a {
                vlen as i64
            } else {
                (k as f64 * step) as i64
            }
        })
        .collect();
    let mut idx: Vec<usize> = intervals
        .windows(2)
        .map(|w| (w[0] + w[1] - 1).div_euclid(2).max(0) as usize)
        .collect();
    let last = *idx.last().expect("a > 0");
    idx.resize(num_frames, last);
    idx
}

/// Keeps the frames at given stream indices (repeats allowed, any order) from a pushed stream.
pub struct FramePicker {
    /// Wanted indices in the caller's order.
    indices: Vec<usize>,
    picked: Vec<Option<Frame>>,
    next: usize,
}

impl FramePicker {
    pub fn new(indices: Vec<usize>) -> Self {
        let picked = vec![None; indices.len()];
        Self {
            indices,
            picked,
            next: 0,
        }
    }

    /// Offers the next frame of the stream; it is cloned only if some index wants it.
    pub fn push(&mut self, frame: &Frame) {
        let i = self.next;
        self.next += 1;
        for (slot, &want) in self.picked.iter_mut().zip(&self.indices) {
            if want == i {
                *slot = Some(frame.clone());
            }
        }
    }

    /// Whether every wanted frame has been seen (the caller may stop keeping frames).
    pub fn is_complete(&self) -> bool {
        self.picked.iter().all(Option::is_some)
    }

    /// Frames pushed so far.
    pub fn seen(&self) -> usize {
        self.next
    }

    /// The picked frames in the order of the indices, or the reason some are missing (the
    /// container declared more frames than could be decoded; decord's `get_batch` fails there).
    pub fn into_frames(self) -> Result<Vec<Frame>, VideoErrorKind> {
        let seen = self.next;
        let missing: Vec<usize> = self
            .indices
            .iter()
            .zip(&self.picked)
            .filter(|(_, f)| f.is_none())
            .map(|(&i, _)| i)
            .collect();
        if !missing.is_empty() {
            return Err(VideoErrorKind::TooFewFrames(format!(
                "the sampler wants frame {} but only {seen} frames could be decoded (the container declares more packets than decodable frames)",
                missing[0]
            )));
        }
        Ok(self.picked.into_iter().flatten().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn middle_indices_match_the_spec_examples() {
        assert_eq!(middle_indices(8, 16), vec![0, 2, 4, 6, 8, 10, 12, 14]);
        assert_eq!(middle_indices(8, 49), vec![2, 8, 14, 20, 26, 32, 38, 45]);
        assert_eq!(middle_indices(8, 120), vec![7, 22, 37, 52, 67, 82, 97, 112]);
        assert_eq!(middle_indices(8, 5), vec![0, 1, 2, 3, 4, 4, 4, 4]);
        assert_eq!(
            middle_indices(16, 49),
            vec![1, 4, 7, 10, 13, 16, 19, 22, 25, 28, 31, 34, 37, 40, 43, 46]
        );
        assert_eq!(
            middle_indices(16, 120),
            vec![3, 10, 18, 25, 33, 40, 48, 55, 63, 70, 78, 85, 93, 100, 108, 115]
        );
        let mut eight: Vec<usize> = (0..8).collect();
        eight.extend([7; 8]);
        assert_eq!(middle_indices(16, 8), eight);
        assert!(middle_indices(8, 0).is_empty());
    }

    #[test]
    fn picker_keeps_repeats_in_order_and_reports_missing_frames() {
        let f = |v: u8| Frame {
            width: 1,
            height: 1,
            data: vec![v, v, v],
        };
        let mut p = FramePicker::new(vec![1, 3, 3]);
        for v in 0..4 {
            p.push(&f(v));
        }
        assert!(p.is_complete());
        let got: Vec<u8> = p.into_frames().unwrap().iter().map(|f| f.data[0]).collect();
        assert_eq!(got, vec![1, 3, 3]);
        let mut p = FramePicker::new(vec![0, 5]);
        p.push(&f(0));
        assert!(p.into_frames().is_err());
    }
}
