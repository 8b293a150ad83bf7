//! A bundle fitted to a user's own finished runs, on the CPU and without candle (`neuneu adapt`).
//!
//! The recipe: the base bundle's network is kept as it is (its quantile bands), and its trees
//! for the median ([`trees`]) are fitted again on every cut of the user's runs, less a held-out
//! share of them; the held-out runs then score the base and the adapted bundle side by side
//! ([`validate`]), and the manifest records what the bundle learned from, the scores and how
//! they were obtained. Trees fitted on a sweep's own runs learn its schedule and its tasks'
//! ceilings, which a general prior cannot know; to fit them beside other data, give those curve
//! files too.

pub mod trees;
pub mod validate;

use crate::error::{Error, Result};
use crate::eval::curves::{Curve, Holdout};
use crate::model::bundle::{Bundle, TREES};
use std::collections::BTreeSet;

/// Fewest runs `adapt` accepts: enough that trees see more than one schedule and, with the
/// default hold-out, that at least one run checks them.
pub const MIN_RUNS: usize = 5;

/// How [`adapt`] splits and scores.
#[derive(Debug, Clone)]
pub struct AdaptOptions {
    /// Share of the runs held out to score the result (by run, per suite); 0 fits on every run
    /// and scores nothing.
    pub holdout: f64,
    /// Seed of the hold-out draw.
    pub seed: u64,
    /// The scoring protocol's context: checkpoints with compute <= this fraction of the final.
    pub context: f64,
}

impl Default for AdaptOptions {
    fn default() -> Self {
        AdaptOptions {
            holdout: 0.2,
            seed: 17,
            context: 0.2,
        }
    }
}

/// What [`adapt`] did.
#[derive(Debug, Clone)]
pub struct Adapted {
    pub bundle: Bundle,
    /// Runs the trees were fitted on, and runs held out.
    pub runs_fitted: usize,
    pub runs_held_out: usize,
    /// (cut, target) rows the trees were fitted on.
    pub rows: usize,
    /// Held-out scores of the base bundle (`validate::validation_scores`); empty with no
    /// hold-out. The adapted bundle's are its manifest's `validation`.
    pub base_scores: validate::Scores,
}

/// The (suite, run) pairs of `curves`.
fn runs(curves: &[&Curve]) -> BTreeSet<(String, String)> {
    curves
        .iter()
        .map(|c| (c.suite.clone(), c.run.clone()))
        .collect()
}

/// Refuses data the trees cannot learn from, saying how much is needed: fewer than
/// [`MIN_RUNS`] runs, or a run none of whose curves is long enough for a training row.
fn check_enough(curves: &[Curve]) -> Result<()> {
    let all: Vec<&Curve> = curves.iter().collect();
    let n = runs(&all).len();
    if n < MIN_RUNS {
        return Err(Error::InvalidSetting {
            field: "curves",
            reason: format!(
                "{n} run(s) given; adapting needs the curves of at least {MIN_RUNS} finished runs"
            ),
        });
    }
    let teaching: BTreeSet<(String, String)> = curves
        .iter()
        .filter(|c| trees::teaches(c))
        .map(|c| (c.suite.clone(), c.run.clone()))
        .collect();
    let short: Vec<String> = runs(&all)
        .difference(&teaching)
        .map(|(s, r)| format!("{s}/{r}"))
        .collect();
    if !short.is_empty() {
        return Err(Error::InvalidSetting {
            field: "curves",
            reason: format!(
                "{} run(s) too short to learn from ({}{}): every run needs a curve of at \
                 least {} points with positive compute (one more when it starts at compute \
                 0), a context of {} and a later target; drop them or give their whole curves",
                short.len(),
                short.iter().take(5).cloned().collect::<Vec<_>>().join(", "),
                if short.len() > 5 { ", ..." } else { "" },
                trees::MIN_CUT + 1,
                trees::MIN_CUT
            ),
        });
    }
    Ok(())
}

/// Replaces `bundle`'s trees by trees fitted on every cut of `curves`; records the rows in the
/// manifest's facts (`trees_rows`). Errors if no curve is long enough.
pub fn with_trees(bundle: Bundle, curves: &[&Curve]) -> Result<(Bundle, usize)> {
    use crate::inference::summary::SUMMARY_FEATURES;
    let (x, y) = trees::training_rows(curves.iter().copied());
    if y.is_empty() {
        return Err(Error::InvalidSetting {
            field: "curves",
            reason: format!(
                "no curve is long enough for the trees ({} points or more)",
                trees::MIN_CUT + 1
            ),
        });
    }
    let fitted = trees::fit(&x, SUMMARY_FEATURES, &y, &trees::BoosterConfig::default());
    let mut manifest = bundle.manifest;
    manifest
        .training
        .facts
        .insert("trees_rows".into(), serde_json::json!(y.len()));
    let mut graphs: Vec<(String, Vec<u8>)> = bundle
        .graphs
        .into_iter()
        .filter(|(name, _)| name != TREES)
        .collect();
    graphs.push((TREES.to_string(), fitted.to_json()));
    Ok((Bundle::new(manifest, graphs), y.len()))
}

/// Adapts `base` to `curves` (in the model's space: see `Curve::to_model`), which came from the
/// files described by `sources` (one line each for the manifest), as `command` asked.
pub fn adapt(
    base: Bundle,
    curves: &[Curve],
    sources: &[String],
    command: &str,
    options: &AdaptOptions,
) -> Result<Adapted> {
    if !(0.0..1.0).contains(&options.holdout) {
        return Err(Error::InvalidSetting {
            field: "holdout",
            reason: format!("{} is not in [0, 1)", options.holdout),
        });
    }
    if !(options.context > 0.0 && options.context < 1.0) {
        return Err(Error::InvalidSetting {
            field: "context",
            reason: format!("{} is not in (0, 1)", options.context),
        });
    }
    check_enough(curves)?;
    let (fit_idx, held_idx) = if options.holdout > 0.0 {
        Holdout::Fraction(options.holdout).split(curves, options.seed)
    } else {
        ((0..curves.len()).collect(), Vec::new())
    };
    let fitted: Vec<&Curve> = fit_idx.iter().map(|&i| &curves[i]).collect();
    let held: Vec<&Curve> = held_idx.iter().map(|&i| &curves[i]).collect();
    let base_name = base.manifest.name.clone();
    let base_engine = crate::Engine::from_bundle(base.clone())?;
    let (mut bundle, rows) = with_trees(base, &fitted)?;
    let (runs_fitted, runs_held_out) = (runs(&fitted).len(), runs(&held).len());

    let m = &mut bundle.manifest;
    m.name = format!("{base_name}-adapted");
    let training = &mut m.training;
    training.data.extend(sources.iter().map(|s| {
        format!("{s}: the trees for the median refitted by `neuneu adapt` (the network is {base_name}'s)")
    }));
    let facts = &mut training.facts;
    // The base's trees were replaced: the command that fitted them no longer describes them.
    facts.remove("trees_command");
    facts.insert("adapted_from".into(), serde_json::json!(base_name));
    facts.insert("adapt_command".into(), serde_json::json!(command));
    facts.insert("adapt_runs_fitted".into(), serde_json::json!(runs_fitted));
    facts.insert(
        "adapt_runs_held_out".into(),
        serde_json::json!(runs_held_out),
    );
    facts.insert("adapt_holdout".into(), serde_json::json!(options.holdout));
    facts.insert("adapt_seed".into(), serde_json::json!(options.seed));

    let mut base_scores = validate::Scores::new();
    if !held.is_empty() {
        let engine = crate::Engine::from_bundle(bundle.clone())?;
        base_scores = validate::validation_scores(&base_engine, &held, options.context)?;
        let scores = validate::validation_scores(&engine, &held, options.context)?;
        bundle.manifest.validation = scores;
        bundle.manifest.validation_protocol = format!(
            "neuneu adapt: {runs_held_out} of the {} runs given held out ({:.0}% of each \
             suite's runs, seed {}); context = checkpoints with compute <= {} x final (at least \
             3), targets = the rest; MAE of the median per curve, then mean over curves",
            runs_fitted + runs_held_out,
            options.holdout * 100.0,
            options.seed,
            options.context
        );
    } else {
        bundle.manifest.validation.clear();
        bundle.manifest.validation_protocol =
            "neuneu adapt --holdout 0: fitted on every run given, none held out to score it".into();
    }
    Ok(Adapted {
        bundle,
        runs_fitted,
        runs_held_out,
        rows,
        base_scores,
    })
}
