//! Fitting the bundle's trees (`model::trees`): gradient-boosted regression trees for the median
//! (absolute loss), on the run summary of `inference::summary`. Where a bundle has one, the engine moves
//! the network's quantiles so that their median is the trees' (the network keeps the band
//! shapes). Boosted trees on these numbers forecast the median better than the network on both
//! curve files, over two k-folds of runs (`docs/results/experiments-2026-11-30.md`, session 11):
//! tabular summaries are where trees are strong, and the network is strong at the bands.
//!
//! The algorithm is scikit-learn's `HistGradientBoostingRegressor(loss="absolute_error")` in
//! outline: features binned at their quantiles, trees grown best-first on the sign of the
//! residuals (the absolute loss's gradient), each leaf then set to the median residual of its
//! rows (the loss's own line search), shrunk by the learning rate.

use crate::curves::Curve;
use crate::curves::losses::CurveLosses;
use crate::inference::summary::{LossSummary, RunSummary, summarize_losses};
use crate::model::trees::{Booster, Node, leaf_of};

/// Fewest points a cut (the context of a training row) has, with positive compute; a curve
/// starting at compute 0 needs one more, since that point gives the power-law fit nothing.
pub const MIN_CUT: usize = 3;

/// The first cut of `c`: [`MIN_CUT`] points, one more when it starts at compute 0.
fn first_cut(c: &Curve) -> usize {
    if c.compute.first().is_some_and(|&x| x > 0.0) {
        MIN_CUT
    } else {
        MIN_CUT + 1
    }
}

/// Whether `c` gives the trees at least one training row (a cut and a later target).
pub fn teaches(c: &Curve) -> bool {
    c.compute.len() > first_cut(c)
}

/// The cuts of `c` the trees learn from: every prefix length from its first cut to one before
/// its end, thinned evenly to at most [`MAX_CUTS`]; none if `c` does not teach.
pub fn cuts(c: &Curve) -> impl Iterator<Item = usize> {
    let (n, first) = (c.compute.len(), first_cut(c));
    let stride = n.saturating_sub(first).div_ceil(MAX_CUTS).max(1);
    (first..n).step_by(stride)
}

/// Cuts per curve at most in the trees' training rows: Pythia's 150-checkpoint curves would
/// otherwise give 10,000 (cut, target) rows each, ScAn's 10-epoch ones about 30.
pub const MAX_CUTS: usize = 16;

/// The trees' training rows (row-major, `SUMMARY_FEATURES` wide, plus the loss summary's
/// width with `losses`) and labels: every (cut of at least 3 points, later target) of
/// `curves`, the cuts thinned evenly to `MAX_CUTS` per curve; the label is the target's offset
/// from the cut's last value. With `losses`, only the cuts whose last checkpoint has losses,
/// their summary after the run's.
pub fn training_rows<'a>(
    curves: impl IntoIterator<Item = &'a Curve>,
    losses: Option<(&CurveLosses, LossSummary)>,
) -> (Vec<f64>, Vec<f64>) {
    let (mut x, mut y) = (Vec::new(), Vec::new());
    let mut loss_numbers = Vec::new();
    for c in curves {
        for cut in cuts(c) {
            loss_numbers.clear();
            if let Some((by_checkpoint, kind)) = losses {
                let Some(tokens) = by_checkpoint.of_context(c, cut) else {
                    continue;
                };
                summarize_losses(kind, tokens, &mut loss_numbers);
            }
            let run = RunSummary::new(&c.compute[..cut], &c.accuracy[..cut]);
            for t in cut..c.compute.len() {
                x.extend(run.at(c.compute[t]));
                x.extend_from_slice(&loss_numbers);
                y.push(c.accuracy[t] - run.last());
            }
        }
    }
    (x, y)
}

/// How the trees are grown; the defaults are scikit-learn's, with 300 rounds at rate 0.05.
#[derive(Debug, Clone)]
pub struct BoosterConfig {
    pub rounds: usize,
    pub learning_rate: f64,
    pub max_leaves: usize,
    pub min_leaf: usize,
    /// Bins per feature (at most 256, so a bin fits in a byte).
    pub bins: usize,
}

impl Default for BoosterConfig {
    fn default() -> Self {
        BoosterConfig {
            rounds: 300,
            learning_rate: 0.05,
            max_leaves: 31,
            min_leaf: 20,
            bins: 255,
        }
    }
}

/// Fits the median of `y` given `x` (rows of `width` values, row-major, made with the summary
/// named `layout`: [`SUMMARY_LAYOUT`], or a `LossSummary::layout`).
pub fn fit(x: &[f64], width: usize, y: &[f64], cfg: &BoosterConfig, layout: &str) -> Booster {
    let rows = y.len();
    assert_eq!(x.len(), rows * width, "x must hold `width` values per row");
    assert!((2..=256).contains(&cfg.bins), "bins must be within 2..=256");
    let edges: Vec<Vec<f64>> = (0..width)
        .map(|f| bin_edges((0..rows).map(|r| x[r * width + f]), cfg.bins))
        .collect();
    // Column-major bins: the histogram of a feature reads one contiguous column.
    let binned: Vec<Vec<u8>> = (0..width)
        .map(|f| {
            (0..rows)
                .map(|r| edges[f].partition_point(|&e| e < x[r * width + f]) as u8)
                .collect()
        })
        .collect();
    let base = median(&mut y.to_vec());
    let features = width;
    let mut pred = vec![base; rows];
    let mut trees = Vec::with_capacity(cfg.rounds);
    for _ in 0..cfg.rounds {
        let residual: Vec<f64> = y.iter().zip(&pred).map(|(t, p)| t - p).collect();
        let tree = grow(&binned, &edges, &residual, cfg);
        for (r, p) in pred.iter_mut().enumerate() {
            *p += leaf_of(&tree, |f| x[r * width + f]);
        }
        trees.push(tree);
    }
    Booster {
        features,
        summary: layout.into(),
        base,
        trees,
    }
}

/// Up to `bins - 1` thresholds at the quantiles of a feature's distinct values.
fn bin_edges(values: impl Iterator<Item = f64>, bins: usize) -> Vec<f64> {
    let mut v: Vec<f64> = values.filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    v.dedup();
    if v.len() <= bins {
        // Midpoints between distinct values: every value gets a bin of its own.
        return v.windows(2).map(|w| 0.5 * (w[0] + w[1])).collect();
    }
    let mut edges: Vec<f64> = (1..bins).map(|k| v[k * v.len() / bins]).collect();
    edges.dedup();
    edges
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mid = v.len() / 2;
    let (_, m, _) = v.select_nth_unstable_by(mid, f64::total_cmp);
    *m
}

/// A leaf being grown: its rows and its best split, if any gains.
struct Open {
    node: usize,
    rows: Vec<u32>,
    split: Option<(f64, usize, usize)>, // (gain, feature, bin)
}

/// One tree fitted to the residuals' signs (the absolute loss's gradient), best leaf first; each
/// leaf then takes the median residual of its rows, times the learning rate.
fn grow(
    binned: &[Vec<u8>],
    edges: &[Vec<f64>],
    residual: &[f64],
    cfg: &BoosterConfig,
) -> Vec<Node> {
    // Not `f64::signum`, which is 1 at 0: a row already at its median pulls no way.
    let sign: Vec<f64> = residual
        .iter()
        .map(|&r| {
            if r > 0.0 {
                1.0
            } else if r < 0.0 {
                -1.0
            } else {
                0.0
            }
        })
        .collect();
    let best_split = |rows: &[u32]| -> Option<(f64, usize, usize)> {
        if rows.len() < 2 * cfg.min_leaf {
            return None;
        }
        let total: f64 = rows.iter().map(|&r| sign[r as usize]).sum();
        let n = rows.len() as f64;
        let mut best: Option<(f64, usize, usize)> = None;
        for (f, column) in binned.iter().enumerate() {
            let (mut sum, mut count) = ([0.0f64; 256], [0u32; 256]);
            for &r in rows {
                let b = column[r as usize] as usize;
                sum[b] += sign[r as usize];
                count[b] += 1;
            }
            let (mut left_sum, mut left_n) = (0.0, 0u32);
            for b in 0..edges[f].len() {
                left_sum += sum[b];
                left_n += count[b];
                let right_n = rows.len() as u32 - left_n;
                if (left_n as usize) < cfg.min_leaf || (right_n as usize) < cfg.min_leaf {
                    continue;
                }
                let right_sum = total - left_sum;
                let gain = left_sum * left_sum / left_n as f64
                    + right_sum * right_sum / right_n as f64
                    - total * total / n;
                if gain > 1e-12 && best.is_none_or(|(g, _, _)| gain > g) {
                    best = Some((gain, f, b));
                }
            }
        }
        best
    };
    let all: Vec<u32> = (0..residual.len() as u32).collect();
    let mut nodes = vec![Node::Leaf(0.0)];
    let mut open = vec![Open {
        node: 0,
        split: best_split(&all),
        rows: all,
    }];
    let mut leaves = 1;
    while leaves < cfg.max_leaves {
        let Some(pick) = (0..open.len())
            .filter(|&i| open[i].split.is_some())
            .max_by(|&a, &b| {
                open[a]
                    .split
                    .unwrap()
                    .0
                    .total_cmp(&open[b].split.unwrap().0)
            })
        else {
            break;
        };
        let leaf = open.swap_remove(pick);
        let (_, feature, bin) = leaf.split.unwrap();
        let (left_rows, right_rows): (Vec<u32>, Vec<u32>) = leaf
            .rows
            .iter()
            .partition(|&&r| binned[feature][r as usize] as usize <= bin);
        let (left, right) = (nodes.len(), nodes.len() + 1);
        nodes.push(Node::Leaf(0.0));
        nodes.push(Node::Leaf(0.0));
        nodes[leaf.node] = Node::Split(feature, edges[feature][bin], left, right);
        for (node, rows) in [(left, left_rows), (right, right_rows)] {
            open.push(Open {
                node,
                split: best_split(&rows),
                rows,
            });
        }
        leaves += 1;
    }
    for leaf in open {
        let mut r: Vec<f64> = leaf.rows.iter().map(|&i| residual[i as usize]).collect();
        nodes[leaf.node] = Node::Leaf(cfg.learning_rate * median(&mut r));
    }
    nodes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fits_the_median_of_a_step_function_under_skewed_noise() {
        // y = 1 above x = 0.5, else 0, plus noise whose mean is far from its median of 0: a
        // least-squares fit would follow the mean (about +0.3), the median fit must not.
        let mut state = 7u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let (mut x, mut y) = (vec![], vec![]);
        for _ in 0..4000 {
            let (a, b, u) = (next(), next(), next());
            x.extend([a, b]);
            // 70% of the rows sit on the step, the rest 1-3 above it: the median is the step.
            let noise = if u < 0.7 { 0.0 } else { 1.0 + 2.0 * next() };
            y.push(if a > 0.5 { 1.0 } else { 0.0 } + noise);
        }
        // Leaves of 200 rows or more: a small leaf can by chance hold mostly noisy rows, and
        // its median then follows them.
        let cfg = BoosterConfig {
            rounds: 60,
            learning_rate: 0.2,
            max_leaves: 8,
            min_leaf: 200,
            ..Default::default()
        };
        let booster = fit(&x, 2, &y, &cfg, "test-layout");
        for (a, want) in [(0.2, 0.0), (0.8, 1.0)] {
            for b in [0.1, 0.9] {
                let got = booster.predict(&[a, b]);
                assert!(
                    (got - want).abs() < 0.05,
                    "f({a}, {b}) = {got}, want {want}"
                );
            }
        }
    }
}
