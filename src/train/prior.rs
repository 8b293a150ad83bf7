//! A synthetic prior of learning curves, mixed into training (`TrainConfig::prior_share`) so the
//! model sees shapes and checkpoint schedules the two public files lack: saturating power laws,
//! late rises (emergence, logistic in log compute), plateaus near chance, inverse scaling (a rise
//! then a decline), and evaluation noise of every size, on Pythia-like doubling-then-linear,
//! epoch-like evenly spaced, and irregular schedules, in any compute unit.

use crate::curves::Curve;
use rand::Rng;
use rand::rngs::StdRng;

/// The suite name of generated curves (never held out, never validated on).
pub const SUITE: &str = "synthetic-prior";

/// `count` generated curves, deterministic for the RNG's state.
pub fn curves(rng: &mut StdRng, count: usize) -> Vec<Curve> {
    (0..count).map(|i| curve(rng, i)).collect()
}

fn curve(rng: &mut StdRng, index: usize) -> Curve {
    let compute = schedule(rng);
    let last = *compute.last().unwrap();
    let chance: f64 = if rng.random_bool(0.5) {
        rng.random_range(0.0..0.5)
    } else {
        [0.0, 0.25, 0.5][rng.random_range(0..3)]
    };
    let top: f64 = (chance + rng.random_range(0.02..0.7f64)).min(1.0);
    // Every shape is a function of t = compute / final compute in (0, 1], so multiplying the
    // schedule by a constant changes nothing, as for the real data.
    let shape = rng.random_range(0..5);
    let (alpha, knee) = (rng.random_range(0.2..1.5), rng.random_range(0.002..0.5));
    let (mid, width) = (rng.random_range(-5.0..1.0), rng.random_range(0.2..1.5));
    let (peak, fall) = (rng.random_range(0.2..0.9), rng.random_range(0.1..0.8));
    let noise = (rng.random_range(0.001f64.ln()..0.03f64.ln())).exp();
    let accuracy = compute
        .iter()
        .map(|&x| {
            let t = (x / last).max(1e-9);
            let power = 1.0 - (1.0 + t / knee).powf(-alpha);
            let logistic = 1.0 / (1.0 + (-(t.ln() - mid) / width).exp());
            let progress = match shape {
                0 | 1 => power,
                2 => logistic,
                3 => 0.05 * power,
                _ => power - fall * (t - peak).max(0.0) / (1.0 - peak),
            };
            let y = chance + (top - chance) * progress + noise * normal(rng);
            y.clamp(0.0, 1.0)
        })
        .collect::<Vec<f64>>();
    Curve {
        suite: SUITE.into(),
        run: format!("prior-{index}"),
        shots: "0".into(),
        task: format!("shape-{shape}"),
        stderr: vec![None; compute.len()],
        compute,
        accuracy,
    }
}

/// Increasing checkpoint compute in an arbitrary unit.
fn schedule(rng: &mut StdRng) -> Vec<f64> {
    let unit = 10f64.powf(rng.random_range(2.0..12.0));
    let n = rng.random_range(4..=40usize);
    let mut c: Vec<f64> = match rng.random_range(0..3) {
        // Doubling warm-up checkpoints, then evenly spaced ones (Pythia-like).
        0 => {
            let doubling = rng.random_range(1..=n / 2);
            let mut v: Vec<f64> = (0..doubling).map(|i| 2f64.powi(i as i32)).collect();
            let start = v.last().copied().unwrap_or(1.0);
            let step = start * rng.random_range(2.0..20.0);
            v.extend((1..=n - doubling).map(|i| start + i as f64 * step));
            v
        }
        // Evenly spaced (epochs).
        1 => (1..=n).map(|i| i as f64).collect(),
        // Irregular: random positive gaps.
        _ => {
            let mut x = 0.0;
            (0..n)
                .map(|_| {
                    x += rng.random_range(0.05..1.0f64).powi(2);
                    x
                })
                .collect()
        }
    };
    for v in &mut c {
        *v *= unit;
    }
    c
}

/// A standard normal draw (Box-Muller).
fn normal(rng: &mut StdRng) -> f64 {
    let (u, v): (f64, f64) = (rng.random_range(1e-12..1.0), rng.random());
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn curves_are_valid_training_curves() {
        let mut rng = StdRng::seed_from_u64(9);
        for c in curves(&mut rng, 500) {
            assert!(c.compute.len() >= 4);
            assert!(c.compute.windows(2).all(|w| w[0] < w[1]), "{:?}", c.compute);
            assert!(c.accuracy.iter().all(|a| (0.0..=1.0).contains(a)));
        }
    }
}
