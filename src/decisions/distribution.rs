//! A full probability distribution built from a forecast's handful of quantiles, so that
//! ranking and planning can ask for any quantile, the CDF at any value, or samples.
//!
//! # The quantile function
//!
//! Given levels `l_0 < ... < l_{n-1}` in (0, 1) and non-decreasing values `v_i` in [0, 1]:
//!
//! - between two given levels, `Q(u)` interpolates the values linearly in `u`; so `Q(l_i) = v_i`
//!   exactly and the density is flat between neighbouring quantiles (the least informative
//!   choice that honours the forecast);
//! - beyond the outer levels the forecast says nothing about shape, so the tail is the one of a
//!   normal distribution: below `l_0`, `Q(u) = v_0 + sigma_lo * (z(u) - z(l_0))` with
//!   `z = Phi^-1`, and symmetrically above `l_{n-1}`. The scale comes from the outer half-width:
//!   `sigma_lo = (v_c - v_0) / (z(l_c) - z(l_0))` where `c` is the level closest to 0.5 (the
//!   median for the usual levels), and likewise `sigma_hi` from `c` and `n - 1`. A normal with
//!   that scale would put exactly these quantiles at `l_0` and `l_c`; using the wide, central
//!   pair rather than the two outermost levels keeps the tail from inheriting the noise of one
//!   narrow gap. With the outer level equal to the centre (e.g. levels `[0.5, 0.9]`) the
//!   neighbouring level stands in for the centre; with a single level the distribution is a point
//!   mass at its value.
//! - `Q` is clamped to [0, 1], the range of the metric, so the clamped tails become atoms at 0
//!   and 1.
//!
//! `Phi^-1` is Acklam's rational approximation (relative error 1.15e-9) polished by one Halley
//! step against `Phi`; `Phi` is Hart's double-precision rational approximation as given by
//! West (2005), "Better approximations to cumulative normal functions". Both are written out
//! here because the crate needs only these two functions.
//!
//! # The CDF
//!
//! [`QuantileDistribution::cdf`] is the right-continuous inverse of `Q`:
//! `F(x) = sup { u : Q(u) <= x }`, i.e. `P(X <= x)`, computed piecewise (linear inverse between
//! the given points, `Phi` in the tails). Where `Q` is flat (equal quantiles, or the clamped
//! tails) `F` jumps, as it must for an atom.
//!
//! # Sampling
//!
//! Everything random in the crate uses [`SplitMix64`], seeded by the caller, so the same input
//! and seed give bit-identical output. (Across platforms only as far as the system `ln` and
//! `exp` agree, which Rust does not promise to the last bit.)

use crate::rng::SplitMix64;
use serde::{Deserialize, Serialize};

use crate::Result;
use crate::error::Error;
use crate::inference::forecast::Forecast;

/// A continuous-ish distribution on [0, 1] defined by a forecast's quantiles (see the module
/// docs for how the gaps and tails are filled).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "QuantilePoints", into = "QuantilePoints")]
pub struct QuantileDistribution {
    levels: Vec<f64>,
    values: Vec<f64>,
    /// `Phi^-1` of the outer levels, kept to avoid recomputing it on every tail query.
    z_lo: f64,
    z_hi: f64,
    sigma_lo: f64,
    sigma_hi: f64,
}

/// The serialized form of a [`QuantileDistribution`]: just the points it was built from, so that
/// deserializing re-runs the validation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuantilePoints {
    pub levels: Vec<f64>,
    pub values: Vec<f64>,
}

impl TryFrom<QuantilePoints> for QuantileDistribution {
    type Error = Error;
    fn try_from(p: QuantilePoints) -> Result<Self> {
        QuantileDistribution::new(p.levels, p.values)
    }
}

impl From<QuantileDistribution> for QuantilePoints {
    fn from(d: QuantileDistribution) -> Self {
        QuantilePoints {
            levels: d.levels,
            values: d.values,
        }
    }
}

/// What the errors of [`QuantileDistribution::new`] name as the "run": the caller knows which
/// run it was and can use [`QuantileDistribution::for_run`] to say so.
const UNNAMED: &str = "?";

impl QuantileDistribution {
    /// Builds the distribution from `levels` (strictly increasing, each in (0, 1)) and `values`
    /// (finite, non-decreasing, each in [0, 1]), one value per level.
    pub fn new(levels: Vec<f64>, values: Vec<f64>) -> Result<Self> {
        Self::for_run(UNNAMED, levels, values)
    }

    /// As [`new`](Self::new), naming `run` in any error.
    pub fn for_run(run: impl ToString, levels: Vec<f64>, values: Vec<f64>) -> Result<Self> {
        let run = run.to_string();
        let bad = |field, reason: String| Err(Error::invalid(&run, field, reason));
        if levels.is_empty() {
            return bad("levels", "no quantile levels".into());
        }
        if levels.len() != values.len() {
            return bad(
                "quantiles",
                format!("{} values for {} levels", values.len(), levels.len()),
            );
        }
        for (i, &l) in levels.iter().enumerate() {
            if !(l > 0.0 && l < 1.0) {
                return bad("levels", format!("level {l} is not inside (0, 1)"));
            }
            if i > 0 && l <= levels[i - 1] {
                return bad("levels", format!("levels not increasing at {l}"));
            }
        }
        for (i, &v) in values.iter().enumerate() {
            if !(0.0..=1.0).contains(&v) {
                return bad("quantiles", format!("value {v} is not in [0, 1]"));
            }
            if i > 0 && v < values[i - 1] {
                return bad(
                    "quantiles",
                    format!("values decrease ({} then {v})", values[i - 1]),
                );
            }
        }

        let n = levels.len();
        let z: Vec<f64> = levels.iter().map(|&l| inverse_normal_cdf(l)).collect();
        let c = (0..n)
            .min_by(|&a, &b| (levels[a] - 0.5).abs().total_cmp(&(levels[b] - 0.5).abs()))
            .unwrap_or(0);
        let scale = |a: usize, b: usize| (values[b] - values[a]) / (z[b] - z[a]);
        let (sigma_lo, sigma_hi) = if n == 1 {
            (0.0, 0.0)
        } else {
            let lo = if c > 0 { scale(0, c) } else { scale(0, 1) };
            let hi = if c < n - 1 {
                scale(c, n - 1)
            } else {
                scale(n - 2, n - 1)
            };
            (lo, hi)
        };
        Ok(QuantileDistribution {
            z_lo: z[0],
            z_hi: z[n - 1],
            levels,
            values,
            sigma_lo,
            sigma_hi,
        })
    }

    /// The distribution of one forecast, whose quantiles are at `levels` (the forecaster's).
    pub fn from_forecast(levels: &[f32], forecast: &Forecast) -> Result<Self> {
        Self::from_f32(UNNAMED, levels, &forecast.quantiles)
    }

    /// As [`from_forecast`](Self::from_forecast) from raw `f32` slices, naming `run` in errors.
    pub fn from_f32(run: impl ToString, levels: &[f32], quantiles: &[f32]) -> Result<Self> {
        Self::for_run(
            run,
            levels.iter().map(|&l| l as f64).collect(),
            quantiles.iter().map(|&q| q as f64).collect(),
        )
    }

    /// The levels the distribution was built from.
    pub fn levels(&self) -> &[f64] {
        &self.levels
    }

    /// The values at [`levels`](Self::levels).
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// `Q(0.5)`.
    pub fn median(&self) -> f64 {
        self.quantile(0.5)
    }

    /// The quantile function `Q(u)`. `u` outside (0, 1) is clamped to [0, 1], where `Q` is the
    /// limit of its tails (0 or 1 unless the tail is degenerate); NaN gives NaN.
    pub fn quantile(&self, u: f64) -> f64 {
        let u = u.clamp(0.0, 1.0);
        let n = self.levels.len();
        if u < self.levels[0] {
            self.lower_tail(inverse_normal_cdf(u))
        } else if u > self.levels[n - 1] {
            self.upper_tail(inverse_normal_cdf(u))
        } else if u.is_nan() {
            f64::NAN
        } else {
            self.interpolate(u)
        }
    }

    /// `Q(u)` computing `Phi^-1` by Acklam's approximation alone: about 1e-9 less accurate in
    /// the tails and a few times cheaper, for samplers.
    pub(crate) fn quantile_for_sampling(&self, u: f64) -> f64 {
        let n = self.levels.len();
        if u < self.levels[0] {
            self.lower_tail(acklam(u))
        } else if u > self.levels[n - 1] {
            self.upper_tail(acklam(u))
        } else {
            self.quantile(u)
        }
    }

    /// `Q(j / m)` for `j = 0..=m`, given `z[j] = Phi^-1(j / m)` (so `m = z.len() - 1`, at
    /// least 1): one pass over the levels, and `Phi^-1` paid once by the caller for any number
    /// of distributions. Equal to [`quantile`](Self::quantile) at every point.
    pub(crate) fn tabulate<'a>(&'a self, z: &'a [f64]) -> impl Iterator<Item = f64> + 'a {
        let m = (z.len() - 1) as f64;
        let n = self.levels.len();
        // The first level at or above u, which only moves up as u does.
        let mut next = 0;
        z.iter().enumerate().map(move |(j, &z)| {
            let u = j as f64 / m;
            while next < n && self.levels[next] < u {
                next += 1;
            }
            if next == n {
                self.upper_tail(z)
            } else if self.levels[next] == u {
                self.values[next]
            } else if next == 0 {
                self.lower_tail(z)
            } else {
                self.segment(next, u)
            }
        })
    }

    fn lower_tail(&self, z: f64) -> f64 {
        if self.sigma_lo == 0.0 {
            return self.values[0];
        }
        (self.values[0] + self.sigma_lo * (z - self.z_lo)).clamp(0.0, 1.0)
    }

    fn upper_tail(&self, z: f64) -> f64 {
        let last = self.values[self.values.len() - 1];
        if self.sigma_hi == 0.0 {
            return last;
        }
        (last + self.sigma_hi * (z - self.z_hi)).clamp(0.0, 1.0)
    }

    /// Linear interpolation for `u` within the given levels.
    fn interpolate(&self, u: f64) -> f64 {
        // The first level at or above u; levels are few (5 to 20), so a scan beats a search.
        let i = self.levels.iter().position(|&l| l >= u).unwrap_or(0);
        if i == 0 || self.levels[i] == u {
            return self.values[i];
        }
        self.segment(i, u)
    }

    /// Linear interpolation between the given points `i - 1` and `i`.
    fn segment(&self, i: usize, u: f64) -> f64 {
        let (l0, l1) = (self.levels[i - 1], self.levels[i]);
        let (v0, v1) = (self.values[i - 1], self.values[i]);
        v0 + (v1 - v0) * (u - l0) / (l1 - l0)
    }

    /// `P(X <= x)`, the right-continuous inverse of [`quantile`](Self::quantile).
    pub fn cdf(&self, x: f64) -> f64 {
        let n = self.levels.len();
        let (first, last) = (self.values[0], self.values[n - 1]);
        if x.is_nan() {
            return f64::NAN;
        }
        // The clamp to [0, 1] puts everything below 0 at 0 and everything above 1 at 1.
        if x < 0.0 {
            return 0.0;
        }
        if x >= 1.0 {
            return 1.0;
        }
        if x < first {
            if self.sigma_lo == 0.0 {
                return 0.0;
            }
            return normal_cdf(self.z_lo + (x - first) / self.sigma_lo);
        }
        if x >= last {
            if self.sigma_hi == 0.0 {
                return 1.0;
            }
            return normal_cdf(self.z_hi + (x - last) / self.sigma_hi);
        }
        // first <= x < last: the last given point at or below x starts the segment holding x,
        // and that segment rises (its end is above x), so the division is safe.
        let i = self.values.iter().rposition(|&v| v <= x).unwrap_or(0);
        let (l0, l1) = (self.levels[i], self.levels[i + 1]);
        let (v0, v1) = (self.values[i], self.values[i + 1]);
        l0 + (l1 - l0) * (x - v0) / (v1 - v0)
    }

    /// One draw by inverse CDF.
    pub fn sample(&self, rng: &mut SplitMix64) -> f64 {
        self.quantile(rng.next_f64())
    }

    /// The `m` mid-point quantiles `Q((i + 0.5) / m)`, `i = 0..m`, in non-decreasing order: an
    /// `m`-point equal-weight stand-in for the distribution, for exact computations.
    pub fn sample_grid(&self, m: usize) -> Vec<f64> {
        (0..m)
            .map(|i| self.quantile((i as f64 + 0.5) / m as f64))
            .collect()
    }
}

/// The standard normal CDF `Phi(x)`, to about double precision (Hart 1968 via West 2005).
pub fn normal_cdf(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    let ax = x.abs();
    let tail = if ax > 37.0 {
        0.0
    } else {
        let e = (-ax * ax / 2.0).exp();
        if ax < 7.071_067_811_865_47 {
            let num = [
                3.526_249_659_989_11e-2,
                0.700_383_064_443_688,
                6.373_962_203_531_65,
                33.912_866_078_383,
                112.079_291_497_871,
                221.213_596_169_931,
                220.206_867_912_376,
            ];
            let den = [
                8.838_834_764_831_84e-2,
                1.755_667_163_182_64,
                16.064_177_579_207,
                86.780_732_202_946_1,
                296.564_248_779_674,
                637.333_633_378_831,
                793.826_512_519_948,
                440.413_735_824_752,
            ];
            e * horner(&num, ax) / horner(&den, ax)
        } else {
            let b = ax + 1.0 / (ax + 2.0 / (ax + 3.0 / (ax + 4.0 / (ax + 0.65))));
            e / b / 2.506_628_274_631
        }
    };
    if x > 0.0 { 1.0 - tail } else { tail }
}

/// The standard normal quantile `Phi^-1(p)` for p in (0, 1): Acklam's approximation plus one
/// Halley step. Returns -inf at 0, +inf at 1 and NaN outside [0, 1].
pub fn inverse_normal_cdf(p: f64) -> f64 {
    let x = acklam(p);
    if !x.is_finite() {
        return x;
    }
    halley_step(p, x)
}

/// Acklam's rational approximation to `Phi^-1(p)` alone (relative error 1.15e-9): cheaper than
/// [`inverse_normal_cdf`] and plenty for sampling. Same conventions at 0, 1 and outside.
pub(crate) fn acklam(p: f64) -> f64 {
    if !(0.0..=1.0).contains(&p) {
        return f64::NAN;
    }
    if p == 0.0 {
        return f64::NEG_INFINITY;
    }
    if p == 1.0 {
        return f64::INFINITY;
    }
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 6] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
        1.0,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 5] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
        1.0,
    ];
    const P_LOW: f64 = 0.024_25;
    if p < P_LOW {
        let q = (-2.0 * p.ln()).sqrt();
        horner(&C, q) / horner(&D, q)
    } else if p <= 1.0 - P_LOW {
        let q = p - 0.5;
        let r = q * q;
        horner(&A, r) * q / horner(&B, r)
    } else {
        let q = (-2.0 * (1.0 - p).ln()).sqrt();
        -horner(&C, q) / horner(&D, q)
    }
}

/// One Halley step on `Phi(x) - p`, which takes Acklam's 1e-9 to near machine precision.
fn halley_step(p: f64, x: f64) -> f64 {
    // In the upper tail work with the upper tail probability,
    // which Phi computes without the cancellation of 1 - Phi(x).
    let e = if x > 0.0 {
        (1.0 - p) - normal_cdf(-x)
    } else {
        normal_cdf(x) - p
    };
    let u = e * (2.0 * std::f64::consts::PI).sqrt() * (x * x / 2.0).exp();
    x - u / (1.0 + x * u / 2.0)
}

/// Evaluates the polynomial with coefficients `c` (highest power first) at `x`.
fn horner(c: &[f64], x: f64) -> f64 {
    c.iter().fold(0.0, |acc, &k| acc * x + k)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn standard() -> QuantileDistribution {
        QuantileDistribution::new(
            vec![0.1, 0.25, 0.5, 0.75, 0.9],
            vec![0.40, 0.45, 0.50, 0.52, 0.60],
        )
        .unwrap()
    }

    #[test]
    fn normal_functions_match_reference_values() {
        // Reference values from scipy.stats.norm.
        let cdf = [
            (0.0, 0.5),
            (1.0, 0.841_344_746_068_542_9),
            (-2.0, 0.022_750_131_948_179_195),
            (-5.0, 2.866_515_718_791_939e-7),
            (3.0, 0.998_650_101_968_369_9),
        ];
        for (x, want) in cdf {
            let got = normal_cdf(x);
            assert!(
                (got - want).abs() <= 1e-14 + 1e-12 * want,
                "Phi({x}) = {got}"
            );
        }
        let inv = [
            (0.5, 0.0),
            (0.975, 1.959_963_984_540_054),
            (0.1, -1.281_551_565_544_600_4),
            (1e-10, -6.361_340_902_404_056),
            (0.99, 2.326_347_874_040_841),
        ];
        for (p, want) in inv {
            let got = inverse_normal_cdf(p);
            assert!(
                (got - want).abs() <= 1e-9 * want.abs().max(1.0),
                "Phi^-1({p}) = {got}"
            );
        }
        assert_eq!(inverse_normal_cdf(0.0), f64::NEG_INFINITY);
        assert!(inverse_normal_cdf(1.5).is_nan());
    }

    #[test]
    fn inverse_normal_round_trips() {
        for i in 1..1000 {
            let p = i as f64 / 1000.0;
            let back = normal_cdf(inverse_normal_cdf(p));
            assert!((back - p).abs() < 1e-13, "p {p} -> {back}");
        }
    }

    #[test]
    fn quantile_passes_through_the_given_points() {
        let d = standard();
        for (&l, &v) in d.levels().iter().zip(d.values()) {
            assert_eq!(d.quantile(l), v, "level {l}");
        }
        // Half-way between 0.25 and 0.5 in level is half-way in value.
        assert!((d.quantile(0.375) - 0.475).abs() < 1e-12);
    }

    #[test]
    fn quantile_is_monotone_and_in_range() {
        let d = standard();
        let mut prev = f64::NEG_INFINITY;
        for i in 1..10_000 {
            let q = d.quantile(i as f64 / 10_000.0);
            assert!((0.0..=1.0).contains(&q));
            assert!(q >= prev, "decreases at {i}");
            prev = q;
        }
    }

    #[test]
    fn tails_follow_the_normal_shape_of_the_outer_half_widths() {
        let d = standard();
        let z = inverse_normal_cdf;
        let sigma_lo = (0.50 - 0.40) / (0.0 - z(0.1));
        let want = 0.40 + sigma_lo * (z(0.01) - z(0.1));
        assert!((d.quantile(0.01) - want).abs() < 1e-12);
        let sigma_hi = (0.60 - 0.50) / z(0.9);
        let want = 0.60 + sigma_hi * (z(0.99) - z(0.9));
        assert!((d.quantile(0.99) - want).abs() < 1e-12);
    }

    #[test]
    fn tails_are_clamped_to_the_unit_interval() {
        let d = QuantileDistribution::new(vec![0.1, 0.5, 0.9], vec![0.02, 0.5, 0.98]).unwrap();
        assert_eq!(d.quantile(1e-9), 0.0);
        assert_eq!(d.quantile(1.0 - 1e-9), 1.0);
        // The clamped mass becomes atoms: P(X <= 0) > 0.
        assert!(d.cdf(0.0) > 0.0 && d.cdf(0.0) < 0.1);
        assert_eq!(d.cdf(1.0), 1.0);
    }

    #[test]
    fn cdf_inverts_quantile() {
        let dists = [
            standard(),
            QuantileDistribution::new(vec![0.1, 0.5, 0.9], vec![0.3, 0.3, 0.7]).unwrap(),
            QuantileDistribution::new(vec![0.05, 0.5, 0.95], vec![0.1, 0.5, 0.9]).unwrap(),
        ];
        for d in &dists {
            for i in 1..1000 {
                let u = i as f64 / 1000.0;
                let q = d.quantile(u);
                // Where Q is flat the CDF jumps past u; elsewhere it returns u.
                let flat = d.quantile(u - 1e-6) == q || d.quantile(u + 1e-6) == q;
                if !flat {
                    assert!((d.cdf(q) - u).abs() < 1e-9, "u {u}: cdf {}", d.cdf(q));
                } else {
                    assert!(d.cdf(q) >= u - 1e-9);
                }
            }
        }
    }

    #[test]
    fn flat_quantiles_make_an_atom() {
        let d = QuantileDistribution::new(vec![0.1, 0.5, 0.9], vec![0.3, 0.3, 0.7]).unwrap();
        // All of [0.1, 0.5] maps to 0.3; the lower tail below it too (sigma_lo = 0).
        assert_eq!(d.quantile(0.01), 0.3);
        assert_eq!(d.cdf(0.3), 0.5);
        assert_eq!(d.cdf(0.299), 0.0);
    }

    #[test]
    fn single_level_is_a_point_mass() {
        let d = QuantileDistribution::new(vec![0.5], vec![0.7]).unwrap();
        assert_eq!(d.quantile(0.001), 0.7);
        assert_eq!(d.quantile(0.999), 0.7);
        assert_eq!(d.cdf(0.69), 0.0);
        assert_eq!(d.cdf(0.7), 1.0);
    }

    #[test]
    fn bad_points_are_errors() {
        let new = |l: Vec<f64>, v: Vec<f64>| QuantileDistribution::new(l, v);
        assert!(new(vec![], vec![]).is_err());
        assert!(new(vec![0.1, 0.9], vec![0.5]).is_err());
        assert!(new(vec![0.9, 0.1], vec![0.4, 0.5]).is_err());
        assert!(new(vec![0.1, 0.1], vec![0.4, 0.5]).is_err());
        assert!(new(vec![0.0, 0.9], vec![0.4, 0.5]).is_err());
        assert!(new(vec![0.1, 1.0], vec![0.4, 0.5]).is_err());
        assert!(new(vec![0.1, 0.9], vec![0.5, 0.4]).is_err());
        assert!(new(vec![0.1, 0.9], vec![f64::NAN, 0.4]).is_err());
        assert!(new(vec![f64::NAN, 0.9], vec![0.3, 0.4]).is_err());
        assert!(new(vec![0.1, 0.9], vec![0.3, 1.5]).is_err());
        let err = QuantileDistribution::for_run("r7", vec![0.1, 0.9], vec![0.5, 0.4]).unwrap_err();
        assert!(err.to_string().contains("r7"), "{err}");
    }

    #[test]
    fn serde_round_trip_validates() {
        let d = standard();
        let json = serde_json::to_string(&d).unwrap();
        let back: QuantileDistribution = serde_json::from_str(&json).unwrap();
        assert_eq!(back, d);
        let bad = r#"{"levels":[0.1,0.9],"values":[0.9,0.1]}"#;
        assert!(serde_json::from_str::<QuantileDistribution>(bad).is_err());
    }

    #[test]
    fn from_forecast_uses_the_engine_levels() {
        let f = Forecast {
            step: 100.0,
            quantiles: vec![0.4, 0.5, 0.6],
        };
        let d = QuantileDistribution::from_forecast(&[0.1, 0.5, 0.9], &f).unwrap();
        assert!((d.median() - 0.5).abs() < 1e-7);
    }

    #[test]
    fn sampling_is_seeded_and_follows_the_cdf() {
        let d = standard();
        let draw = |seed| {
            let mut rng = SplitMix64::new(seed);
            (0..20_000).map(|_| d.sample(&mut rng)).collect::<Vec<_>>()
        };
        let a = draw(7);
        assert_eq!(a, draw(7));
        assert_ne!(a, draw(8));
        // The share of draws at or below the median is near one half (4 sigma = 0.014).
        let below = a.iter().filter(|&&x| x <= 0.5).count() as f64 / a.len() as f64;
        assert!((below - 0.5).abs() < 0.014, "{below}");
    }

    #[test]
    fn tabulate_agrees_with_quantile() {
        let z: Vec<f64> = (0..=64)
            .map(|j| inverse_normal_cdf(j as f64 / 64.0))
            .collect();
        for d in [
            standard(),
            QuantileDistribution::new(vec![0.25, 0.5, 0.75], vec![0.2, 0.3, 0.3]).unwrap(),
        ] {
            let table: Vec<f64> = d.tabulate(&z).collect();
            assert_eq!(table.len(), 65);
            for (j, &q) in table.iter().enumerate() {
                assert_eq!(q, d.quantile(j as f64 / 64.0), "j {j}");
            }
            for u in [1e-6, 0.01, 0.3, 0.97, 1.0 - 1e-6] {
                assert!((d.quantile_for_sampling(u) - d.quantile(u)).abs() < 1e-8);
            }
        }
    }

    #[test]
    fn sample_grid_is_the_midpoint_quantiles() {
        let d = standard();
        let g = d.sample_grid(4);
        assert_eq!(g.len(), 4);
        assert_eq!(g[1], d.quantile(0.375));
        assert!(g.windows(2).all(|w| w[0] <= w[1]));
    }
}
