//! Metrics that rise or fall, bounded or not, and the model's space they are forecast in.
//!
//! The forecaster was trained on accuracies: values in [0, 1] where higher is better. Every
//! metric is mapped into that space before it is forecast, and forecasts are mapped back into
//! the user's units:
//!
//! | kind | direction | model value `m` of a user value `v` | back |
//! | --- | --- | --- | --- |
//! | bounded (in [0, 1]) | maximize | `v` | `m` |
//! | bounded | minimize | `1 - v` (the mirrored metric) | `1 - m` |
//! | loss (non-negative, unbounded) | minimize | `exp(-v)` (a loss's likelihood scale) | `-ln m` |
//! | loss | maximize | `1 - exp(-v)` | `-ln(1 - m)` |
//! | neg_loss (non-positive, unbounded below) | maximize | `exp(v)` (the loss `-v`'s scale) | `ln m` |
//! | neg_loss | minimize | `1 - exp(v)` | `ln(1 - m)` |
//!
//! Each map is monotone, so quantiles map to quantiles; where it is decreasing (a minimized
//! metric) the model's 0.1 quantile is the user's 0.9 quantile. Kill plans and rankings are
//! made in the model's space, where higher is always better: minimizing `v` decides exactly
//! what maximizing `1 - v` does.

use crate::error::Error;
use serde::{Deserialize, Serialize};

/// Whether a larger or a smaller value of the metric is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    #[default]
    Maximize,
    Minimize,
}

/// The metric's range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    /// In [0, 1]: an accuracy, a score, an error rate.
    #[default]
    Bounded,
    /// Non-negative and unbounded above: a validation loss, a perplexity's log.
    Loss,
    /// Non-positive and unbounded below: a loss reported negated, such as scikit-learn's
    /// `neg_log_loss` or `neg_mean_squared_error` scorers, or a log-likelihood. Forecast as the
    /// loss `-v` is, so a maximized `neg_loss` decides what the minimized loss does.
    NegLoss,
}

/// Why a value is not one of its metric's.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum OutOfRange {
    #[error("{0} is not a finite number")]
    NotFinite(f64),
    #[error(
        "{0} is outside [0, 1] (a bounded metric; a metric that is not is of kind `loss`, or \
         `neg_loss` when it is never positive)"
    )]
    OutsideUnitInterval(f64),
    #[error(
        "{0} is negative (a loss metric is non-negative; a negated loss is of kind `neg_loss`)"
    )]
    Negative(f64),
    #[error("{0} is positive (a neg_loss metric is non-positive: a loss reported negated)")]
    Positive(f64),
}

/// A metric's kind and direction: how its values enter the model and come back.
///
/// In JSON, `{"kind": ..., "direction": ...}`; without a `direction` a kind takes the one its
/// metrics usually have, as on the command line: `bounded` is maximized, `loss` minimized (a
/// maximized loss by default would keep the worst arms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(from = "MetricFields")]
pub struct Metric {
    pub kind: MetricKind,
    pub direction: Direction,
}

/// What a JSON metric object holds: both fields optional.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MetricFields {
    #[serde(default)]
    kind: MetricKind,
    #[serde(default)]
    direction: Option<Direction>,
}

impl From<MetricFields> for Metric {
    fn from(f: MetricFields) -> Self {
        Metric {
            kind: f.kind,
            direction: f.direction.unwrap_or(f.kind.usual_direction()),
        }
    }
}

impl MetricKind {
    /// The direction metrics of this kind usually have: a bounded metric is maximized (an
    /// accuracy), a loss minimized, a negated loss maximized.
    pub fn usual_direction(self) -> Direction {
        match self {
            MetricKind::Bounded | MetricKind::NegLoss => Direction::Maximize,
            MetricKind::Loss => Direction::Minimize,
        }
    }

    /// The name [`FromStr`](std::str::FromStr) reads back, as in JSON: `bounded`, `loss`,
    /// `neg_loss`.
    pub fn name(self) -> &'static str {
        match self {
            MetricKind::Bounded => "bounded",
            MetricKind::Loss => "loss",
            MetricKind::NegLoss => "neg_loss",
        }
    }
}

/// The smallest model value mapped back: keeps `-ln m` finite when a forecast reaches 0.
const MIN_MODEL_VALUE: f64 = 1e-12;

impl Metric {
    /// An accuracy-like metric in [0, 1] where higher is better (the model's own space).
    pub const ACCURACY: Metric = Metric {
        kind: MetricKind::Bounded,
        direction: Direction::Maximize,
    };

    pub fn new(kind: MetricKind, direction: Direction) -> Self {
        Metric { kind, direction }
    }

    /// Whether this is the model's own space (values pass through unchanged).
    pub fn is_identity(&self) -> bool {
        *self == Self::ACCURACY
    }

    /// The model's value of a user's value, or why the value is not one of this metric.
    pub fn to_model(&self, v: f64) -> Result<f64, OutOfRange> {
        if !v.is_finite() {
            return Err(OutOfRange::NotFinite(v));
        }
        match (self.kind, self.direction) {
            (MetricKind::Bounded, _) if !(0.0..=1.0).contains(&v) => {
                Err(OutOfRange::OutsideUnitInterval(v))
            }
            (MetricKind::Loss, _) if v < 0.0 => Err(OutOfRange::Negative(v)),
            (MetricKind::NegLoss, _) if v > 0.0 => Err(OutOfRange::Positive(v)),
            (MetricKind::Bounded, Direction::Maximize) => Ok(v),
            (MetricKind::Bounded, Direction::Minimize) => Ok(1.0 - v),
            (MetricKind::Loss, Direction::Minimize) => Ok((-v).exp()),
            (MetricKind::Loss, Direction::Maximize) => Ok(-(-v).exp_m1()),
            (MetricKind::NegLoss, Direction::Maximize) => Ok(v.exp()),
            (MetricKind::NegLoss, Direction::Minimize) => Ok(-v.exp_m1()),
        }
    }

    /// A run's values in the model's space; the first value that is not one of this metric is
    /// an [`Error::InvalidInput`] naming `run`, the field `values` and the value's index. What
    /// the C ABI, the C++ API and the Python package say of a bad value.
    pub fn values_to_model(&self, run: impl ToString, values: &[f64]) -> Result<Vec<f64>, Error> {
        values
            .iter()
            .enumerate()
            .map(|(j, &v)| {
                self.to_model(v).map_err(|problem| {
                    Error::invalid(run.to_string(), "values", format!("values[{j}]: {problem}"))
                })
            })
            .collect()
    }

    /// The user's value of a model value in [0, 1].
    pub fn to_user(&self, m: f64) -> f64 {
        match (self.kind, self.direction) {
            (MetricKind::Bounded, Direction::Maximize) => m,
            (MetricKind::Bounded, Direction::Minimize) => 1.0 - m,
            (MetricKind::Loss, Direction::Minimize) => -m.max(MIN_MODEL_VALUE).ln(),
            (MetricKind::Loss, Direction::Maximize) => -(1.0 - m).max(MIN_MODEL_VALUE).ln(),
            (MetricKind::NegLoss, Direction::Maximize) => m.max(MIN_MODEL_VALUE).ln(),
            (MetricKind::NegLoss, Direction::Minimize) => (1.0 - m).max(MIN_MODEL_VALUE).ln(),
        }
    }

    /// Whether the map is decreasing: then the model's quantile at level `u` is the user's
    /// quantile at `1 - u`.
    pub fn reverses(&self) -> bool {
        match (self.kind, self.direction) {
            (MetricKind::Bounded, Direction::Maximize) => false,
            (MetricKind::Bounded, Direction::Minimize) => true,
            (MetricKind::Loss, Direction::Minimize) => true,
            (MetricKind::Loss, Direction::Maximize) => false,
            (MetricKind::NegLoss, Direction::Maximize) => false,
            (MetricKind::NegLoss, Direction::Minimize) => true,
        }
    }

    /// Model-space quantiles (increasing, at increasing levels) as the user's quantiles at the
    /// same levels: mapped back, and reversed where the map is decreasing, so that they still
    /// increase with the level.
    pub fn quantiles_to_user(&self, model: &[f32]) -> Vec<f64> {
        let mut user: Vec<f64> = model.iter().map(|&m| self.to_user(f64::from(m))).collect();
        if self.reverses() {
            user.reverse();
        }
        user
    }

    /// The map into the model's space, as a formula of the user's value `v`: for reports and
    /// logs that say what a forecaster was shown.
    pub fn model_map(&self) -> &'static str {
        match (self.kind, self.direction) {
            (MetricKind::Bounded, Direction::Maximize) => "v",
            (MetricKind::Bounded, Direction::Minimize) => "1 - v",
            (MetricKind::Loss, Direction::Minimize) => "exp(-v)",
            (MetricKind::Loss, Direction::Maximize) => "1 - exp(-v)",
            (MetricKind::NegLoss, Direction::Maximize) => "exp(v)",
            (MetricKind::NegLoss, Direction::Minimize) => "1 - exp(v)",
        }
    }

    /// The name [`FromStr`](std::str::FromStr) reads back: `bounded:maximize`, `loss:minimize`,
    /// ... (the kind and direction of the JSON `metric` object, joined by a colon).
    pub fn name(&self) -> String {
        let kind = self.kind.name();
        let direction = match self.direction {
            Direction::Maximize => "maximize",
            Direction::Minimize => "minimize",
        };
        format!("{kind}:{direction}")
    }

    /// A short name for reports: `accuracy`, `minimized bounded metric`, `minimized loss`, ...
    pub fn describe(&self) -> &'static str {
        match (self.kind, self.direction) {
            (MetricKind::Bounded, Direction::Maximize) => "bounded metric, maximized",
            (MetricKind::Bounded, Direction::Minimize) => "bounded metric, minimized",
            (MetricKind::Loss, Direction::Minimize) => "loss, minimized",
            (MetricKind::Loss, Direction::Maximize) => "unbounded metric, maximized",
            (MetricKind::NegLoss, Direction::Maximize) => "negated loss, maximized",
            (MetricKind::NegLoss, Direction::Minimize) => "non-positive metric, minimized",
        }
    }
}

impl std::str::FromStr for Direction {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s.trim().to_ascii_lowercase().as_str() {
            "maximize" | "max" => Ok(Direction::Maximize),
            "minimize" | "min" => Ok(Direction::Minimize),
            other => Err(Error::Parse(format!(
                "direction {other:?}: expected maximize or minimize"
            ))),
        }
    }
}

impl std::str::FromStr for MetricKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s.trim().to_ascii_lowercase().as_str() {
            "bounded" => Ok(MetricKind::Bounded),
            "loss" => Ok(MetricKind::Loss),
            "neg_loss" => Ok(MetricKind::NegLoss),
            other => Err(Error::Parse(format!(
                "metric kind {other:?}: expected bounded, loss or neg_loss"
            ))),
        }
    }
}

/// `KIND[:DIRECTION]`, the spelling of the command-line option `--metric`: the kind and direction
/// of the JSON `metric` object (`bounded`, `loss`, `neg_loss`; `maximize`, `minimize`), joined by
/// a colon.
/// Without a direction a kind takes the one its metrics usually have
/// ([`MetricKind::usual_direction`]), as in the JSON object; `accuracy` is `bounded:maximize`.
impl std::str::FromStr for Metric {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("accuracy") {
            return Ok(Metric::ACCURACY);
        }
        let (kind, direction) = match s.split_once(':') {
            Some((kind, direction)) => (kind.parse::<MetricKind>()?, Some(direction.parse()?)),
            None => (s.parse::<MetricKind>()?, None),
        };
        let direction = direction.unwrap_or(kind.usual_direction());
        Ok(Metric { kind, direction })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Metric; 6] = [
        Metric::ACCURACY,
        Metric {
            kind: MetricKind::Bounded,
            direction: Direction::Minimize,
        },
        Metric {
            kind: MetricKind::Loss,
            direction: Direction::Minimize,
        },
        Metric {
            kind: MetricKind::Loss,
            direction: Direction::Maximize,
        },
        Metric {
            kind: MetricKind::NegLoss,
            direction: Direction::Maximize,
        },
        Metric {
            kind: MetricKind::NegLoss,
            direction: Direction::Minimize,
        },
    ];

    #[test]
    fn a_json_loss_without_a_direction_is_minimized() {
        let m = |json: &str| serde_json::from_str::<Metric>(json).unwrap();
        assert_eq!(m(r#"{"kind": "loss"}"#).direction, Direction::Minimize);
        assert_eq!(m(r#"{"kind": "bounded"}"#), Metric::ACCURACY);
        assert_eq!(m("{}"), Metric::ACCURACY);
        let maximized = m(r#"{"kind": "loss", "direction": "maximize"}"#);
        assert_eq!(maximized.direction, Direction::Maximize);
        assert!(serde_json::from_str::<Metric>(r#"{"kind": "loss", "dir": "min"}"#).is_err());
        // What is written is read back.
        for metric in ALL {
            assert_eq!(m(&serde_json::to_string(&metric).unwrap()), metric);
        }
    }

    #[test]
    fn every_map_round_trips_and_lands_in_the_unit_interval() {
        for metric in ALL {
            let values: &[f64] = match metric.kind {
                MetricKind::Bounded => &[0.0, 0.2, 0.5, 0.99, 1.0],
                MetricKind::Loss => &[0.0, 0.01, 1.0, 3.5, 20.0],
                MetricKind::NegLoss => &[0.0, -0.01, -1.0, -3.5, -20.0],
            };
            for &v in values {
                let m = metric.to_model(v).unwrap();
                assert!((0.0..=1.0).contains(&m), "{metric:?} {v} -> {m}");
                // 1 - exp(-20) keeps 8 significant digits of exp(-20): relative, not absolute.
                let back = metric.to_user(m);
                assert!(
                    (back - v).abs() <= 1e-6 * v.abs().max(1e-3),
                    "{metric:?} {v} -> {back}"
                );
            }
        }
    }

    #[test]
    fn better_user_values_are_higher_model_values() {
        for metric in ALL {
            let (worse, better) = match (metric.kind, metric.direction) {
                (MetricKind::Bounded, Direction::Maximize) => (0.3, 0.4),
                (MetricKind::Bounded, Direction::Minimize) => (0.4, 0.3),
                (MetricKind::Loss, Direction::Minimize) => (2.0, 1.5),
                (MetricKind::Loss, Direction::Maximize) => (1.5, 2.0),
                (MetricKind::NegLoss, Direction::Maximize) => (-2.0, -1.5),
                (MetricKind::NegLoss, Direction::Minimize) => (-1.5, -2.0),
            };
            assert!(metric.to_model(better).unwrap() > metric.to_model(worse).unwrap());
        }
    }

    #[test]
    fn values_outside_the_metric_are_refused() {
        let e = Metric::ACCURACY.to_model(2.9).unwrap_err();
        assert_eq!(e, OutOfRange::OutsideUnitInterval(2.9));
        assert!(e.to_string().contains("outside [0, 1]"));
        let loss = Metric::new(MetricKind::Loss, Direction::Minimize);
        assert!(
            loss.to_model(-0.1)
                .unwrap_err()
                .to_string()
                .contains("negative")
        );
        assert!(loss.to_model(f64::NAN).is_err());
        assert_eq!(loss.to_model(2.9).unwrap(), (-2.9f64).exp());
    }

    #[test]
    fn a_maximized_neg_loss_is_the_minimized_loss_negated() {
        let neg = Metric::new(MetricKind::NegLoss, Direction::Maximize);
        let loss = Metric::new(MetricKind::Loss, Direction::Minimize);
        for v in [0.0, 0.3, 1.0, 7.5] {
            assert_eq!(neg.to_model(-v).unwrap(), loss.to_model(v).unwrap());
        }
        // Its quantiles are the loss's negated, in the reverse order.
        let model = [0.1f32, 0.4, 0.8];
        let negated: Vec<f64> = loss
            .quantiles_to_user(&model)
            .iter()
            .rev()
            .map(|q| -q)
            .collect();
        assert_eq!(neg.quantiles_to_user(&model), negated);
        assert_eq!("neg_loss".parse::<Metric>().unwrap(), neg);
        let e = neg.to_model(0.2).unwrap_err();
        assert_eq!(e, OutOfRange::Positive(0.2));
        assert!(e.to_string().contains("non-positive"), "{e}");
        // The loss's refusal names the kind a negated loss is.
        assert!(
            loss.to_model(-0.2)
                .unwrap_err()
                .to_string()
                .contains("neg_loss")
        );
    }

    #[test]
    fn quantiles_come_back_increasing_in_user_units() {
        let loss = Metric::new(MetricKind::Loss, Direction::Minimize);
        let model = [0.1f32, 0.2, 0.3];
        let user = loss.quantiles_to_user(&model);
        assert!(user.windows(2).all(|w| w[0] < w[1]), "{user:?}");
        // The user's 0.1 quantile (lowest loss) is the model's 0.9 quantile (highest exp(-loss)).
        assert!((user[0] + 0.3f64.ln()).abs() < 1e-6);
        // A forecast of 0 stays finite in loss units.
        assert!(loss.to_user(0.0).is_finite());
    }

    #[test]
    fn names_parse_and_round_trip() {
        let loss = Metric::new(MetricKind::Loss, Direction::Minimize);
        assert_eq!("loss".parse::<Metric>().unwrap(), loss);
        assert_eq!("bounded".parse::<Metric>().unwrap(), Metric::ACCURACY);
        assert_eq!("accuracy".parse::<Metric>().unwrap(), Metric::ACCURACY);
        assert_eq!(
            "loss:maximize".parse::<Metric>().unwrap(),
            Metric::new(MetricKind::Loss, Direction::Maximize)
        );
        for metric in ALL {
            assert_eq!(metric.name().parse::<Metric>().unwrap(), metric);
        }
        for bad in ["", "perplexity", "loss:down", "loss:min:max", ":maximize"] {
            assert!(
                matches!(bad.parse::<Metric>(), Err(Error::Parse(_))),
                "{bad}"
            );
        }
    }
}
