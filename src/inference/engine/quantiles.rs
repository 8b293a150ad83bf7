//! The last step of every forecast: the trees' median, then the clamp and exact ordering.

/// Moves every quantile by the same amount so that the median is `median_value`: the network's
/// band widths around the trees' median. A uniform shift keeps the quantiles' order.
pub fn shift_to_median(q: &mut [f32], median: usize, median_value: f32) {
    let shift = median_value - q[median];
    for v in q.iter_mut() {
        *v += shift;
    }
}

/// The documented post-processing: clamp to [0, 1] (the metric's range; clamping is monotone so
/// it keeps the graph's ordering), then make ordering exact outward from the median, which
/// absorbs any last-ulp rounding of the graph's sums. A non-finite output is an error.
pub fn finalize_quantiles(q: &mut [f32], median: usize) -> Result<(), NonFiniteQuantiles> {
    if q.iter().any(|v| !v.is_finite()) {
        return Err(NonFiniteQuantiles(q.to_vec()));
    }
    for v in q.iter_mut() {
        *v = v.clamp(0.0, 1.0);
    }
    for j in median + 1..q.len() {
        q[j] = q[j].max(q[j - 1]);
    }
    for j in (0..median).rev() {
        q[j] = q[j].min(q[j + 1]);
    }
    Ok(())
}

/// The graph produced a NaN or an infinity among a row's quantiles (shown in full).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("the model produced a non-finite quantile {0:?}")]
pub struct NonFiniteQuantiles(pub Vec<f32>);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finalize_clamps_and_orders() {
        let mut q = [-0.1f32, 0.3, 0.2, 0.19, 1.4];
        finalize_quantiles(&mut q, 2).unwrap();
        assert_eq!(q, [0.0, 0.2, 0.2, 0.2, 1.0]);
        assert!(finalize_quantiles(&mut [0.1, f32::NAN, 0.2], 1).is_err());
    }
}
