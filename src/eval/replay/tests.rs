use super::*;
use crate::decisions::metric::Metric;
use std::sync::Mutex;

fn curve(task: &str, run: &str, compute: &[f64], accuracy: &[f64]) -> Curve {
    Curve::synthetic(run, task, compute, accuracy)
}

/// Four arms; `d` has twice the budget of the others. Finals: b best, then c, d, a.
fn sweep() -> Vec<Curve> {
    vec![
        curve("t", "a", &[1.0, 2.0, 3.0, 4.0], &[0.1, 0.2, 0.3, 0.5]),
        curve("t", "b", &[1.0, 2.0, 3.0, 4.0], &[0.1, 0.2, 0.6, 0.9]),
        curve("t", "c", &[1.0, 2.0, 3.0, 4.0], &[0.4, 0.5, 0.6, 0.7]),
        curve("t", "d", &[2.0, 4.0, 6.0, 8.0], &[0.3, 0.4, 0.5, 0.6]),
    ]
}

/// Stops the named runs at the given rung and records what it was shown.
struct StopRuns {
    plan: Vec<(usize, &'static str)>,
    seen: Mutex<Vec<(usize, String, Vec<f64>)>>,
}

impl StopRuns {
    fn new(plan: &[(usize, &'static str)]) -> Self {
        StopRuns {
            plan: plan.to_vec(),
            seen: Mutex::new(Vec::new()),
        }
    }
}

impl Pruner for StopRuns {
    fn name(&self) -> String {
        "stop-runs".into()
    }
    fn stop(&self, rung: &Rung, arms: &[ArmView<'_>]) -> Result<Vec<bool>> {
        let mut seen = self.seen.lock().unwrap();
        for a in arms {
            seen.push((rung.index, a.run.to_string(), a.steps.to_vec()));
        }
        Ok(arms
            .iter()
            .map(|a| self.plan.contains(&(rung.index, a.run)))
            .collect())
    }
}

/// Stops nothing; records the length of the losses each arm was shown with, by rung.
struct RecordLosses(Mutex<Vec<(usize, String, Option<usize>)>>);

impl Pruner for RecordLosses {
    fn name(&self) -> String {
        "record-losses".into()
    }
    fn stop(&self, rung: &Rung, arms: &[ArmView<'_>]) -> Result<Vec<bool>> {
        let mut seen = self.0.lock().unwrap();
        for a in arms {
            seen.push((rung.index, a.run.to_string(), a.losses.map(<[f32]>::len)));
        }
        Ok(vec![false; arms.len()])
    }
}

#[test]
fn arms_are_shown_the_losses_of_their_last_observed_checkpoint() {
    let curves = sweep();
    let mut losses = crate::curves::losses::CurveLosses::default();
    // Checkpoint c of a curve gets c + 1 losses, so the length says which one was shown;
    // run c has none at compute 2.
    for c in &curves {
        for (i, &x) in c.compute.iter().enumerate() {
            if !(c.run == "c" && x == 2.0) {
                losses.insert(c, x, vec![0.5; i + 1]).unwrap();
            }
        }
    }
    let pruner = RecordLosses(Mutex::new(Vec::new()));
    replay_with_losses(&curves, &pruner, &opts(&[0.25, 0.5]), Some(&losses)).unwrap();
    let seen = pruner.0.into_inner().unwrap();
    let shown = |rung: usize, run: &str| {
        seen.iter()
            .find(|(r, name, _)| *r == rung && name == run)
            .map(|s| s.2)
            .unwrap()
    };
    // Rung 0 (a quarter of each budget): a, b, c have seen compute 1, d compute 2.
    assert_eq!(shown(0, "a"), Some(1));
    assert_eq!(shown(0, "d"), Some(1));
    // Rung 1 (half): a, b have seen compute 2 (their 2nd checkpoint), c has no losses there.
    assert_eq!(shown(1, "b"), Some(2));
    assert_eq!(shown(1, "c"), None);
    assert_eq!(shown(1, "d"), Some(2));
    // Without losses, none.
    let bare = RecordLosses(Mutex::new(Vec::new()));
    replay(&curves, &bare, &opts(&[0.25, 0.5])).unwrap();
    assert!(bare.0.into_inner().unwrap().iter().all(|s| s.2.is_none()));
    // Bad losses are refused with the run.
    let e = losses
        .insert(&curves[0], 1.0, vec![-1.0])
        .unwrap_err()
        .to_string();
    assert!(e.contains("a") && e.contains("negative"), "{e}");
}

fn opts(rungs: &[f64]) -> ReplayOptions {
    ReplayOptions {
        rungs: rungs.to_vec(),
        ..ReplayOptions::default()
    }
}

#[test]
fn stopped_arms_are_charged_their_last_observed_checkpoint() {
    // d stops at rung 0 (budget 0.5 * 8 = 4: it has seen 2 and 4); a at rung 1 (budget 3).
    let pruner = StopRuns::new(&[(0, "d"), (1, "a")]);
    let report = replay(&sweep(), &pruner, &opts(&[0.5, 0.75])).unwrap();
    let o = &report.sweeps[0];
    assert_eq!(o.survivors, 2);
    // Spent 3 (a) + 4 (b) + 4 (c) + 4 (d) of planned 4 + 4 + 4 + 8.
    assert!(
        (o.compute_fraction - 15.0 / 20.0).abs() < 1e-12,
        "{}",
        o.compute_fraction
    );
    // A stopped arm is never shown again.
    let seen = pruner.seen.lock().unwrap();
    assert!(!seen.iter().any(|(r, run, _)| *r == 1 && run == "d"));
    assert!(seen.contains(&(0, "d".into(), vec![2.0, 4.0])));
}

#[test]
fn no_pruning_spends_everything_and_loses_nothing() {
    let report = replay(&sweep(), &StopRuns::new(&[]), &ReplayOptions::default()).unwrap();
    let s = &report.summary;
    assert_eq!((s.sweeps, s.skipped, s.no_survivor), (1, 0, 0));
    assert_eq!(s.mean_compute_fraction, 1.0);
    assert_eq!(s.mean_regret, 0.0);
    assert_eq!(s.best_survived_rate, 1.0);
    assert_eq!(s.mean_top_k_recall, 1.0);
}

#[test]
fn unobserved_arms_are_not_judged_and_idle_arms_repeat_their_latest() {
    let mut curves = sweep();
    // e's first checkpoint lies beyond 0.2 of its budget, so rung 0 cannot judge it.
    curves.push(curve("t", "e", &[10.0, 20.0], &[0.2, 0.3]));
    let pruner = StopRuns::new(&[]);
    replay(&curves, &pruner, &opts(&[0.2, 0.5, 0.6])).unwrap();
    let seen = pruner.seen.lock().unwrap();
    assert!(!seen.iter().any(|(r, run, _)| *r == 0 && run == "e"));
    assert!(seen.contains(&(1, "e".into(), vec![10.0])));
    // Nothing new between 0.5 and 0.6 of a's budget (2.0 and 2.4): the same prefix again.
    assert!(seen.contains(&(1, "a".into(), vec![1.0, 2.0])));
    assert!(seen.contains(&(2, "a".into(), vec![1.0, 2.0])));
}

#[test]
fn regret_is_zero_exactly_when_the_best_arm_survives() {
    let kept = replay(&sweep(), &StopRuns::new(&[(0, "a")]), &opts(&[0.5])).unwrap();
    let o = &kept.sweeps[0];
    assert_eq!(
        (o.regret, o.best_survived, o.top_k_recall),
        (0.0, true, 1.0)
    );

    let lost = replay(&sweep(), &StopRuns::new(&[(0, "b")]), &opts(&[0.5])).unwrap();
    let o = &lost.sweeps[0];
    assert!((o.regret - (0.9 - 0.7)).abs() < 1e-12, "{}", o.regret);
    assert!(!o.best_survived);
    // True top 3 is b, c, d; c and d survived.
    assert!((o.top_k_recall - 2.0 / 3.0).abs() < 1e-12);
}

#[test]
fn a_sweep_with_no_survivor_regrets_its_best_final() {
    let all = StopRuns::new(&[(0, "a"), (0, "b"), (0, "c"), (0, "d")]);
    let report = replay(&sweep(), &all, &opts(&[0.5])).unwrap();
    assert_eq!(report.summary.no_survivor, 1);
    assert_eq!(report.sweeps[0].regret, 0.9);
    assert!(!report.sweeps[0].best_survived);
    assert_eq!(report.sweeps[0].top_k_recall, 0.0);
}

#[test]
fn small_sweeps_are_skipped_and_counted() {
    let mut curves = sweep();
    for run in ["x", "y", "z"] {
        curves.push(curve("small", run, &[1.0, 2.0], &[0.1, 0.2]));
    }
    let report = replay(&curves, &StopRuns::new(&[]), &ReplayOptions::default()).unwrap();
    assert_eq!((report.summary.sweeps, report.summary.skipped), (1, 1));
    assert_eq!(report.sweeps[0].task, "t");
}

fn views<'a>(runs: &'a [&'a str], values: &'a [[f64; 2]]) -> Vec<ArmView<'a>> {
    runs.iter()
        .zip(values)
        .map(|(run, v)| ArmView {
            run,
            steps: &[1.0, 2.0],
            accuracy: v,
            planned: 4.0,
            losses: None,
        })
        .collect()
}

const RUNG: Rung = Rung {
    index: 0,
    count: 1,
    fraction: 0.5,
    sweep_end: 4.0,
    metric: Metric::ACCURACY,
};

#[test]
fn halving_keeps_the_top_ceil_n_over_eta_by_last_or_best() {
    let runs = ["a", "b", "c", "d", "e"];
    let values = [[0.9, 0.1], [0.2, 0.5], [0.3, 0.4], [0.1, 0.3], [0.2, 0.2]];
    let arms = views(&runs, &values);
    let eta2 = SuccessiveHalving::new(2).unwrap();
    // By last value: b (0.5), c (0.4), d (0.3) are kept.
    assert_eq!(
        eta2.stop(&RUNG, &arms).unwrap(),
        [true, false, false, false, true]
    );
    // By best so far a (0.9) comes first and d (0.3) drops out.
    let best = eta2.ranked_by(RankBy::BestSoFar);
    assert_eq!(
        best.stop(&RUNG, &arms).unwrap(),
        [false, false, false, true, true]
    );
    let eta3 = SuccessiveHalving::new(3).unwrap();
    assert_eq!(
        eta3.stop(&RUNG, &arms).unwrap(),
        [true, false, false, true, true]
    );
}

#[test]
fn halving_breaks_ties_to_the_earlier_arm_and_keeps_one() {
    let eta2 = SuccessiveHalving::new(2).unwrap();
    let tied = views(&["a", "b", "c"], &[[0.0, 0.5], [0.0, 0.5], [0.0, 0.5]]);
    assert_eq!(eta2.stop(&RUNG, &tied).unwrap(), [false, false, true]);
    let one = views(&["a"], &[[0.0, 0.1]]);
    assert_eq!(
        SuccessiveHalving::new(3)
            .unwrap()
            .stop(&RUNG, &one)
            .unwrap(),
        [false]
    );
    assert!(eta2.stop(&RUNG, &[]).unwrap().is_empty());
    assert!(SuccessiveHalving::new(1).is_err());
}

#[test]
fn halving_replay_narrows_to_one_survivor() {
    // Rung 0.5: a 0.2, b 0.2, c 0.5, d 0.4 (d at 4 of 8) -> keep c, d. Rung 0.75: c 0.6 beats
    // d 0.4 (d at 6 of 8 has 0.5; c at 3 of 4 has 0.6) -> keep c.
    let eta2 = SuccessiveHalving::new(2).unwrap();
    let report = replay(&sweep(), &eta2, &opts(&[0.5, 0.75])).unwrap();
    let o = &report.sweeps[0];
    assert_eq!(o.survivors, 1);
    assert!((o.regret - 0.2).abs() < 1e-12);
    // a, b stop at 2; d at 6; c runs to 4. Planned 20.
    assert!((o.compute_fraction - 14.0 / 20.0).abs() < 1e-12);
    assert_eq!(report.summary.pruner, "halving eta=2 last");
}

struct WrongLength;

impl Pruner for WrongLength {
    fn name(&self) -> String {
        "wrong".into()
    }
    fn stop(&self, _: &Rung, _: &[ArmView<'_>]) -> Result<Vec<bool>> {
        Ok(vec![true])
    }
}

#[test]
fn bad_pruner_output_and_bad_options_are_errors() {
    assert!(replay(&sweep(), &WrongLength, &ReplayOptions::default()).is_err());
    for rungs in [vec![], vec![0.5, 0.5], vec![0.0], vec![1.5]] {
        assert!(
            replay(&sweep(), &StopRuns::new(&[]), &opts(&rungs)).is_err(),
            "{rungs:?}"
        );
    }
}

#[test]
fn table_has_a_row_per_pruner_and_summary_serializes() {
    let report = replay(
        &sweep(),
        &SuccessiveHalving::new(2).unwrap(),
        &ReplayOptions::default(),
    )
    .unwrap();
    let table = render_table(std::slice::from_ref(&report.summary));
    assert_eq!(table.lines().count(), 2);
    assert!(table.contains("halving eta=2 last"), "{table}");
    let json = serde_json::to_string(&report).unwrap();
    let back: ReplayReport = serde_json::from_str(&json).unwrap();
    assert_eq!(back, report);
}

/// Four arms of a minimized loss, in nats. Finals: a lowest (best), then b, c, d; the early
/// values already rank them so.
fn loss_sweep() -> Vec<Curve> {
    vec![
        curve("t", "a", &[1.0, 2.0, 3.0, 4.0], &[3.0, 2.6, 2.2, 2.0]),
        curve("t", "b", &[1.0, 2.0, 3.0, 4.0], &[3.2, 2.9, 2.7, 2.5]),
        curve("t", "c", &[1.0, 2.0, 3.0, 4.0], &[3.4, 3.2, 3.1, 3.0]),
        curve("t", "d", &[1.0, 2.0, 3.0, 4.0], &[3.9, 3.7, 3.6, 3.5]),
    ]
}

fn loss_opts(rungs: &[f64]) -> ReplayOptions {
    ReplayOptions {
        metric: "loss".parse().unwrap(),
        ..opts(rungs)
    }
}

#[test]
fn a_minimized_loss_keeps_its_lowest_arm_as_best() {
    // Halving keeps the higher half in the model's space: the lower losses, a and b, then a.
    let eta2 = SuccessiveHalving::new(2).unwrap();
    let report = replay(&loss_sweep(), &eta2, &loss_opts(&[0.5, 0.75])).unwrap();
    let o = &report.sweeps[0];
    assert_eq!((o.survivors, o.best_survived, o.regret), (1, true, 0.0));
    // Read as an accuracy the same losses are refused, not ranked the wrong way round.
    assert!(replay(&loss_sweep(), &eta2, &opts(&[0.5])).is_err());
}

#[test]
fn a_minimized_loss_regrets_in_nats_above_the_best() {
    // a, the lowest final loss, is stopped: the best survivor b ends 0.5 nats above it.
    let lost = replay(
        &loss_sweep(),
        &StopRuns::new(&[(0, "a")]),
        &loss_opts(&[0.5]),
    )
    .unwrap();
    let o = &lost.sweeps[0];
    assert!((o.regret - 0.5).abs() < 1e-12, "{}", o.regret);
    assert!(!o.best_survived);
    // The true top 3 is a, b, c (the lowest losses); b and c survived.
    assert!((o.top_k_recall - 2.0 / 3.0).abs() < 1e-12);
    // Nothing survives: a loss has no worst value, so the worst arm's final stands in.
    let all = StopRuns::new(&[(0, "a"), (0, "b"), (0, "c"), (0, "d")]);
    let none = replay(&loss_sweep(), &all, &loss_opts(&[0.5])).unwrap();
    assert!((none.sweeps[0].regret - 1.5).abs() < 1e-12);
    // A minimized bounded metric is charged its worst value, 1.
    let mut error_rates = loss_sweep();
    for c in &mut error_rates {
        c.accuracy.iter_mut().for_each(|v| *v /= 10.0);
    }
    let bounded = ReplayOptions {
        metric: "bounded:minimize".parse().unwrap(),
        ..opts(&[0.5])
    };
    let none = replay(&error_rates, &all, &bounded).unwrap();
    assert!((none.sweeps[0].regret - 0.8).abs() < 1e-12);
}

/// Records the values and metric a pruner is shown.
struct Shown(Mutex<Vec<(Metric, Vec<f64>)>>);

impl Pruner for Shown {
    fn name(&self) -> String {
        "shown".into()
    }
    fn stop(&self, rung: &Rung, arms: &[ArmView<'_>]) -> Result<Vec<bool>> {
        let mut shown = self.0.lock().unwrap();
        shown.extend(arms.iter().map(|a| (rung.metric, a.accuracy.to_vec())));
        Ok(vec![false; arms.len()])
    }
}

#[test]
fn pruners_see_the_model_space_and_the_metric() {
    let shown = Shown(Mutex::new(Vec::new()));
    let opts = loss_opts(&[0.5]);
    replay(&loss_sweep(), &shown, &opts).unwrap();
    let shown = shown.0.lock().unwrap();
    // Arm a at rung 0.5 of 4: its first two points, as exp(-loss).
    assert_eq!(
        shown[0],
        (opts.metric, vec![(-3.0f64).exp(), (-2.6f64).exp()])
    );
}
