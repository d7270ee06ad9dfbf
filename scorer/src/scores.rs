//! Quality / Semantic / Total as VBench's `scripts/cal_final_score.py` computes them from the
//! aggregates, with `scripts/constant.py`'s normalisation table and weights (spec 00-common
//! §5.3–5.4), and a per-video total for ranking with the same normalisation.

use serde::Serialize;

/// (dimension, quality group?, weight, min, max) from `scripts/constant.py`.
pub const TABLE: [(&str, bool, f64, f64, f64); 16] = [
    ("subject_consistency", true, 1.0, 0.1462, 1.0),
    ("background_consistency", true, 1.0, 0.2615, 1.0),
    ("temporal_flickering", true, 1.0, 0.6293, 1.0),
    ("motion_smoothness", true, 1.0, 0.706, 0.9975),
    ("dynamic_degree", true, 0.5, 0.0, 1.0),
    ("aesthetic_quality", true, 1.0, 0.0, 1.0),
    ("imaging_quality", true, 1.0, 0.0, 1.0),
    ("object_class", false, 1.0, 0.0, 1.0),
    ("multiple_objects", false, 1.0, 0.0, 1.0),
    ("human_action", false, 1.0, 0.0, 1.0),
    ("color", false, 1.0, 0.0, 1.0),
    ("spatial_relationship", false, 1.0, 0.0, 1.0),
    ("scene", false, 1.0, 0.0, 0.8222),
    ("appearance_style", false, 1.0, 0.0009, 0.2855),
    ("temporal_style", false, 1.0, 0.0, 0.364),
    ("overall_consistency", false, 1.0, 0.0, 0.364),
];

pub const QUALITY_WEIGHT: f64 = 4.0;
pub const SEMANTIC_WEIGHT: f64 = 1.0;

/// `(value - min) / (max - min) * weight`, unclipped, as the script does.
pub fn normalized(dim: &str, value: f64) -> Option<f64> {
    TABLE
        .iter()
        .find(|t| t.0 == dim)
        .map(|&(_, _, w, lo, hi)| (value - lo) / (hi - lo) * w)
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FinalScores {
    /// Present only when all 7 quality dimensions are.
    pub quality: Option<f64>,
    /// Present only when all 9 semantic dimensions are.
    pub semantic: Option<f64>,
    /// Present only when both are.
    pub total: Option<f64>,
    /// Weighted mean of the normalised scores of the dimensions that are present (our
    /// addition, for partial runs; equals the script's groups when all are present).
    pub quality_partial: Option<f64>,
    pub semantic_partial: Option<f64>,
}

fn group(aggs: &[(&str, f64)], quality: bool) -> (Option<f64>, Option<f64>) {
    let dims: Vec<_> = TABLE.iter().filter(|t| t.1 == quality).collect();
    let mut num = 0.0;
    let mut den = 0.0;
    let mut n = 0;
    for &(d, _, w, _, _) in &dims {
        if let Some(v) = aggs.iter().find(|a| a.0 == *d).map(|a| a.1) {
            if v.is_finite() {
                num += normalized(d, v).expect("in table");
                den += w;
                n += 1;
            }
        }
    }
    let partial = (n > 0).then(|| num / den);
    let full = (n == dims.len()).then(|| num / den);
    (full, partial)
}

/// Scores from `(dimension, aggregate)` pairs.
pub fn final_scores(aggs: &[(&str, f64)]) -> FinalScores {
    let (quality, quality_partial) = group(aggs, true);
    let (semantic, semantic_partial) = group(aggs, false);
    let total = match (quality, semantic) {
        (Some(q), Some(s)) => {
            Some((q * QUALITY_WEIGHT + s * SEMANTIC_WEIGHT) / (QUALITY_WEIGHT + SEMANTIC_WEIGHT))
        }
        _ => None,
    };
    FinalScores {
        quality,
        semantic,
        total,
        quality_partial,
        semantic_partial,
    }
}

/// The per-video ranking score: each dimension's per-video value normalised as above
/// (imaging_quality's per-video value ÷ 100 first, as its aggregate is), then the same
/// quality/semantic weighting over the dimensions present for that video:
/// `(4·mean_w(quality) + 1·mean_w(semantic)) / 5`, or the one group's mean when only one is
/// present.
pub fn per_video_total(values: &[(&str, f64)]) -> Option<f64> {
    let scaled: Vec<(&str, f64)> = values
        .iter()
        .map(|&(d, v)| (d, if d == "imaging_quality" { v / 100.0 } else { v }))
        .collect();
    let (_, q) = group(&scaled, true);
    let (_, s) = group(&scaled, false);
    match (q, s) {
        (Some(q), Some(s)) => {
            Some((q * QUALITY_WEIGHT + s * SEMANTIC_WEIGHT) / (QUALITY_WEIGHT + SEMANTIC_WEIGHT))
        }
        (Some(q), None) => Some(q),
        (None, Some(s)) => Some(s),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_scores_follow_the_script() {
        let mut aggs: Vec<(&str, f64)> = TABLE.iter().map(|t| (t.0, t.4)).collect();
        let s = final_scores(&aggs);
        // every dimension at its max normalises to its weight: groups are exactly 1
        assert!((s.quality.unwrap() - 1.0).abs() < 1e-12);
        assert!((s.semantic.unwrap() - 1.0).abs() < 1e-12);
        assert!((s.total.unwrap() - 1.0).abs() < 1e-12);
        aggs[4].1 = 0.0; // dynamic degree 0 → quality loses 0.5 of 6.5
        let s = final_scores(&aggs);
        assert!((s.quality.unwrap() - 6.0 / 6.5).abs() < 1e-12);
        let partial = final_scores(&[("subject_consistency", 0.5731)]);
        assert_eq!(partial.quality, None);
        assert!(
            (partial.quality_partial.unwrap() - (0.5731 - 0.1462) / (1.0 - 0.1462)).abs() < 1e-12
        );
        assert_eq!(partial.total, None);
    }

    #[test]
    fn per_video_total_uses_groups() {
        let v =
            per_video_total(&[("aesthetic_quality", 0.5), ("appearance_style", 0.2855)]).unwrap();
        assert!((v - (4.0 * 0.5 + 1.0) / 5.0).abs() < 1e-12);
        assert_eq!(per_video_total(&[]), None);
    }
}
