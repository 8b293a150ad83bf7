//! Least-squares curve fits on a run's own context. The power-law fit serves twice: as a
//! baseline forecaster (`eval::baselines`) and as one input feature of the forecaster
//! (`features`), which learns when a curve's own extrapolation can be trusted.

/// How many of the last successive differences estimate persistence's step noise: recent
/// ones, because early training moves much faster than late training.
pub(crate) const RECENT_DIFFS: usize = 4;

/// Root mean square of the last few successive differences (0 with fewer than two points).
pub(crate) fn recent_step_noise(y: &[f64]) -> f64 {
    let diffs: Vec<f64> = y.windows(2).map(|w| w[1] - w[0]).collect();
    let recent = &diffs[diffs.len().saturating_sub(RECENT_DIFFS)..];
    if recent.is_empty() {
        return 0.0;
    }
    (recent.iter().map(|d| d * d).sum::<f64>() / recent.len() as f64).sqrt()
}

/// Least squares of `y ~ alpha * f + beta * g` over the points; `None` if singular.
///
/// Returns the coefficients and the sum of squared residuals.
pub(crate) fn two_feature_ls(f: &[f64], g: &[f64], y: &[f64]) -> Option<(f64, f64, f64)> {
    let (mut ff, mut fg, mut gg, mut fy, mut gy) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for ((&fi, &gi), &yi) in f.iter().zip(g).zip(y) {
        ff += fi * fi;
        fg += fi * gi;
        gg += gi * gi;
        fy += fi * yi;
        gy += gi * yi;
    }
    let det = ff * gg - fg * fg;
    // Relative test: near-collinear features make the coefficients meaningless.
    let well_posed = det.abs() > 1e-10 * ff * gg; // false for NaN too
    if !well_posed {
        return None;
    }
    let alpha = (fy * gg - gy * fg) / det;
    let beta = (gy * ff - fy * fg) / det;
    let sse = f
        .iter()
        .zip(g)
        .zip(y)
        .map(|((&fi, &gi), &yi)| (yi - alpha * fi - beta * gi).powi(2))
        .sum();
    Some((alpha, beta, sse))
}

/// Residual standard deviation with `params` degrees of freedom spent; with no residual
/// degrees of freedom left, the step noise of the data stands in.
pub(crate) fn residual_sigma(sse: f64, n: usize, params: usize, y: &[f64]) -> f64 {
    if n > params {
        (sse / (n - params) as f64).sqrt()
    } else {
        recent_step_noise(y)
    }
}

/// The context's points with positive compute, as (x, y).
pub(crate) fn positive_points(x: &[f64], y: &[f64]) -> (Vec<f64>, Vec<f64>) {
    x.iter()
        .zip(y)
        .filter(|(xi, yi)| **xi > 0.0 && xi.is_finite() && yi.is_finite())
        .map(|(&xi, &yi)| (xi, yi))
        .unzip()
}

pub(crate) fn log_grid(lo: f64, hi: f64, n: usize) -> impl Iterator<Item = f64> {
    (0..n).map(move |i| (lo.ln() + (hi.ln() - lo.ln()) * i as f64 / (n - 1) as f64).exp())
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct PowerLawFit {
    pub(crate) a: f64,
    pub(crate) b: f64,
    pub(crate) c: f64,
    /// Compute is divided by this (the last context point) so that `x^(-c)` stays near 1.
    pub(crate) scale: f64,
    pub(crate) sigma: f64,
}

impl PowerLawFit {
    pub(crate) fn predict(&self, x: f64) -> f64 {
        if x <= 0.0 {
            return self.a - self.b;
        }
        self.a - self.b * (x / self.scale).powf(-self.c)
    }
}

pub(crate) fn fit_power_law(x: &[f64], y: &[f64]) -> Option<PowerLawFit> {
    let (x, y) = positive_points(x, y);
    if x.len() < 3 {
        return None;
    }
    let scale = *x.last()?;
    let ones = vec![1.0; x.len()];
    // (x / scale)^(-c) as exp(-c ln(x / scale)) with the logarithms taken once: an exp per
    // point and exponent instead of a pow. With a pow, this fit was half of the default
    // model's 30-point forecast.
    let log_x: Vec<f64> = x.iter().map(|&xi| (xi / scale).ln()).collect();
    let mut u = vec![0.0; x.len()];
    // Least squares for a, b at one exponent c: y = a * 1 + (-b) * (x / scale)^(-c).
    let mut solve = |c: f64| -> Option<(f64, PowerLawFit)> {
        for (ui, &lx) in u.iter_mut().zip(&log_x) {
            *ui = (-c * lx).exp();
        }
        let (a, minus_b, sse) = two_feature_ls(&ones, &u, &y)?;
        let fit = PowerLawFit {
            a,
            b: -minus_b,
            c,
            scale,
            sigma: 0.0,
        };
        Some((sse, fit))
    };
    const GRID: usize = 40;
    let (lo, hi) = (0.02f64, 4.0f64);
    let grid: Vec<f64> = log_grid(lo, hi, GRID).collect();
    let best_i = (0..GRID)
        .filter_map(|i| Some((i, solve(grid[i])?.0)))
        .min_by(|a, b| a.1.total_cmp(&b.1))?
        .0;
    // The grid only brackets the exponent; golden-section search in log c between the best
    // point's neighbours pins it down, which matters when extrapolating far. Each step keeps
    // one of its two inner points, so it costs one new fit.
    let (mut a, mut b) = (
        grid[best_i.saturating_sub(1)].ln(),
        grid[(best_i + 1).min(GRID - 1)].ln(),
    );
    let mut sse_at = |lc: f64| solve(lc.exp()).map_or(f64::INFINITY, |s| s.0);
    let phi = (5f64.sqrt() - 1.0) / 2.0;
    let (mut m1, mut m2) = (b - phi * (b - a), a + phi * (b - a));
    let (mut f1, mut f2) = (sse_at(m1), sse_at(m2));
    for _ in 0..40 {
        if f1 <= f2 {
            (b, m2, f2) = (m2, m1, f1);
            m1 = b - phi * (b - a);
            f1 = sse_at(m1);
        } else {
            (a, m1, f1) = (m1, m2, f2);
            m2 = a + phi * (b - a);
            f2 = sse_at(m2);
        }
    }
    let refined = solve(((a + b) / 2.0).exp());
    let coarse = solve(grid[best_i]);
    let (sse, mut fit) = match (refined, coarse) {
        (Some(r), Some(c)) if r.0 <= c.0 => r,
        (_, c) => c?,
    };
    fit.sigma = residual_sigma(sse, x.len(), 3, &y);
    Some(fit)
}
