//! The run summary the bundle's trees read: eight numbers per (context, target), in a layout
//! named by [`SUMMARY_LAYOUT`] and recorded in the trees it fits, so that trees fitted on another
//! layout are refused at load instead of read wrongly.

use crate::inference::curvefit::{PowerLawFit, fit_power_law};

pub use crate::model::inputs::{
    LossSummary, MAX_LOSS_SUMMARY, P_HISTOGRAM_BINS, SUMMARY_FEATURES, SUMMARY_LAYOUT,
};

/// The numbers `kind` reads of one checkpoint's token losses (checked by
/// `features::validate_losses`: none NaN or negative, not empty; `+inf` gives `p = 0`),
/// appended to `out`.
pub fn summarize_losses(kind: LossSummary, losses: &[f32], out: &mut Vec<f64>) {
    let p = losses.iter().map(|&l| (-(l as f64)).exp());
    let n = losses.len().max(1) as f64;
    match kind {
        LossSummary::MeanP => out.push(p.sum::<f64>() / n),
        LossSummary::PHistogram => {
            let mut counts = [0usize; P_HISTOGRAM_BINS];
            let bins = P_HISTOGRAM_BINS as f64;
            for p in p {
                // Bins are (b/B, (b+1)/B]; p = 0 (an infinite loss) joins the first.
                let b = ((p * bins).ceil() as usize).clamp(1, P_HISTOGRAM_BINS) - 1;
                counts[b] += 1;
            }
            out.extend(counts.iter().map(|&c| c as f64 / n));
        }
    }
}

/// A context (`steps`, `accuracy`, oldest first, at least 1 point, the last step positive)
/// prepared once for the summaries of all of its targets. A one-point context (a bundle may
/// accept them) has no increment, rise or span: those are 0.
pub struct RunSummary<'a> {
    steps: &'a [f64],
    accuracy: &'a [f64],
    fit: Option<PowerLawFit>,
}

impl<'a> RunSummary<'a> {
    pub fn new(steps: &'a [f64], accuracy: &'a [f64]) -> Self {
        Self::with_fit(steps, accuracy, fit_power_law(steps, accuracy))
    }

    /// The same with the context's power-law fit already taken (the engine's `RunFeatures` fits
    /// the same points), so a forecast fits each run once.
    pub(crate) fn with_fit(
        steps: &'a [f64],
        accuracy: &'a [f64],
        fit: Option<PowerLawFit>,
    ) -> Self {
        RunSummary {
            steps,
            accuracy,
            fit,
        }
    }

    /// The last observed value, which the trees' output is an offset from.
    pub fn last(&self) -> f64 {
        self.accuracy[self.accuracy.len() - 1]
    }

    /// The summary for a target step after the context. All compute enters as ratios, so it is
    /// the same in any unit. In order: the last value, the last increment, the rise over the
    /// context, the run's power-law fit at the target and at twice the last compute (offsets
    /// from the last value; 0 where no fit exists), the log horizon, the number of points, the
    /// log span.
    pub fn at(&self, target: f64) -> [f64; SUMMARY_FEATURES] {
        let (steps, accuracy) = (self.steps, self.accuracy);
        let n = steps.len();
        let (x_last, y_last) = (steps[n - 1], accuracy[n - 1]);
        // A branch, not `map(..).filter(..).unwrap_or(..)`: optimised, that chain read the
        // payload of a `None` fit (uninitialised) before discarding it, which valgrind reports
        // as a conditional move on uninitialised values.
        let fit_offset = |x: f64| match &self.fit {
            Some(f) => {
                let offset = f.predict(x).clamp(0.0, 1.0) - y_last;
                if offset.is_finite() { offset } else { 0.0 }
            }
            None => 0.0,
        };
        [
            y_last,
            y_last - accuracy[n.saturating_sub(2)],
            y_last - accuracy[0],
            fit_offset(target),
            (target / x_last).ln(),
            n as f64,
            fit_offset(2.0 * x_last),
            (x_last / steps[0].max(x_last * 1e-6)).ln(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_does_not_depend_on_the_compute_unit() {
        let steps = [1.0e3, 2.0e3, 4.0e3, 8.0e3];
        let acc = [0.30, 0.36, 0.40, 0.43];
        let a = RunSummary::new(&steps, &acc).at(3.2e4);
        let scaled: Vec<f64> = steps.iter().map(|s| s * 1e6).collect();
        let b = RunSummary::new(&scaled, &acc).at(3.2e10);
        for (u, v) in a.iter().zip(&b) {
            assert!((u - v).abs() < 1e-9, "{a:?} vs {b:?}");
        }
        // The fit of a rising, flattening curve forecasts further rise at 4x the last step.
        assert!(a[3] > 0.0 && a[3] < 0.2, "{a:?}");
        assert_eq!(a[5], 4.0);
        let one = RunSummary::new(&[5.0], &[0.4]).at(10.0);
        assert_eq!(one, [0.4, 0.0, 0.0, 0.0, 2f64.ln(), 1.0, 0.0, 0.0]);
    }

    #[test]
    fn loss_summaries_read_probabilities() {
        // p = 1, 0.5, 0.25 and 0 (an infinite loss).
        let losses = [0.0, 2f32.ln(), 4f32.ln(), f32::INFINITY];
        let mut mean = Vec::new();
        summarize_losses(LossSummary::MeanP, &losses, &mut mean);
        assert_eq!(mean.len(), 1);
        assert!((mean[0] - 1.75 / 4.0).abs() < 1e-7, "{mean:?}");
        let mut hist = Vec::new();
        summarize_losses(LossSummary::PHistogram, &losses, &mut hist);
        // Bins (0, .2], (.2, .4], (.4, .6], (.6, .8], (.8, 1]; p = 0 joins the first.
        assert_eq!(hist, [0.25, 0.25, 0.25, 0.0, 0.25]);
        assert_eq!(hist.len(), LossSummary::PHistogram.width());
        // The engine builds a loss-trees row on the stack, MAX_LOSS_SUMMARY wide at most.
        assert!(
            LossSummary::ALL
                .iter()
                .all(|k| k.width() <= MAX_LOSS_SUMMARY)
        );
    }
}
