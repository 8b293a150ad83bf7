//! The options structs of the C ABI and the enums they carry, read without trusting the caller:
//! each struct starts with a `version` saying how much of it the caller allocated (fields are
//! only ever appended), enums travel as plain `int32_t` and are validated, and every struct has
//! a libgit2-style `*_options_init(ptr, version)` that fills in the defaults of that version.

use super::flat::{self, PlanSettings};
use super::{AbiError, invalid, null};
use neuneu::adapt::AdaptOptions;
use neuneu::decisions::metric::Metric;
use neuneu::model::inputs::LossSummary;
use neuneu::sweep::SweepOptions;

/// How a kill plan chooses the arms to stop (`policy` fields, as `int32_t`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum neuneu_policy {
    /// Keep the `k` arms most likely to finish in the top `k`.
    NEUNEU_POLICY_KEEP_TOP_K = 0,
    /// Stop `floor(fraction * n)` arms, the least likely to finish in the top.
    NEUNEU_POLICY_STOP_FRACTION = 1,
    /// Stop the arms whose probability of finishing in the top `k` is below `threshold`.
    NEUNEU_POLICY_STOP_BELOW_PROBABILITY = 2,
    /// Stop the arms least likely to finish in the top `k`, as many as keep the sum of their
    /// probabilities (the expected number of top-`k` arms lost) within `budget`, in [0, 1).
    NEUNEU_POLICY_STOP_WITHIN_BUDGET = 3,
}

/// The range of a metric (`metric_kind` fields and arguments, as `int32_t`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum neuneu_metric_kind {
    /// In [0, 1]: an accuracy, a score, an error rate. Values outside are INVALID_INPUT.
    NEUNEU_METRIC_BOUNDED = 0,
    /// Non-negative and unbounded above, like a validation loss: forecast as `exp(-v)` (see
    /// docs/MODEL.md) and answered in the loss's own units. Negative values are INVALID_INPUT.
    NEUNEU_METRIC_LOSS = 1,
    /// Non-positive and unbounded below, like scikit-learn's `neg_log_loss` or a
    /// log-likelihood: a loss reported negated, forecast as the loss `-v` is and answered in the
    /// metric's own units. Positive values are INVALID_INPUT. Its usual direction is maximize.
    NEUNEU_METRIC_NEG_LOSS = 2,
}

/// Whether larger or smaller values of the metric are better (`direction`, as `int32_t`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum neuneu_direction {
    NEUNEU_MAXIMIZE = 0,
    NEUNEU_MINIMIZE = 1,
}

/// Version of `neuneu_plan_options` this header describes. Versions 1 (no `budget`) and 2 (no
/// metric) are still read.
pub const NEUNEU_PLAN_OPTIONS_VERSION: u32 = 3;
/// Version of `neuneu_sweep_options` this header describes (2 adds `calibrate`).
pub const NEUNEU_SWEEP_OPTIONS_VERSION: u32 = 2;
/// Version of `neuneu_adapt_options` this header describes.
pub const NEUNEU_ADAPT_OPTIONS_VERSION: u32 = 1;

/// What trees fitted on token losses read of them (`loss_summary`, as `int32_t`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum neuneu_loss_summary {
    /// The mean of p = exp(-loss) over the tokens.
    NEUNEU_LOSS_SUMMARY_MEAN_P = 0,
    /// The share of tokens in five bins of p = exp(-loss).
    NEUNEU_LOSS_SUMMARY_P_HISTOGRAM = 1,
}

/// Options of `neuneu_sweep_adapt`. Initialise with
/// `neuneu_adapt_options_init(&opts, NEUNEU_ADAPT_OPTIONS_VERSION)`, then set what differs.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct neuneu_adapt_options {
    /// The version the caller allocated: `NEUNEU_ADAPT_OPTIONS_VERSION`.
    pub version: u32,
    /// Share of the finished arms held out (by arm) to recalibrate the bands on and score the
    /// result, in [0, 1); 0 fits on every arm, keeps the base's bands and scores nothing.
    pub holdout: f64,
    /// Seed of the hold-out draw.
    pub seed: u64,
    /// A `neuneu_loss_summary`: what trees fitted on the arms' token losses read of them.
    pub loss_summary: i32,
}

/// Options of `neuneu_plan` and `neuneu_plan_new`. Initialise with
/// `neuneu_plan_options_init(&opts, NEUNEU_PLAN_OPTIONS_VERSION)`, then set what differs.
/// `policy`, `metric_kind` and `direction` are read as integers and validated
/// (INVALID_ARGUMENT when out of range); the other fields are checked by the policy.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct neuneu_plan_options {
    /// The version the caller allocated: `NEUNEU_PLAN_OPTIONS_VERSION`.
    pub version: u32,
    /// A `neuneu_policy`.
    pub policy: i32,
    /// The `k` of "top k"; capped at the arms that can be planned, never refused for being
    /// larger (the plan's reasons state the cap). At least 1.
    pub k: usize,
    /// `NEUNEU_POLICY_STOP_FRACTION`: the fraction of arms to stop, in [0, 1).
    pub fraction: f64,
    /// `NEUNEU_POLICY_STOP_BELOW_PROBABILITY`: in [0, 1].
    pub threshold: f64,
    /// Arms with fewer observations are kept outside the plan; 0 = the model's minimum context.
    pub min_observations: usize,
    /// Monte Carlo samples of the top-k probabilities, 1 to 1,000,000.
    pub samples: usize,
    pub seed: u64,
    /// `NEUNEU_POLICY_STOP_WITHIN_BUDGET`: the expected number of top-`k` arms the plan may
    /// stop, in [0, 1). Version 2 on.
    pub budget: f64,
    /// A `neuneu_metric_kind` (values are in its units). Version 3 on.
    pub metric_kind: i32,
    /// A `neuneu_direction`. Version 3 on.
    pub direction: i32,
}

/// Options of `neuneu_sweep_new`. Initialise with
/// `neuneu_sweep_options_init(&opts, NEUNEU_SWEEP_OPTIONS_VERSION)`, then set what differs.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct neuneu_sweep_options {
    /// The version the caller allocated: `NEUNEU_SWEEP_OPTIONS_VERSION`.
    pub version: u32,
    /// A `neuneu_metric_kind`: the units of every value observed and answered.
    pub metric_kind: i32,
    /// A `neuneu_direction`.
    pub direction: i32,
    /// A `neuneu_policy`, with its parameters below (as in `neuneu_plan_options`).
    pub policy: i32,
    pub k: usize,
    pub fraction: f64,
    pub threshold: f64,
    pub budget: f64,
    /// The end step of arms without one of their own (`neuneu_sweep_set_end`); 0 = none.
    pub end_step: f64,
    /// Points an arm needs before it is judged; 0 = the model's minimum context.
    pub min_observations: usize,
    pub samples: usize,
    /// Every decision's seed derives from it and the decision's index.
    pub seed: u64,
    /// 1: calibrate live arms' forecasts on the sweep's finished arms (from 5 of them; young
    /// arms can then be judged from their gains or growth; an arm ahead of all of them at its
    /// point is kept); 0: off. Other values are INVALID_ARGUMENT. Version 2 on.
    pub calibrate: i32,
}

/// The version-1 prefix of `neuneu_sweep_options`: what a caller that sets `version = 1`
/// allocated. Never read or written past it for such a caller.
#[repr(C)]
#[derive(Clone, Copy)]
struct SweepOptionsV1 {
    version: u32,
    metric_kind: i32,
    direction: i32,
    policy: i32,
    k: usize,
    fraction: f64,
    threshold: f64,
    budget: f64,
    end_step: f64,
    min_observations: usize,
    samples: usize,
    seed: u64,
}

/// The version-1 prefix of `neuneu_plan_options`: what a caller that sets `version = 1`
/// allocated. Never read or written past it for such a caller.
#[repr(C)]
struct PlanOptionsV1 {
    version: u32,
    policy: i32,
    k: usize,
    fraction: f64,
    threshold: f64,
    min_observations: usize,
    samples: usize,
    seed: u64,
}

fn default_plan_options() -> neuneu_plan_options {
    neuneu_plan_options {
        version: NEUNEU_PLAN_OPTIONS_VERSION,
        policy: neuneu_policy::NEUNEU_POLICY_KEEP_TOP_K as i32,
        k: 3,
        fraction: 0.5,
        threshold: 0.05,
        min_observations: 0,
        samples: neuneu::decisions::killplan::DEFAULT_SAMPLES,
        seed: 0,
        budget: flat::DEFAULT_BUDGET,
        metric_kind: neuneu_metric_kind::NEUNEU_METRIC_BOUNDED as i32,
        direction: neuneu_direction::NEUNEU_MAXIMIZE as i32,
    }
}

/// Fills `*options` with the defaults of `version` (1 to `NEUNEU_PLAN_OPTIONS_VERSION`),
/// writing only the fields that version has: keep the top 3 (fraction 0.5, threshold 0.05,
/// budget 0.1 for the other policies), no minimum, 4000 samples, seed 0, a bounded metric
/// maximized. Errors: NULL_POINTER, INVALID_ARGUMENT (a version this library does not know).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn neuneu_plan_options_init(
    options: *mut neuneu_plan_options,
    version: u32,
) -> i32 {
    super::guard(|| {
        if options.is_null() {
            return Err(null("options"));
        }
        let d = default_plan_options();
        let prefix = PlanOptionsV1 {
            version,
            policy: d.policy,
            k: d.k,
            fraction: d.fraction,
            threshold: d.threshold,
            min_observations: d.min_observations,
            samples: d.samples,
            seed: d.seed,
        };
        match version {
            // SAFETY: a version-1 caller allocated the version-1 prefix.
            1 => unsafe { options.cast::<PlanOptionsV1>().write(prefix) },
            // SAFETY: a version-2 caller allocated the prefix and `budget`.
            2 => unsafe {
                options.cast::<PlanOptionsV1>().write(prefix);
                std::ptr::addr_of_mut!((*options).budget).write(d.budget);
            },
            // SAFETY: a current caller allocated the whole struct.
            NEUNEU_PLAN_OPTIONS_VERSION => unsafe { options.write(d) },
            v => {
                return Err(unknown_version(
                    "neuneu_plan_options",
                    v,
                    NEUNEU_PLAN_OPTIONS_VERSION,
                ));
            }
        }
        Ok(())
    })
}

/// Default plan options as `neuneu_plan_options_init(&o, NEUNEU_PLAN_OPTIONS_VERSION)` sets
/// them. Kept for callers of ABI 2; prefer `neuneu_plan_options_init`, which does not tie a
/// binary to the struct's size.
#[unsafe(no_mangle)]
pub extern "C" fn neuneu_plan_options_default() -> neuneu_plan_options {
    default_plan_options()
}

/// Fills `*options` with the defaults of `version` (1 or 2): a bounded metric maximized, keep
/// the top 3 (fraction 0.5, threshold 0.05, budget 0.1 for the other policies), no default end
/// step, no minimum beyond the model's, 4000 samples, seed 0, no calibration.
/// Errors: NULL_POINTER, INVALID_ARGUMENT (a version this library does not know).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn neuneu_sweep_options_init(
    options: *mut neuneu_sweep_options,
    version: u32,
) -> i32 {
    super::guard(|| {
        if options.is_null() {
            return Err(null("options"));
        }
        let d = default_plan_options();
        let prefix = SweepOptionsV1 {
            version,
            metric_kind: d.metric_kind,
            direction: d.direction,
            policy: d.policy,
            k: d.k,
            fraction: d.fraction,
            threshold: d.threshold,
            budget: d.budget,
            end_step: 0.0,
            min_observations: 0,
            samples: d.samples,
            seed: 0,
        };
        match version {
            // SAFETY: checked non-NULL; a version-1 caller allocated the version-1 prefix.
            1 => unsafe { options.cast::<SweepOptionsV1>().write(prefix) },
            // SAFETY: checked non-NULL; a current caller allocated the whole struct.
            NEUNEU_SWEEP_OPTIONS_VERSION => unsafe {
                options.cast::<SweepOptionsV1>().write(prefix);
                std::ptr::addr_of_mut!((*options).calibrate).write(0);
            },
            v => {
                return Err(unknown_version(
                    "neuneu_sweep_options",
                    v,
                    NEUNEU_SWEEP_OPTIONS_VERSION,
                ));
            }
        }
        Ok(())
    })
}

fn unknown_version(what: &str, v: u32, current: u32) -> AbiError {
    invalid(format!(
        "{what}.version {v} is unknown (this library reads 1 to {current}; initialise the struct \
         with its _init function)"
    ))
}

/// A metric from its two integers; out-of-range values are INVALID_ARGUMENT.
pub(crate) fn metric(kind: i32, direction: i32) -> Result<Metric, AbiError> {
    use neuneu::decisions::metric::{Direction, MetricKind};
    let kind = match kind {
        0 => MetricKind::Bounded,
        1 => MetricKind::Loss,
        2 => MetricKind::NegLoss,
        k => {
            return Err(invalid(format!(
                "metric_kind {k} is unknown (0 bounded, 1 loss, 2 neg_loss)"
            )));
        }
    };
    let direction = match direction {
        0 => Direction::Maximize,
        1 => Direction::Minimize,
        d => {
            return Err(invalid(format!(
                "direction {d} is unknown (0 maximize, 1 minimize)"
            )));
        }
    };
    Ok(Metric::new(kind, direction))
}

/// Reads plan options of any known version without ever reading past what that version
/// allocated, and without trusting `policy`, `metric_kind` or `direction` to be in range.
pub(crate) unsafe fn read_plan_options(
    options: *const neuneu_plan_options,
) -> Result<PlanSettings, AbiError> {
    if options.is_null() {
        return Err(null("options"));
    }
    // SAFETY: every version starts with the version-1 prefix, at the same offsets.
    let v1 = unsafe { &*options.cast::<PlanOptionsV1>() };
    let version = v1.version;
    if !(1..=NEUNEU_PLAN_OPTIONS_VERSION).contains(&version) {
        return Err(unknown_version(
            "options",
            version,
            NEUNEU_PLAN_OPTIONS_VERSION,
        ));
    }
    let budget = if version >= 2 {
        // SAFETY: a version-2 caller allocated up to `budget`.
        unsafe { std::ptr::addr_of!((*options).budget).read() }
    } else if v1.policy == neuneu_policy::NEUNEU_POLICY_STOP_WITHIN_BUDGET as i32 {
        return Err(invalid(
            "policy NEUNEU_POLICY_STOP_WITHIN_BUDGET needs options.version 2 or later (it has a \
             budget)",
        ));
    } else {
        flat::DEFAULT_BUDGET
    };
    let metric = if version >= 3 {
        // SAFETY: a version-3 caller allocated the whole struct.
        let (kind, direction) = unsafe {
            (
                std::ptr::addr_of!((*options).metric_kind).read(),
                std::ptr::addr_of!((*options).direction).read(),
            )
        };
        metric(kind, direction)?
    } else {
        Metric::ACCURACY
    };
    Ok(PlanSettings {
        policy: i64::from(v1.policy),
        k: v1.k,
        fraction: v1.fraction,
        threshold: v1.threshold,
        budget,
        min_observations: v1.min_observations,
        samples: v1.samples,
        seed: v1.seed,
        metric,
    })
}

/// Fills `*options` with the defaults of `version` (1): `neuneu adapt`'s, a hold-out of 0.2
/// drawn with seed 17, loss trees on the mean of p. Errors: NULL_POINTER, INVALID_ARGUMENT (a
/// version this library does not know).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn neuneu_adapt_options_init(
    options: *mut neuneu_adapt_options,
    version: u32,
) -> i32 {
    super::guard(|| {
        if options.is_null() {
            return Err(null("options"));
        }
        if version != NEUNEU_ADAPT_OPTIONS_VERSION {
            return Err(unknown_version(
                "neuneu_adapt_options",
                version,
                NEUNEU_ADAPT_OPTIONS_VERSION,
            ));
        }
        let d = AdaptOptions::default();
        // SAFETY: checked non-NULL; a version-1 caller allocated the whole struct.
        unsafe {
            options.write(neuneu_adapt_options {
                version,
                holdout: d.holdout,
                seed: d.seed,
                loss_summary: neuneu_loss_summary::NEUNEU_LOSS_SUMMARY_MEAN_P as i32,
            })
        };
        Ok(())
    })
}

/// Reads adapt options (NULL: the defaults) into the library's; the hold-out itself is checked
/// by `adapt`.
pub(crate) unsafe fn read_adapt_options(
    options: *const neuneu_adapt_options,
) -> Result<(AdaptOptions, LossSummary), AbiError> {
    let defaults = AdaptOptions::default();
    if options.is_null() {
        return Ok((defaults, LossSummary::MeanP));
    }
    // SAFETY: non-NULL; the version is read first, before anything past it.
    let version = unsafe { std::ptr::addr_of!((*options).version).read() };
    if version != NEUNEU_ADAPT_OPTIONS_VERSION {
        return Err(unknown_version(
            "options",
            version,
            NEUNEU_ADAPT_OPTIONS_VERSION,
        ));
    }
    // SAFETY: a version-1 caller allocated the whole struct.
    let o = unsafe { options.read() };
    Ok((
        AdaptOptions {
            holdout: o.holdout,
            seed: o.seed,
            ..defaults
        },
        loss_summary(o.loss_summary)?,
    ))
}

/// The loss summary a `neuneu_loss_summary` code means; out of range is INVALID_ARGUMENT.
pub(crate) fn loss_summary(code: i32) -> Result<LossSummary, AbiError> {
    match code {
        0 => Ok(LossSummary::MeanP),
        1 => Ok(LossSummary::PHistogram),
        other => Err(invalid(format!(
            "loss_summary {other} is unknown (0 mean of p, 1 histogram of p)"
        ))),
    }
}

/// Reads sweep options (version 1 or 2) into the library's.
pub(crate) unsafe fn read_sweep_options(
    options: *const neuneu_sweep_options,
) -> Result<SweepOptions, AbiError> {
    if options.is_null() {
        return Err(null("options"));
    }
    // SAFETY: non-NULL, and every version starts with the version-1 prefix.
    let o = unsafe { options.cast::<SweepOptionsV1>().read() };
    let calibrate = match o.version {
        1 => false,
        // SAFETY: a version-2 caller allocated the whole struct.
        NEUNEU_SWEEP_OPTIONS_VERSION => {
            match unsafe { std::ptr::addr_of!((*options).calibrate).read() } {
                0 => false,
                1 => true,
                c => return Err(invalid(format!("calibrate {c} is neither 0 nor 1"))),
            }
        }
        v => return Err(unknown_version("options", v, NEUNEU_SWEEP_OPTIONS_VERSION)),
    };
    let settings = PlanSettings {
        policy: i64::from(o.policy),
        k: o.k,
        fraction: o.fraction,
        threshold: o.threshold,
        budget: o.budget,
        min_observations: o.min_observations,
        samples: o.samples,
        seed: o.seed,
        metric: metric(o.metric_kind, o.direction)?,
    };
    flat::sweep_options(
        &settings,
        (o.end_step != 0.0).then_some(o.end_step),
        calibrate,
    )
}
