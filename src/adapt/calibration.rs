//! Calibration of the quantile bands on held-out runs. A model fitted by the pinball loss on its
//! training runs is overconfident on runs it never saw (its bands are too narrow where it has
//! memorised curves), and a general model's bands can be far too wide for one user's smooth
//! curves. So after training (the trainer) or on a user's runs (`neuneu adapt`) each band is
//! widened or narrowed by one factor per level, fitted on held-out runs: the factor multiplies that level's increment in the
//! non-crossing head (`layout::quantile_head_matrices`), so the quantiles stay ordered, and the
//! median, the point forecast, is untouched.
//!
//! Levels are fitted outward from the median, each against the already calibrated level next to
//! it, by minimising its weighted pinball loss over a grid of factors (the loss is convex in the
//! factor, so the grid minimum is the minimum to within the grid step). Each suite gets an equal
//! total weight, as in training, so one large sweep does not set the bands of every other suite.

use crate::inference::forecast::pinball;

/// The factors searched: 0.05 to 3.0 in steps of 0.01. The loss is convex in the factor, so a
/// minimum inside a narrower range is unchanged by the wider one.
const GRID: std::ops::RangeInclusive<u32> = 5..=300;
const GRID_STEP: f64 = 0.01;

/// One factor per level (1 at the median) for predictions `pred` (`[N, Q]`, row-major, ordered),
/// their observed `target`s and per-sample `weight`s.
pub fn fit_increment_scales(
    pred: &[f32],
    target: &[f32],
    weight: &[f64],
    levels: &[f32],
    median: usize,
) -> Vec<f32> {
    let q = levels.len();
    let n = target.len();
    assert_eq!(pred.len(), n * q);
    assert_eq!(weight.len(), n);
    let mut calibrated: Vec<f64> = pred.iter().map(|&v| v as f64).collect();
    let mut scales = vec![1.0f32; q];
    let outward = (median + 1..q)
        .map(|j| (j, j - 1))
        .chain((0..median).rev().map(|j| (j, j + 1)));
    for (j, inner) in outward {
        let tau = levels[j] as f64;
        // The increment of level j over its inner neighbour, before calibration.
        let inc: Vec<f64> = (0..n)
            .map(|i| (pred[i * q + j] - pred[i * q + inner]) as f64)
            .collect();
        let loss = |s: f64| -> f64 {
            (0..n)
                .map(|i| {
                    let y = calibrated[i * q + inner] + s * inc[i];
                    weight[i] * pinball(tau, y, target[i] as f64)
                })
                .sum()
        };
        let best = GRID
            .map(|k| k as f64 * GRID_STEP)
            .map(|s| (s, loss(s)))
            .fold((1.0, f64::INFINITY), |b, c| if c.1 < b.1 { c } else { b })
            .0;
        scales[j] = best as f32;
        for i in 0..n {
            calibrated[i * q + j] = calibrated[i * q + inner] + best * inc[i];
        }
    }
    scales
}

/// The weights `base`, rescaled so that each group (suite) has the same total; `groups[i]`
/// names sample i's group.
pub fn equal_group_weights<T: Ord>(groups: &[T], base: &[f64]) -> Vec<f64> {
    assert_eq!(groups.len(), base.len());
    let mut totals = std::collections::BTreeMap::new();
    for (g, w) in groups.iter().zip(base) {
        *totals.entry(g).or_insert(0.0) += w;
    }
    groups
        .iter()
        .zip(base)
        .map(|(g, w)| w / totals[g])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEVELS: [f32; 5] = [0.1, 0.25, 0.5, 0.75, 0.9];

    /// Predictions whose bands are `narrow` times the true ones, for standard normal targets.
    fn overconfident(narrow: f32, n: usize) -> (Vec<f32>, Vec<f32>) {
        let z = [-1.2816f32, -0.6745, 0.0, 0.6745, 1.2816];
        let mut rng = crate::rng::SplitMix64::new(5);
        let target: Vec<f32> = (0..n)
            .map(|_| crate::decisions::distribution::inverse_normal_cdf(rng.next_f64()) as f32)
            .collect();
        let pred = (0..n).flat_map(|_| z.map(|v| v * narrow)).collect();
        (pred, target)
    }

    #[test]
    fn too_narrow_bands_are_widened_back_to_the_truth() {
        let (pred, target) = overconfident(0.5, 40_000);
        let w = vec![1.0; target.len()];
        let s = fit_increment_scales(&pred, &target, &w, &LEVELS, 2);
        assert_eq!(s[2], 1.0);
        for j in [0, 1, 3, 4] {
            assert!((s[j] - 2.0).abs() < 0.12, "level {j}: {s:?}");
        }
    }

    #[test]
    fn calibrated_bands_are_left_alone() {
        let (pred, target) = overconfident(1.0, 40_000);
        let w = vec![1.0; target.len()];
        let s = fit_increment_scales(&pred, &target, &w, &LEVELS, 2);
        assert!(s.iter().all(|&v| (v - 1.0).abs() < 0.08), "{s:?}");
    }

    #[test]
    fn groups_weigh_the_same() {
        let w = equal_group_weights(&["a", "a", "a", "b"], &[1.0; 4]);
        assert_eq!(w, vec![1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0, 1.0]);
        let w = equal_group_weights(&["a", "a", "b"], &[1.0, 3.0, 0.5]);
        assert_eq!(w, vec![0.25, 0.75, 1.0]);
    }
}
