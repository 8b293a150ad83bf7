//! A bundle fitted to a user's own finished runs, on the CPU and without candle (`neuneu adapt`).
//!
//! The recipe: the base bundle's network is kept, and its trees for the median ([`trees`]) are
//! fitted again on every cut of the user's runs, less a held-out share of them; on the held-out
//! runs the bands are then recalibrated ([`calibration`]: one factor per level, written into
//! the forecaster graph), and the base and the adapted bundle are scored side by side
//! ([`validate`]: the bands' coverage there is in-sample); the manifest records what the bundle
//! learned from, the factors, the scores and how they were obtained. Trees fitted on a sweep's
//! own runs learn its schedule and its tasks' ceilings, which a general prior cannot know; to fit
//! them beside other data, give those curve files too.

pub mod calibration;
pub mod input;
pub mod sweep;
pub mod trees;
pub mod validate;

use crate::curves::losses::CurveLosses;
use crate::curves::{Curve, Holdout};
use crate::error::{Error, Result};
use crate::inference::summary::LossSummary;
use crate::model::bundle::{Bundle, FORECASTER, TREES, TREES_LOSSES};
use std::collections::BTreeSet;

/// Fewest runs `adapt` accepts: enough that trees see more than one schedule and, with the
/// default hold-out, that at least one run checks them.
pub const MIN_RUNS: usize = 5;

/// Fewest runs the trees may be fitted on once the hold-out is drawn: what the default hold-out
/// leaves of [`MIN_RUNS`] runs.
pub const MIN_FITTED: usize = 4;

/// How [`adapt`] splits and scores.
#[derive(Debug, Clone)]
pub struct AdaptOptions {
    /// Share of the runs held out (by run, per suite) to recalibrate the bands on and score the
    /// result; 0 fits the trees on every run, keeps the base's bands and scores nothing.
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
    pub rows: TreeRows,
    /// Runs given but left out, none of their curves long enough to learn from (`suite/run`).
    pub left_out: Vec<String>,
    /// The band factors fitted on the held-out runs (one per level, 1 at the median); `None`
    /// with no hold-out.
    pub band_factors: Option<Vec<f32>>,
    /// Held-out scores of the base bundle (`validate::validation_scores`); empty with no
    /// hold-out. The adapted bundle's are its manifest's `validation`.
    pub base_scores: validate::Scores,
}

/// Held-out MAE of the median, overall (the model's space): the adapted bundle's, the base's and
/// persistence's.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct HeldOutMae {
    pub adapted: f64,
    pub base: f64,
    pub persistence: f64,
}

impl Adapted {
    /// The held-out MAEs; `None` with no hold-out.
    pub fn held_out_mae(&self) -> Option<HeldOutMae> {
        let mae = |s: &validate::Scores, key: &str| s.get(key)?.get("mae").copied();
        let v = &self.bundle.manifest.validation;
        Some(HeldOutMae {
            adapted: mae(v, "neuneu/all")?,
            base: mae(&self.base_scores, "neuneu/all")?,
            persistence: mae(v, "persistence/all")?,
        })
    }
}

/// The (suite, run) pairs of `curves`.
fn runs(curves: &[&Curve]) -> BTreeSet<(String, String)> {
    curves
        .iter()
        .map(|c| (c.suite.clone(), c.run.clone()))
        .collect()
}

/// The runs to learn from. Refuses a run shorter than `min_context` points in every curve (the
/// model cannot even forecast it) and fewer than [`MIN_RUNS`] runs left to learn from; returns
/// the curves of the runs that teach the trees (a curve long enough for a training row), and
/// the runs left out because none of their curves is (killed early, say), named for the user.
fn runs_to_learn_from(curves: &[Curve], min_context: usize) -> Result<(Vec<Curve>, Vec<String>)> {
    let name = |(s, r): &(String, String)| format!("{s}/{r}");
    let listed = |runs: &[String]| {
        let mut text = runs.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
        if runs.len() > 5 {
            text.push_str(", ...");
        }
        text
    };
    let all: Vec<&Curve> = curves.iter().collect();
    let long_enough = |keep: &dyn Fn(&Curve) -> bool| -> BTreeSet<(String, String)> {
        curves
            .iter()
            .filter(|c| keep(c))
            .map(|c| (c.suite.clone(), c.run.clone()))
            .collect()
    };
    let forecastable = long_enough(&|c| c.compute.len() >= min_context);
    let malformed: Vec<String> = runs(&all).difference(&forecastable).map(name).collect();
    if !malformed.is_empty() {
        return Err(Error::InvalidSetting {
            field: "curves",
            reason: format!(
                "{} run(s) shorter than the model's minimum context of {min_context} points in every curve ({})",
                malformed.len(),
                listed(&malformed)
            ),
        });
    }
    let teaching = long_enough(&|c| trees::teaches(c));
    let left_out: Vec<String> = runs(&all).difference(&teaching).map(name).collect();
    if teaching.len() < MIN_RUNS {
        let short = if left_out.is_empty() {
            String::new()
        } else {
            format!(
                " ({} more too short to learn from: every run needs a curve of at least {} points with positive compute, one more when it starts at compute 0)",
                left_out.len(),
                trees::MIN_CUT + 1
            )
        };
        return Err(Error::InvalidSetting {
            field: "curves",
            reason: format!(
                "{} run(s) to learn from{short}; adapting needs the curves of at least {MIN_RUNS} finished runs",
                teaching.len()
            ),
        });
    }
    let kept = curves
        .iter()
        .filter(|c| teaching.contains(&(c.suite.clone(), c.run.clone())))
        .cloned()
        .collect();
    Ok((kept, left_out))
}

/// Replaces `bundle`'s trees by trees fitted on every cut of `curves`, and its loss trees
/// (`TREES_LOSSES`) by trees fitted on the cuts that have `losses` (dropped without them: a
/// base's loss trees would disagree with the new trees); records the rows in the manifest's
/// facts (`trees_rows`, `trees_losses_rows`) and what the loss trees read (`trees_losses`). Errors if no curve is long enough, or if
/// `losses` name no checkpoint of a cut.
pub fn with_trees(
    bundle: Bundle,
    curves: &[&Curve],
    losses: Option<(&CurveLosses, LossSummary)>,
) -> Result<(Bundle, TreeRows)> {
    use crate::inference::summary::{SUMMARY_FEATURES, SUMMARY_LAYOUT};
    let (x, y) = trees::training_rows(curves.iter().copied(), None);
    if y.is_empty() {
        return Err(Error::InvalidSetting {
            field: "curves",
            reason: format!(
                "no curve is long enough for the trees ({} points or more)",
                trees::MIN_CUT + 1
            ),
        });
    }
    let config = trees::BoosterConfig::default();
    let fitted = trees::fit(&x, SUMMARY_FEATURES, &y, &config, SUMMARY_LAYOUT);
    let mut rows = TreeRows {
        plain: y.len(),
        with_losses: 0,
    };
    let mut members = vec![(TREES.to_string(), fitted.to_json())];
    if let Some((by_checkpoint, kind)) = losses {
        let (x, y) = trees::training_rows(curves.iter().copied(), losses);
        if y.is_empty() {
            return Err(Error::InvalidSetting {
                field: "losses",
                reason: format!(
                    "no loss vector of the index ({} read) belongs to the last checkpoint of a cut of the curves: \
                     the index must name the runs and compute values of the curve files",
                    by_checkpoint.len()
                ),
            });
        }
        let width = SUMMARY_FEATURES + kind.width();
        let fitted = trees::fit(&x, width, &y, &config, &kind.layout());
        rows.with_losses = y.len();
        members.push((TREES_LOSSES.to_string(), fitted.to_json()));
    }
    let mut manifest = bundle.manifest;
    let facts = &mut manifest.training.facts;
    facts.insert("trees_rows".into(), serde_json::json!(rows.plain));
    facts.remove("trees_losses_rows");
    facts.remove("trees_losses");
    if let Some((_, kind)) = losses {
        facts.insert(
            "trees_losses_rows".into(),
            serde_json::json!(rows.with_losses),
        );
        // The manifest's `loss_inputs` describes the network; this, the loss trees.
        facts.insert(
            "trees_losses".into(),
            serde_json::json!(format!(
                "{}: fitted on real token losses; a request that gives token losses takes its median from these trees",
                kind.name()
            )),
        );
    }
    let mut graphs: Vec<(String, Vec<u8>)> = bundle
        .graphs
        .into_iter()
        .filter(|(name, _)| name != TREES && name != TREES_LOSSES)
        .collect();
    graphs.extend(members);
    Ok((Bundle::new(manifest, graphs), rows))
}

/// How a data line of the manifest says that `adapt` learned from a source.
const LEARNED_BY_ADAPT: &str = "learned from by adapt (`neuneu adapt`, `neuneu.adapt`), which refitted the trees for the median";

/// The `adapt_*` facts one adaptation records about itself.
const ADAPT_FACTS: [&str; 7] = [
    "adapt_command",
    "adapt_runs_fitted",
    "adapt_runs_held_out",
    "adapt_holdout",
    "adapt_seed",
    "adapt_runs_left_out",
    "adapt_band_factors",
];

/// When the base was itself adapted, its trees are about to be replaced while the band factors
/// it fitted stay in the forecaster graph (a new fit multiplies them): its data lines are
/// rewritten to say so, and the facts it recorded about its own adaptation are removed, so that
/// none of them is read as this adaptation's.
fn forget_earlier_adapt(training: &mut crate::model::bundle::TrainingRecord, base_name: &str) {
    let facts = &mut training.facts;
    let factors = facts
        .get("adapt_band_factors")
        .map(|f| format!("; the band factors it fitted, {f}, stay in the bands"))
        .unwrap_or_default();
    for line in &mut training.data {
        if let Some(source) = line.find(LEARNED_BY_ADAPT).map(|at| &line[..at]) {
            *line = format!(
                "{source}learned from by an earlier adapt ({base_name}): its trees were replaced{factors}"
            );
        }
    }
    for key in ADAPT_FACTS {
        facts.remove(key);
    }
}

/// The (cut, target) rows trees were fitted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeRows {
    /// The trees of the run summary alone, on every cut.
    pub plain: usize,
    /// The loss trees, on the cuts with losses; 0 without losses.
    pub with_losses: usize,
}

/// Fits one band factor per level to `bundle`'s forecasts of every cut of `curves` (the trees'
/// cuts, each with all its later checkpoints as targets; each suite weighing the same) and
/// writes them into its forecaster graph, multiplying the factors already there.
fn recalibrate_bands(
    bundle: Bundle,
    curves: &[&Curve],
    losses: Option<&CurveLosses>,
) -> Result<(Bundle, Vec<f32>)> {
    use crate::model::onnx::export::{INCREMENT_SCALE, unfold_attention};
    use crate::model::onnx::{export_forecaster, weights_from_graph};
    let engine = crate::Engine::from_bundle(bundle.clone())?;
    let mut inputs = Vec::new();
    let (mut target, mut suites) = (Vec::new(), Vec::new());
    for c in curves {
        for cut in trees::cuts(c) {
            let mut input =
                crate::RunInput::new(&c.compute[..cut], &c.accuracy[..cut], &c.compute[cut..]);
            if let Some(tokens) = losses.and_then(|l| l.of_context(c, cut)) {
                input = input.with_losses(crate::Losses::Tokens(tokens));
            }
            inputs.push(input);
            target.extend(c.accuracy[cut..].iter().map(|&y| y as f32));
            suites.extend(std::iter::repeat_n(c.suite.as_str(), c.compute.len() - cut));
        }
    }
    let pred: Vec<f32> = engine
        .forecast(&inputs)?
        .iter()
        .flat_map(|r| r.forecasts.iter().flat_map(|f| f.quantiles.iter().copied()))
        .collect();
    let arch = bundle.manifest.architecture.clone();
    let weights = calibration::equal_group_weights(&suites, &vec![1.0; suites.len()]);
    let factors = calibration::fit_increment_scales(
        &pred,
        &target,
        &weights,
        &arch.quantile_levels,
        arch.median_index(),
    );
    let bad = |e: crate::error::ModelError| {
        Error::Bundle(crate::error::BundleError::Graph {
            graph: FORECASTER.into(),
            reason: e.to_string(),
        })
    };
    let mut w = weights_from_graph(&bundle.graphs[FORECASTER]).map_err(bad)?;
    unfold_attention(&arch, &mut w).map_err(bad)?;
    let scales: Vec<f32> = match w.get(INCREMENT_SCALE) {
        Ok(t) => t.data.iter().zip(&factors).map(|(s, f)| s * f).collect(),
        Err(_) => factors.clone(),
    };
    w.insert(
        INCREMENT_SCALE,
        crate::model::weights::Tensor::new(vec![scales.len()], scales),
    );
    let graph = export_forecaster(&arch, &w).map_err(bad)?;
    let graphs: Vec<(String, Vec<u8>)> = bundle
        .graphs
        .into_iter()
        .map(|(name, g)| {
            if name == FORECASTER {
                (name, graph.clone())
            } else {
                (name, g)
            }
        })
        .collect();
    Ok((Bundle::new(bundle.manifest, graphs), factors))
}

/// Adapts `base` to `curves` (in the model's space: see `Curve::to_model`), which came from the
/// files described by `sources` (one line each for the manifest), as `command` asked. With
/// `losses`, loss trees are fitted too (`with_trees`), and the held-out runs are forecast with
/// their losses where known, to recalibrate the bands and score the adapted bundle (the base
/// is scored without them: its network was not trained on real losses).
pub fn adapt(
    base: Bundle,
    curves: &[Curve],
    losses: Option<(&CurveLosses, LossSummary)>,
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
    let min_context = base.manifest.preparation.min_context;
    let (teaching, left_out) = runs_to_learn_from(curves, min_context)?;
    // The hold-out is drawn over every run given, left out or not, so that `Holdout::of_bundle`
    // draws it again from the same file (`neuneu eval --heldout`, `neuneu heldout`).
    let held_runs: BTreeSet<(String, String)> = if options.holdout > 0.0 {
        let (_, held_idx) = Holdout::Fraction(options.holdout).split(curves, options.seed);
        runs(&held_idx.iter().map(|&i| &curves[i]).collect::<Vec<_>>())
    } else {
        BTreeSet::new()
    };
    let curves = teaching;
    let (held, fitted): (Vec<&Curve>, Vec<&Curve>) = curves
        .iter()
        .partition(|c| held_runs.contains(&(c.suite.clone(), c.run.clone())));
    let base_name = base.manifest.name.clone();
    let (runs_fitted, runs_held_out) = (runs(&fitted).len(), runs(&held).len());
    if runs_fitted < MIN_FITTED {
        return Err(Error::InvalidSetting {
            field: "holdout",
            reason: format!(
                "holding out {runs_held_out} of the {} runs to learn from leaves {runs_fitted} to fit the trees on; at least {MIN_FITTED} are needed: lower the hold-out or give more runs",
                runs_fitted + runs_held_out
            ),
        });
    }
    // The base scores the held-out runs beside the adapted bundle.
    let base_for_scores = (!held.is_empty()).then(|| base.clone());
    let (mut bundle, rows) = with_trees(base, &fitted, losses)?;

    let m = &mut bundle.manifest;
    m.name = format!("{base_name}-adapted");
    let training = &mut m.training;
    forget_earlier_adapt(training, &base_name);
    training.data.extend(
        sources
            .iter()
            .map(|s| format!("{s}: {LEARNED_BY_ADAPT} (the network is {base_name}'s)")),
    );
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
    if !left_out.is_empty() {
        facts.insert(
            "adapt_runs_left_out".into(),
            serde_json::json!(left_out.len()),
        );
    }

    let mut base_scores = validate::Scores::new();
    let mut band_factors = None;
    if let Some(base) = base_for_scores {
        let given = losses.map(|(l, _)| l);
        let (recalibrated, factors) = recalibrate_bands(bundle, &held, given)?;
        bundle = recalibrated;
        bundle.manifest.training.facts.insert(
            "adapt_band_factors".into(),
            serde_json::json!(
                factors
                    .iter()
                    .map(|&v| (v as f64 * 100.0).round() / 100.0)
                    .collect::<Vec<_>>()
            ),
        );
        band_factors = Some(factors);
        let engine = crate::Engine::from_bundle(bundle.clone())?;
        let base_engine = crate::Engine::from_bundle(base)?;
        base_scores = validate::validation_scores(&base_engine, &held, options.context, None)?;
        let scores = validate::validation_scores(&engine, &held, options.context, given)?;
        bundle.manifest.validation = scores;
        bundle.manifest.validation_protocol = format!(
            "neuneu adapt: {runs_held_out} of the {} runs learned from held out ({:.0}% of each \
             suite's runs, seed {}), the bands recalibrated on them (their coverage here is \
             in-sample); context = checkpoints with compute <= {} x final (at least 3), \
             targets = the rest; MAE of the median per curve, then mean over curves",
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
        left_out,
        band_factors,
        base_scores,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::architecture::Architecture;

    /// A bundle with no loss encoder reads token losses with its loss trees alone: requests with
    /// losses take the loss trees' median, requests without them the plain trees'.
    #[test]
    fn loss_trees_serve_a_model_without_a_loss_encoder() {
        let arch = Architecture {
            encoder: None,
            ..Architecture::small()
        };
        let base = crate::testing::random_bundle(&arch, 3, "no-encoder").unwrap();
        // Twelve runs that jump at their 6th checkpoint by what their losses' p announces.
        let quality = |r: usize| 0.3 + 0.1 * (r % 5) as f64;
        let tokens = |r: usize| vec![-(quality(r) as f32).ln(); 32];
        let compute: Vec<f64> = (1..=8).map(|k| k as f64 * 100.0).collect();
        let curve = |r: usize| {
            let acc: Vec<f64> = (1..=8)
                .map(|k| 0.2 + 0.01 * k as f64 + if k >= 6 { 0.5 * quality(r) } else { 0.0 })
                .collect();
            Curve::synthetic(&format!("r{r}"), "t", &compute, &acc)
        };
        let curves: Vec<Curve> = (0..12).map(curve).collect();
        let mut losses = CurveLosses::default();
        for (r, c) in curves.iter().enumerate() {
            for &x in &compute {
                losses.insert(c, x, tokens(r)).unwrap();
            }
        }
        let refs: Vec<&Curve> = curves.iter().collect();
        let (bundle, rows) = with_trees(base, &refs, Some((&losses, LossSummary::MeanP))).unwrap();
        assert!(rows.with_losses > 0 && rows.plain >= rows.with_losses);
        let engine = crate::Engine::from_bundle(bundle).unwrap();
        assert!(engine.reads_losses());
        let (r, targets) = (20, [700.0]);
        let new = curve(r);
        let bare = crate::RunInput::new(&new.compute[..4], &new.accuracy[..4], &targets);
        let given_tokens = tokens(r);
        let given = bare.with_losses(crate::Losses::Tokens(&given_tokens));
        let median = |run: crate::RunInput<'_>| {
            f64::from(engine.forecast(&[run]).unwrap()[0].forecasts[0].quantiles[2])
        };
        let truth = new.accuracy[6];
        assert!(
            (median(given) - truth).abs() < 0.5 * (median(bare) - truth).abs(),
            "with losses {}, without {}, truth {truth}",
            median(given),
            median(bare)
        );
    }
}
