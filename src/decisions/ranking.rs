//! Which run ends above which: pairwise probabilities between runs' final forecasts, and the
//! order they imply.
//!
//! # Pairwise probabilities
//!
//! Runs are taken as independent. Each run's distribution is replaced by its `M` mid-point
//! quantiles `Q((i + 0.5) / M)` ([`QuantileDistribution::sample_grid`]), an equal-weight
//! discretisation, and `P(A > B)` is computed exactly on those grids: the share of the `M * M`
//! grid pairs with `a > b`, ties counting one half. Both grids are sorted, so a merge-style
//! count costs `O(M)` per pair and the whole matrix `O(N^2 M)`.
//!
//! The count is an integer `c` out of `D = 2 M^2` (halves included). The larger of `c / D` and
//! `(D - c) / D` is computed by division and the smaller as one minus it, a subtraction that is
//! exact for numbers in [0.5, 1]; so `P(A > B) + P(B > A) == 1` holds exactly in floating point,
//! not just up to rounding. Identical distributions give exactly 0.5.
//!
//! The diagonal is not a comparison and is reported as `None` (`null` in JSON).
//!
//! # The order
//!
//! Runs are sorted by expected wins, `W(A) = sum over B != A of P(A > B)`, the number of
//! others A is expected to beat; for two runs it is just `P(A > B)`, and it rewards being
//! likely ahead of many runs rather than far ahead of a few. Equal wins (identical forecasts)
//! fall back to the higher forecast median, then to the lower index, so the order is total and
//! deterministic.

use serde::{Deserialize, Serialize};

use crate::Result;
use crate::decisions::distribution::QuantileDistribution;
use crate::error::Error;
use crate::inference::forecast::RunForecast;

/// Grid size used by [`rank`] callers that have no reason to choose: 64 points resolve
/// probabilities to about 1/8000; ranking 64 runs took about 0.25 ms in `benches/plan.rs`.
pub const DEFAULT_GRID: usize = 64;

/// Runs ordered best first, with the pairwise probabilities behind the order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ranking {
    /// Run indices, best first.
    pub order: Vec<usize>,
    /// `prob_above[a][b] = P(run a ends above run b)`; `None` on the diagonal.
    pub prob_above: Vec<Vec<Option<f64>>>,
    /// `expected_wins[a] = sum over b != a of prob_above[a][b]`.
    pub expected_wins: Vec<f64>,
    /// Each run's forecast median, the first tie-break.
    pub medians: Vec<f64>,
}

/// Ranks runs by their final-step distributions on `grid`-point quantile grids.
pub fn rank(dists: &[QuantileDistribution], grid: usize) -> Result<Ranking> {
    if grid == 0 {
        return Err(Error::setting("grid", "must be at least 1 point"));
    }
    let grids: Vec<Vec<f64>> = dists.iter().map(|d| d.sample_grid(grid)).collect();
    let n = dists.len();
    let mut prob_above = vec![vec![None; n]; n];
    for a in 0..n {
        for b in a + 1..n {
            let (p_ab, p_ba) = pair_probabilities(&grids[a], &grids[b]);
            prob_above[a][b] = Some(p_ab);
            prob_above[b][a] = Some(p_ba);
        }
    }
    let expected_wins: Vec<f64> = prob_above
        .iter()
        .map(|row| row.iter().flatten().sum())
        .collect();
    let medians: Vec<f64> = dists.iter().map(|d| d.median()).collect();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| {
        expected_wins[b]
            .total_cmp(&expected_wins[a])
            .then(medians[b].total_cmp(&medians[a]))
            .then(a.cmp(&b))
    });
    Ok(Ranking {
        order,
        prob_above,
        expected_wins,
        medians,
    })
}

/// Ranks runs by the last forecast of each, whose quantiles are at `levels`.
pub fn rank_forecasts(levels: &[f32], runs: &[RunForecast], grid: usize) -> Result<Ranking> {
    let dists = runs
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let last = r
                .last()
                .ok_or_else(|| Error::invalid(i, "forecasts", "no forecast to rank by"))?;
            QuantileDistribution::from_f32(i, levels, &last.quantiles)
        })
        .collect::<Result<Vec<_>>>()?;
    rank(&dists, grid)
}

/// `(P(A > B), P(B > A))` for two sorted, equal-length grids; they sum to exactly 1.
fn pair_probabilities(a: &[f64], b: &[f64]) -> (f64, f64) {
    // Twice the number of pairs with a > b, plus the number of ties: integer "half counts".
    let mut count: u64 = 0;
    let (mut below, mut at_or_below) = (0usize, 0usize);
    for &x in a {
        while below < b.len() && b[below] < x {
            below += 1;
        }
        at_or_below = at_or_below.max(below);
        while at_or_below < b.len() && b[at_or_below] <= x {
            at_or_below += 1;
        }
        count += 2 * below as u64 + (at_or_below - below) as u64;
    }
    let total = 2 * a.len() as u64 * b.len() as u64;
    let larger = count.max(total - count) as f64 / total as f64;
    // Exact: Sterbenz's lemma, larger is in [0.5, 1].
    let smaller = 1.0 - larger;
    if 2 * count >= total {
        (larger, smaller)
    } else {
        (smaller, larger)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inference::forecast::Forecast;

    fn dist(values: [f64; 5]) -> QuantileDistribution {
        QuantileDistribution::new(vec![0.1, 0.25, 0.5, 0.75, 0.9], values.to_vec()).unwrap()
    }

    fn p(r: &Ranking, a: usize, b: usize) -> f64 {
        r.prob_above[a][b].unwrap()
    }

    #[test]
    fn pair_probabilities_sum_to_exactly_one() {
        let runs = [
            dist([0.40, 0.45, 0.50, 0.52, 0.60]),
            dist([0.41, 0.44, 0.49, 0.55, 0.58]),
            dist([0.30, 0.35, 0.37, 0.40, 0.41]),
            dist([0.48, 0.49, 0.50, 0.51, 0.52]),
        ];
        for grid in [1, 7, 64, 100] {
            let r = rank(&runs, grid).unwrap();
            for a in 0..runs.len() {
                assert_eq!(r.prob_above[a][a], None);
                for b in 0..runs.len() {
                    if a != b {
                        assert_eq!(p(&r, a, b) + p(&r, b, a), 1.0, "grid {grid} ({a}, {b})");
                        assert!((0.0..=1.0).contains(&p(&r, a, b)));
                    }
                }
            }
        }
    }

    #[test]
    fn pair_probability_matches_a_brute_force_count() {
        let a = dist([0.40, 0.45, 0.50, 0.52, 0.60]).sample_grid(33);
        let b = dist([0.45, 0.45, 0.50, 0.50, 0.55]).sample_grid(33);
        let mut half_counts = 0;
        for x in &a {
            for y in &b {
                half_counts += if x > y {
                    2
                } else if x == y {
                    1
                } else {
                    0
                };
            }
        }
        let want = half_counts as f64 / (2.0 * 33.0 * 33.0);
        let (got, _) = pair_probabilities(&a, &b);
        assert!((got - want).abs() < 1e-15, "{got} vs {want}");
    }

    #[test]
    fn clearly_better_run_wins_almost_surely() {
        let runs = [
            dist([0.30, 0.31, 0.32, 0.33, 0.34]),
            dist([0.80, 0.81, 0.82, 0.83, 0.84]),
        ];
        let r = rank(&runs, DEFAULT_GRID).unwrap();
        assert!(p(&r, 1, 0) > 0.999, "{}", p(&r, 1, 0));
        assert!(p(&r, 0, 1) < 0.001);
        assert_eq!(r.order, vec![1, 0]);
    }

    #[test]
    fn identical_distributions_are_a_coin_flip() {
        let d = dist([0.40, 0.45, 0.50, 0.52, 0.60]);
        let r = rank(&[d.clone(), d], DEFAULT_GRID).unwrap();
        assert_eq!(p(&r, 0, 1), 0.5);
        assert_eq!(p(&r, 1, 0), 0.5);
        // Equal wins and medians: the lower index first.
        assert_eq!(r.order, vec![0, 1]);
    }

    #[test]
    fn order_follows_expected_wins_on_a_constructed_example() {
        // Run 2 is best, 0 next (wide), 3 just behind 0, 1 worst.
        let runs = [
            dist([0.50, 0.55, 0.60, 0.65, 0.70]),
            dist([0.20, 0.22, 0.25, 0.28, 0.30]),
            dist([0.75, 0.76, 0.78, 0.80, 0.81]),
            dist([0.52, 0.55, 0.58, 0.61, 0.64]),
        ];
        let r = rank(&runs, DEFAULT_GRID).unwrap();
        assert_eq!(r.order, vec![2, 0, 3, 1]);
        let wins = &r.expected_wins;
        assert!(wins[2] > 2.9 && wins[1] < 0.1, "{wins:?}");
        assert!(p(&r, 0, 3) > 0.5 && p(&r, 0, 3) < 0.8, "{}", p(&r, 0, 3));
    }

    #[test]
    fn ties_in_wins_fall_back_to_the_median() {
        // On a 2-point grid run 1 is {0.2, 0.7}: once above and once below run 0's point mass
        // at 0.5, so both expect half a win; run 1's median (0.6) is higher.
        let point = QuantileDistribution::new(vec![0.5], vec![0.5]).unwrap();
        let spread = QuantileDistribution::new(vec![0.25, 0.5, 0.75], vec![0.2, 0.6, 0.7]).unwrap();
        let r = rank(&[point, spread], 2).unwrap();
        assert_eq!(r.expected_wins, vec![0.5, 0.5]);
        assert_eq!(r.order, vec![1, 0]);
    }

    #[test]
    fn rank_forecasts_uses_the_last_forecast() {
        let run = |early: f32, last: f32| RunForecast {
            forecasts: vec![
                Forecast {
                    step: 10.0,
                    quantiles: vec![early - 0.01, early, early + 0.01],
                },
                Forecast {
                    step: 20.0,
                    quantiles: vec![last - 0.01, last, last + 0.01],
                },
            ],
        };
        let runs = [run(0.9, 0.3), run(0.1, 0.6)];
        let r = rank_forecasts(&[0.1, 0.5, 0.9], &runs, DEFAULT_GRID).unwrap();
        assert_eq!(r.order, vec![1, 0]);
        let empty = [RunForecast { forecasts: vec![] }];
        assert!(rank_forecasts(&[0.1, 0.5, 0.9], &empty, DEFAULT_GRID).is_err());
    }

    #[test]
    fn bad_settings_are_errors() {
        assert!(rank(&[dist([0.1, 0.2, 0.3, 0.4, 0.5])], 0).is_err());
        let r = rank(&[], DEFAULT_GRID).unwrap();
        assert!(r.order.is_empty());
    }

    #[test]
    fn ranking_serializes_the_diagonal_as_null() {
        let runs = [
            dist([0.40, 0.45, 0.50, 0.52, 0.60]),
            dist([0.41, 0.44, 0.49, 0.55, 0.58]),
        ];
        let json = serde_json::to_string(&rank(&runs, 16).unwrap()).unwrap();
        assert!(json.contains("[null,"), "{json}");
    }
}
