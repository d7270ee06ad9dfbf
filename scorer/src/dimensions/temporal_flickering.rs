//! `temporal_flickering`: mirrors `vbench/temporal_flickering.py::temporal_flickering`.
//!
//! Every frame through OpenCV's conversion; per consecutive pair the mean absolute difference
//! over all H·W·3 values (an `np.float32`), their float32 mean m, and per video
//! (255 − m) / 255. A one-frame video gives NaN, as in VBench. Aggregate: mean over videos.
//! The metric is channel-symmetric, so RGB or BGR order does not matter.

use super::{path_record, AggPart, Dimension, Outcome, VideoInput, VideoScorer};
use crate::error::VideoErrorKind;
use crate::pyjson::PyJson;
use crate::video::{Frame, ReaderKind};

pub const NAME: &str = "temporal_flickering";

pub struct TemporalFlickering;

struct Scorer {
    video: VideoInput,
    prev: Option<Frame>,
    maes: Vec<f32>,
}

/// `np.mean(cv2.absdiff(a, b))` over all values, rounded to float32 as numpy returns it.
pub fn frame_mae(a: &Frame, b: &Frame) -> Option<f32> {
    if a.width != b.width || a.height != b.height {
        return None;
    }
    let sum: u64 = a
        .data
        .iter()
        .zip(&b.data)
        .map(|(&x, &y)| x.abs_diff(y) as u64)
        .sum();
    Some((sum as f64 / a.data.len() as f64) as f32)
}

/// The per-video score from the pair MAEs (NaN when there is no pair).
pub fn score_from_maes(maes: &[f32]) -> f64 {
    if maes.is_empty() {
        return f64::NAN;
    }
    let m = (maes.iter().map(|&v| v as f64).sum::<f64>() / maes.len() as f64) as f32 as f64;
    (255.0 - m) / 255.0
}

impl VideoScorer for Scorer {
    fn push(&mut self, frame: &Frame) -> Result<(), VideoErrorKind> {
        if let Some(p) = &self.prev {
            let mae = frame_mae(p, frame).ok_or_else(|| {
                VideoErrorKind::Decode("frames of different sizes in one video".into())
            })?;
            self.maes.push(mae);
        }
        self.prev = Some(frame.clone());
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<Outcome, VideoErrorKind> {
        let score = score_from_maes(&self.maes);
        Ok(Outcome {
            record: path_record(&self.video, vec![("video_results", PyJson::Float(score))]),
            agg: AggPart {
                sum: score,
                count: 1.0,
            },
        })
    }
}

impl Dimension for TemporalFlickering {
    fn name(&self) -> &'static str {
        NAME
    }
    fn reader(&self) -> ReaderKind {
        ReaderKind::OpenCv
    }
    fn start(&self, video: &VideoInput) -> Result<Box<dyn VideoScorer + '_>, VideoErrorKind> {
        Ok(Box::new(Scorer {
            video: video.clone(),
            prev: None,
            maes: Vec::new(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flicker_score_formula() {
        let a = Frame {
            width: 2,
            height: 1,
            data: vec![0, 10, 20, 30, 40, 50],
        };
        let b = Frame {
            width: 2,
            height: 1,
            data: vec![5, 10, 20, 30, 40, 80],
        };
        let mae = frame_mae(&a, &b).unwrap();
        assert_eq!(mae, 35.0 / 6.0);
        assert!(
            (score_from_maes(&[mae]) - (255.0 - (35.0f64 / 6.0) as f32 as f64) / 255.0).abs()
                < 1e-12
        );
        assert!(score_from_maes(&[]).is_nan());
    }
}
