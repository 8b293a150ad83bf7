//! Token losses -> the loss encoder's fixed-length input (`exp(-loss)`, ordered or a quantile
//! sketch, as the architecture says).

use crate::model::architecture::{EncoderArchitecture, LossRepresentation};

/// Token losses are capped here before `exp(-loss)` (the reference model's clip).
pub const MAX_TOKEN_LOSS: f32 = 20.0;

/// Token loss -> the probability the encoder reads: `exp(-min(loss, 20))`, below 1 - 1e-6
/// (the reference model's preprocessing; +inf becomes the cap).
#[inline]
pub fn loss_to_probability(loss: f32) -> f32 {
    (-loss.min(MAX_TOKEN_LOSS)).exp().clamp(0.0, 1.0 - 1e-6)
}

/// Prepares validated token losses into the encoder's fixed-length input `out` (`loss_len`).
pub fn prepare_losses(losses: &[f32], encoder: &EncoderArchitecture, out: &mut [f32]) {
    debug_assert_eq!(out.len(), encoder.loss_len);
    match encoder.representation {
        LossRepresentation::Ordered => {
            out.fill(0.0);
            for (o, &l) in out.iter_mut().zip(losses) {
                *o = loss_to_probability(l);
            }
        }
        LossRepresentation::Sketch => {
            // The probability is non-increasing in the loss, so the i-th smallest probability is
            // that of the i-th largest loss: sort the losses and pay for `exp` only at the
            // 2 x loss_len order statistics the sketch reads. A radix sort (validated losses
            // hold no NaN) is linear in their number; a scheduler sharing one checkpoint's
            // 256,000 token losses across its tasks spends most of the preparation here.
            let mut sorted = losses.to_vec();
            radsort::sort(&mut sorted);
            let m = sorted.len();
            let p = |i: usize| loss_to_probability(sorted[m - 1 - i]);
            let len = out.len();
            for (j, o) in out.iter_mut().enumerate() {
                // Quantile (j + 0.5) / len of the empirical distribution, interpolated.
                let pos =
                    ((j as f64 + 0.5) / len as f64 * m as f64 - 0.5).clamp(0.0, (m - 1) as f64);
                let lo = pos.floor() as usize;
                let hi = (lo + 1).min(m - 1);
                let w = (pos - lo as f64) as f32;
                let (a, b) = (p(lo), p(hi));
                *o = a + (b - a) * w;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inference::features::validate_losses;

    #[test]
    fn sketch_is_order_free_and_ordered_keeps_order() {
        let mut enc = crate::model::architecture::Architecture::small()
            .encoder
            .unwrap();
        let losses: Vec<f32> = (0..1000).map(|i| (i % 17) as f32 * 0.3).collect();
        let mut rev = losses.clone();
        rev.reverse();
        let (mut a, mut b) = (vec![0.0; enc.loss_len], vec![0.0; enc.loss_len]);
        prepare_losses(&losses, &enc, &mut a);
        prepare_losses(&rev, &enc, &mut b);
        assert_eq!(a, b);
        assert!(a.windows(2).all(|w| w[0] <= w[1]));
        enc.representation = LossRepresentation::Ordered;
        prepare_losses(&[0.0, 1.0, f32::INFINITY], &enc, &mut a);
        assert!((a[0] - (1.0 - 1e-6)).abs() < 1e-9 && (a[1] - (-1.0f32).exp()).abs() < 1e-7);
        assert!(a[2] < 1e-8 && a[3..].iter().all(|&v| v == 0.0));
    }

    #[test]
    fn sketch_equals_sorting_every_probability() {
        // The plain definition: every probability, sorted, then interpolated.
        fn plain(losses: &[f32], len: usize) -> Vec<f32> {
            let mut p: Vec<f32> = losses.iter().map(|&l| loss_to_probability(l)).collect();
            p.sort_unstable_by(f32::total_cmp);
            let m = p.len();
            (0..len)
                .map(|j| {
                    let pos =
                        ((j as f64 + 0.5) / len as f64 * m as f64 - 0.5).clamp(0.0, (m - 1) as f64);
                    let lo = pos.floor() as usize;
                    let hi = (lo + 1).min(m - 1);
                    let w = (pos - lo as f64) as f32;
                    p[lo] + (p[hi] - p[lo]) * w
                })
                .collect()
        }
        let enc = crate::model::architecture::Architecture::small()
            .encoder
            .unwrap();
        let mut rng = crate::rng::SplitMix64::new(3);
        for m in [1, 2, 3, 511, 512, 513, 1000, 70_000] {
            // Ties, zeros of both signs, values past the cap of 20, and +inf among ordinary ones.
            let losses: Vec<f32> = (0..m)
                .map(|_| match rng.next_u64() % 10 {
                    0 => 0.0,
                    1 => -0.0,
                    2 => f32::INFINITY,
                    3 => 25.0 + rng.uniform(0.0, 5.0) as f32,
                    4 => 1.5,
                    _ => rng.uniform(0.0, 8.0) as f32,
                })
                .collect();
            validate_losses(&losses).unwrap();
            let mut got = vec![0.0; enc.loss_len];
            prepare_losses(&losses, &enc, &mut got);
            let want = plain(&losses, enc.loss_len);
            assert!(
                got.iter()
                    .zip(&want)
                    .all(|(g, w)| g.to_bits() == w.to_bits()),
                "{m} losses"
            );
        }
    }
}
