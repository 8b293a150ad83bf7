pub mod data;
pub mod distribution;
pub mod error;
pub mod forecast;
pub mod plan;
pub mod ranking;

pub use distribution::{QuantileDistribution, SplitMix64};
pub use error::{BundleError, Error, Result};
pub use forecast::{CurvePrefix, Forecast, Forecaster, RunForecast};
pub use plan::{Arm, ArmDecision, Plan, PlanOptions, Policy, plan, top_k_probabilities};
pub use ranking::{Ranking, rank, rank_forecasts};
