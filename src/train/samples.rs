//! Training samples, drawn as the paper draws them: a context prefix of a curve, a later target
//! on the same curve, interior context points dropped at random (p = 0.4 by default; first and
//! last kept) so the model sees irregular checkpoint spacing. Half of the context ends are drawn
//! early in the curve, where a scheduler makes its decisions (`EARLY_CONTEXT_SHARE`). Rows are prepared by the same
//! `features::write_row` the engine uses.

use crate::curves::Curve;
use crate::inference::features::{self, CONTEXT_FEATURES};
use rand::Rng;
use rand::rngs::StdRng;

/// Share of draws whose context ends early in the curve (by compute); the rest end anywhere.
pub const EARLY_CONTEXT_SHARE: f64 = 0.5;

/// One (context, target) draw, as indices into a curve.
#[derive(Debug, Clone)]
pub struct Draw {
    pub curve: usize,
    /// Kept context indices, increasing (the last is the context end).
    pub context: Vec<usize>,
    pub target: usize,
}

/// Draws a sample from curve `ci`, or `None` when it is too short for `min_context` + 1 points.
/// `early_share` of the contexts end early in the curve (training: [`EARLY_CONTEXT_SHARE`]).
pub fn draw(
    rng: &mut StdRng,
    curves: &[Curve],
    ci: usize,
    min_context: usize,
    drop_p: f64,
    early_share: f64,
) -> Option<Draw> {
    let n = curves[ci].compute.len();
    if n < min_context + 1 {
        return None;
    }
    let end = if rng.random_bool(early_share) {
        // Early decisions are the product's use: the context ends at a random 5-50% of the
        // curve's final compute (at least `min_context` points, at least one target left).
        let c = &curves[ci].compute;
        let cut = c[n - 1] * rng.random_range(0.05..0.5);
        (c.iter().filter(|&&x| x <= cut).count().max(min_context) - 1).min(n - 2)
    } else {
        rng.random_range(min_context - 1..n - 1)
    };
    let target = rng.random_range(end + 1..n);
    // The first usable point: a curve's compute-0 checkpoint is kept only half of the time, so
    // the model learns both with and without an untrained starting point.
    let first = if curves[ci].compute[0] <= 0.0 && end > min_context - 1 && rng.random_bool(0.5) {
        1
    } else {
        0
    };
    let mut context: Vec<usize> = (first..=end)
        .filter(|&i| i == first || i == end || !rng.random_bool(drop_p))
        .collect();
    while context.len() < min_context {
        // Dropping went below the minimum: put back the latest dropped points.
        let missing = (first..=end).rev().find(|i| !context.contains(i)).unwrap();
        context.push(missing);
        context.sort_unstable();
    }
    Some(Draw {
        curve: ci,
        context,
        target,
    })
}

/// A batch of prepared rows, laid out as the forecaster graph's inputs.
#[derive(Debug, Default)]
pub struct Rows {
    pub context: Vec<f32>,
    pub key_mask: Vec<f32>,
    pub anchor: Vec<f32>,
    pub target: Vec<f32>,
    pub len: usize,
}

impl Rows {
    pub fn push(&mut self, curve: &Curve, d: &Draw, max_context: usize) {
        let steps: Vec<f64> = d.context.iter().map(|&i| curve.compute[i]).collect();
        let acc: Vec<f64> = d.context.iter().map(|&i| curve.accuracy[i]).collect();
        let (c0, m0) = (self.context.len(), self.key_mask.len());
        self.context
            .resize(c0 + max_context * CONTEXT_FEATURES, 0.0);
        self.key_mask.resize(m0 + max_context + 2, 0.0);
        let anchor = features::write_row(
            &steps,
            &acc,
            curve.compute[d.target],
            max_context,
            &mut self.context[c0..],
            &mut self.key_mask[m0..],
        );
        self.anchor.push(anchor);
        self.target.push(curve.accuracy[d.target] as f32);
        self.len += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn curve(n: usize) -> Curve {
        Curve {
            suite: "s".into(),
            run: "r".into(),
            shots: "0".into(),
            task: "t".into(),
            compute: (0..n).map(|i| i as f64 * 10.0).collect(),
            accuracy: (0..n).map(|i| i as f64 / n as f64).collect(),
            stderr: vec![None; n],
        }
    }

    #[test]
    fn draws_are_valid_prefixes_with_later_targets() {
        let curves = vec![curve(12), curve(2)];
        let mut rng = StdRng::seed_from_u64(3);
        assert!(draw(&mut rng, &curves, 1, 2, 0.4, EARLY_CONTEXT_SHARE).is_none());
        for _ in 0..500 {
            let d = draw(&mut rng, &curves, 0, 2, 0.4, EARLY_CONTEXT_SHARE).unwrap();
            assert!(d.context.len() >= 2);
            assert!(d.context.windows(2).all(|w| w[0] < w[1]));
            assert!(d.target > *d.context.last().unwrap());
        }
    }
}
