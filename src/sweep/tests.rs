use super::*;
use crate::decisions::metric::{Direction, MetricKind};
use crate::decisions::{SweepArm, plan_sweep};
use proptest::prelude::*;
use std::sync::OnceLock;

fn engine() -> Arc<Engine> {
    static ENGINE: OnceLock<Arc<Engine>> = OnceLock::new();
    ENGINE
        .get_or_init(|| Arc::new(Engine::embedded().unwrap()))
        .clone()
}

/// Arm `a`'s value at checkpoint `t` (steps 100, 200, ...): rising curves of different speeds
/// and ceilings, so that the arms are close enough for some plans to hesitate.
fn value(a: usize, t: usize) -> f64 {
    let ceiling = 0.45 + 0.07 * ((a * 7) % 5) as f64;
    let speed = 0.15 + 0.05 * (a % 3) as f64;
    ceiling * (1.0 - (-(speed * (t + 1) as f64)).exp())
}

fn step(t: usize) -> f64 {
    100.0 * (t + 1) as f64
}

fn options(policy: Policy) -> SweepOptions {
    let mut o = SweepOptions::new(policy);
    o.end_step = Some(2000.0);
    o.seed = 11;
    o.samples = 2000;
    o
}

const ARMS: usize = 6;
const CHECKPOINTS: usize = 8;

#[test]
fn decisions_fed_point_by_point_equal_the_batch_plan() {
    let policy = Policy::StopBelowProbability {
        k: 2,
        threshold: 0.1,
    };
    let mut sweep = Sweep::new(engine(), options(policy)).unwrap();
    // Arm 5 ends earlier than the others.
    sweep.set_end("arm-5", 1200.0).unwrap();
    for t in 0..CHECKPOINTS {
        for a in 0..ARMS {
            sweep
                .observe(&format!("arm-{a}"), step(t), value(a, t))
                .unwrap();
        }
        // A rung every other checkpoint, once arms have enough points.
        if t < 2 || t % 2 == 0 {
            continue;
        }
        let decision = sweep.decide(None).unwrap();
        let steps: Vec<f64> = (0..=t).map(step).collect();
        let values: Vec<Vec<f64>> = (0..ARMS)
            .map(|a| (0..=t).map(|u| value(a, u)).collect())
            .collect();
        // The batch plan takes the arms in the sweep's order (arm-5 first: its end came first).
        let order: Vec<usize> = sweep
            .arm_ids()
            .map(|id| id["arm-".len()..].parse().unwrap())
            .collect();
        assert_eq!(order[0], 5);
        let arms: Vec<SweepArm> = order
            .iter()
            .map(|&a| SweepArm {
                id: format!("arm-{a}"),
                run: RunInput::new(&steps, &values[a], &[]),
                end_step: (a == 5).then_some(1200.0),
            })
            .collect();
        let mut plan_options = PlanOptions::new(policy);
        plan_options.seed = decision.seed;
        plan_options.samples = 2000;
        let batch = plan_sweep(&engine(), &arms, 2000.0, &plan_options).unwrap();
        assert_eq!(decision.k, batch.k);
        for (verdict, d) in decision.arms.iter().zip(&batch.decisions) {
            assert_eq!(verdict.id, d.id);
            assert_eq!(
                verdict.action == Action::Continue,
                d.keep,
                "{verdict:?} {d:?}"
            );
            assert_eq!(verdict.p_top_k.unwrap().to_bits(), d.p_top_k.to_bits());
            assert_eq!(verdict.median.unwrap().to_bits(), d.median.to_bits());
            assert_eq!(verdict.reason, d.reason);
        }
    }
}

#[test]
fn a_decision_after_one_observation_forecasts_one_arm() {
    let mut sweep = Sweep::new(engine(), options(Policy::KeepTopK { k: 2 })).unwrap();
    for t in 0..4 {
        for a in 0..ARMS {
            sweep
                .observe(&format!("arm-{a}"), step(t), value(a, t))
                .unwrap();
        }
    }
    sweep.decide(None).unwrap();
    let cached = |s: &Sweep| s.arms.iter().map(|a| a.cached.clone()).collect::<Vec<_>>();
    let before = cached(&sweep);
    sweep.observe("arm-3", step(4), value(3, 4)).unwrap();
    sweep.decide(None).unwrap();
    let after = cached(&sweep);
    for (a, (b, c)) in before.iter().zip(&after).enumerate() {
        assert_eq!(b == c, a != 3, "arm {a}: only arm 3 is forecast again");
    }
}

/// An event of a random sweep: observe the next point of an arm, finish or stop an arm, set an
/// end, or decide.
#[derive(Debug, Clone)]
enum Event {
    Observe(usize),
    Finish(usize),
    Stop(usize),
    End(usize),
    Decide,
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        6 => (0..ARMS).prop_map(Event::Observe),
        1 => (0..ARMS).prop_map(Event::Finish),
        1 => (0..ARMS).prop_map(Event::Stop),
        1 => (0..ARMS).prop_map(Event::End),
        2 => Just(Event::Decide),
    ]
}

/// Applies `e`; returns the decision if it was one. Refused events (a finished arm observed,
/// say) are part of real sweeps and leave the sweep unchanged.
fn apply(sweep: &mut Sweep, next: &mut [usize], e: &Event) -> Option<Decision> {
    let id = |a: usize| format!("arm-{a}");
    match *e {
        Event::Observe(a) => {
            if next[a] < CHECKPOINTS
                && sweep
                    .observe(&id(a), step(next[a]), value(a, next[a]))
                    .is_ok()
            {
                next[a] += 1;
            }
        }
        Event::Finish(a) => {
            let _ = sweep.finish(&id(a));
        }
        Event::Stop(a) => {
            let _ = sweep.stop(&id(a));
        }
        Event::End(a) => sweep.set_end(&id(a), 900.0 + 100.0 * a as f64).unwrap(),
        Event::Decide => return Some(sweep.decide(None).unwrap()),
    }
    None
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Save at any event, load, continue: the same decisions as the sweep that never stopped;
    /// and whatever the mix of young, live, finished and stopped arms, deciding never fails.
    #[test]
    fn a_resumed_sweep_decides_as_one_that_never_stopped(
        events in prop::collection::vec(event(), 1..40),
        cut in 0usize..52,
        policy in 0usize..4,
        calibrate in any::<bool>(),
    ) {
        let policy = [
            Policy::KeepTopK { k: 3 },
            Policy::StopFraction { fraction: 0.5 },
            Policy::StopBelowProbability { k: 2, threshold: 0.3 },
            Policy::StopWithinBudget { k: 2, budget: 0.2 },
        ][policy];
        // Every arm first gets two points (the model's minimum context), so that decisions
        // plan and forecast from the start; the random events follow.
        let warm_up = (0..2).flat_map(|_| (0..ARMS).map(Event::Observe));
        let events: Vec<Event> = warm_up.chain(events).chain([Event::Decide]).collect();
        let cut = cut.min(events.len());
        let options = SweepOptions { calibrate, ..options(policy) };
        let mut straight = Sweep::new(engine(), options.clone()).unwrap();
        let mut next = vec![0; ARMS];
        let mut want = Vec::new();
        for e in &events {
            want.extend(apply(&mut straight, &mut next, e));
        }
        let mut first = Sweep::new(engine(), options).unwrap();
        let mut next = vec![0; ARMS];
        let mut got = Vec::new();
        for e in &events[..cut] {
            got.extend(apply(&mut first, &mut next, e));
        }
        let mut resumed = Sweep::load(engine(), &first.save()).unwrap();
        for e in &events[cut..] {
            got.extend(apply(&mut resumed, &mut next, e));
        }
        prop_assert!(want.iter().any(|d| d.k > 0), "no decision planned: {:?}", want);
        prop_assert_eq!(got, want);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// Any mix of young (0 or 1 point), live, finished and stopped arms, any policy and any
    /// `k` from 1 to 12: the sweep and the batch plan decide without error, `k` is capped at
    /// the arms that can still win (and the cap is stated), young arms are kept with their
    /// reason, and nothing but a live arm is told to stop.
    #[test]
    fn a_plan_over_any_mix_of_arms_never_fails(
        arms in prop::collection::vec((0usize..5, 0usize..3), 1..9),
        policy in 0usize..4,
        k in 1usize..12,
    ) {
        let policy = [
            Policy::KeepTopK { k },
            Policy::StopFraction { fraction: 0.5 },
            Policy::StopBelowProbability { k, threshold: 0.3 },
            Policy::StopWithinBudget { k, budget: 0.2 },
        ][policy];
        let mut sweep = Sweep::new(engine(), options(policy)).unwrap();
        for (a, &(points, state)) in arms.iter().enumerate() {
            let id = format!("arm-{a}");
            sweep.set_end(&id, 2000.0).unwrap();
            for t in 0..points {
                sweep.observe(&id, step(t), value(a, t)).unwrap();
            }
            match state {
                1 if points > 0 => sweep.finish(&id).unwrap(),
                2 => sweep.stop(&id).unwrap(),
                _ => {}
            }
        }
        let ids: Vec<String> = (0..arms.len()).map(|a| format!("arm-{a}")).collect();
        let asked: Vec<&str> = ids.iter().map(String::as_str).collect();
        let d = sweep.decide(Some(&asked)).unwrap();
        let can_win = d.arms.iter().filter(|v| v.p_top_k.is_some()).count();
        prop_assert!(d.k <= d.k_requested);
        if can_win == 0 {
            prop_assert_eq!(d.k, 0);
        } else if matches!(policy, Policy::StopFraction { .. }) {
            // The fraction policy's k is what it keeps of the arms planned: never capped.
            prop_assert_eq!(d.k, d.k_requested);
        } else {
            prop_assert_eq!(d.k, d.k_requested.min(can_win));
        }
        for (v, &(points, _)) in d.arms.iter().zip(&arms) {
            if v.action == Action::Stop {
                prop_assert_eq!(sweep.status(&v.id), Some(ArmStatus::Live));
            }
            if sweep.status(&v.id) == Some(ArmStatus::Live) && points < 2 {
                prop_assert_eq!(v.action, Action::Continue);
                prop_assert!(v.reason.contains("needs 2 points"), "{}", v.reason);
            }
            let judged = matches!(v.action, Action::Continue | Action::Stop);
            if d.k < d.k_requested && v.p_top_k.is_some() && judged {
                prop_assert!(v.reason.contains("k capped at"), "{}", v.reason);
            }
        }

        // The batch plan over the same curves (every arm live) never fails either.
        let curves: Vec<(Vec<f64>, Vec<f64>)> = arms
            .iter()
            .enumerate()
            .map(|(a, &(points, _))| {
                ((0..points).map(step).collect(), (0..points).map(|t| value(a, t)).collect())
            })
            .collect();
        let batch: Vec<SweepArm> = curves
            .iter()
            .enumerate()
            .map(|(a, (st, v))| SweepArm {
                id: format!("arm-{a}"),
                run: RunInput::new(st, v, &[]),
                end_step: None,
            })
            .collect();
        let plan = plan_sweep(&engine(), &batch, 2000.0, &PlanOptions::new(policy)).unwrap();
        prop_assert_eq!(plan.decisions.len(), arms.len());
        for (d, &(points, _)) in plan.decisions.iter().zip(&arms) {
            if points < 2 {
                prop_assert!(d.keep && d.p_top_k.is_nan(), "{:?}", d);
            }
        }
    }
}

#[test]
fn minimizing_a_metric_decides_as_maximizing_its_mirror() {
    let policy = Policy::StopWithinBudget { k: 2, budget: 0.3 };
    let mut up = Sweep::new(engine(), options(policy)).unwrap();
    let mut down_options = options(policy);
    down_options.metric = Metric::new(MetricKind::Bounded, Direction::Minimize);
    let mut down = Sweep::new(engine(), down_options).unwrap();
    for t in 0..5 {
        for a in 0..ARMS {
            up.observe(&format!("arm-{a}"), step(t), value(a, t))
                .unwrap();
            down.observe(&format!("arm-{a}"), step(t), 1.0 - value(a, t))
                .unwrap();
        }
    }
    let (u, d) = (up.decide(None).unwrap(), down.decide(None).unwrap());
    for (a, b) in u.arms.iter().zip(&d.arms) {
        assert_eq!(a.action, b.action);
        assert_eq!(a.p_top_k, b.p_top_k);
        assert!((a.median.unwrap() - (1.0 - b.median.unwrap())).abs() < 1e-12);
        assert!((a.q10.unwrap() - (1.0 - b.q90.unwrap())).abs() < 1e-12);
    }
}

#[test]
fn maximizing_a_negated_loss_decides_as_minimizing_the_loss() {
    let policy = Policy::StopWithinBudget { k: 2, budget: 0.3 };
    let mut loss_options = options(policy);
    loss_options.metric = "loss".parse().unwrap();
    let mut neg_options = options(policy);
    neg_options.metric = "neg_loss".parse().unwrap();
    assert_eq!(neg_options.metric.direction, Direction::Maximize);
    let mut loss = Sweep::new(engine(), loss_options).unwrap();
    let mut neg = Sweep::new(engine(), neg_options).unwrap();
    for t in 0..5 {
        for a in 0..ARMS {
            let v = 3.0 * (1.0 - value(a, t));
            loss.observe(&format!("arm-{a}"), step(t), v).unwrap();
            neg.observe(&format!("arm-{a}"), step(t), -v).unwrap();
        }
    }
    let (l, n) = (loss.decide(None).unwrap(), neg.decide(None).unwrap());
    assert!(
        l.arms.iter().any(|a| a.action == Action::Stop),
        "nothing to compare"
    );
    for (a, b) in l.arms.iter().zip(&n.arms) {
        assert_eq!(a.action, b.action);
        assert_eq!(a.p_top_k, b.p_top_k);
        assert_eq!(a.median.unwrap(), -b.median.unwrap());
        assert_eq!(a.q10.unwrap(), -b.q90.unwrap());
    }
    // A positive value is refused with the reason.
    let e = neg.observe("arm-0", step(5), 0.4).unwrap_err().to_string();
    assert!(e.contains("is positive") && e.contains("run arm-0"), "{e}");
}

#[test]
fn a_loss_is_forecast_in_loss_units_with_ordered_quantiles() {
    let mut o = options(Policy::KeepTopK { k: 1 });
    o.metric = Metric::new(MetricKind::Loss, Direction::Minimize);
    let mut sweep = Sweep::new(engine(), o).unwrap();
    for (t, loss) in [3.2, 2.6, 2.3, 2.15, 2.05].into_iter().enumerate() {
        sweep.observe("a", step(t), loss).unwrap();
    }
    let rows = sweep.forecast("a", &[1000.0, 4000.0]).unwrap();
    for q in &rows {
        assert!(q.windows(2).all(|w| w[0] <= w[1]), "{q:?}");
        // A falling loss is forecast below its last value, and in loss units (not exp(-loss)).
        assert!(q[2] < 2.05 && q[2] > 0.5, "{q:?}");
    }
    // A bounded value is refused with the reason.
    let mut bounded = Sweep::new(engine(), options(Policy::KeepTopK { k: 1 })).unwrap();
    let e = bounded.observe("a", 1.0, 2.9).unwrap_err().to_string();
    assert!(e.contains("outside [0, 1]") && e.contains("run a"), "{e}");
}

#[test]
fn young_finished_and_stopped_arms_and_a_capped_k() {
    let mut sweep = Sweep::new(engine(), options(Policy::KeepTopK { k: 5 })).unwrap();
    for t in 0..4 {
        sweep.observe("live", step(t), value(1, t)).unwrap();
        sweep.observe("done", step(t), value(2, t)).unwrap();
        sweep.observe("gone", step(t), value(3, t)).unwrap();
    }
    sweep.observe("young", step(0), 0.2).unwrap();
    sweep.finish("done").unwrap();
    sweep.stop("gone").unwrap();
    let d = sweep.decide(None).unwrap();
    // Only the live arms are asked about by default; two arms can still win.
    let ids: Vec<&str> = d.arms.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, ["live", "young"]);
    assert_eq!((d.k_requested, d.k), (5, 2));
    assert!(
        d.arms[0].reason.contains("k capped at 2"),
        "{}",
        d.arms[0].reason
    );
    assert_eq!(d.arms[1].action, Action::Continue);
    assert!(
        d.arms[1].reason.contains("needs 2 points"),
        "{}",
        d.arms[1].reason
    );
    let all = sweep.decide(Some(&["gone", "done", "young"])).unwrap();
    let actions: Vec<Action> = all.arms.iter().map(|a| a.action).collect();
    assert_eq!(
        actions,
        [Action::Finished, Action::Stopped, Action::Continue]
    );
    assert_eq!(all.arms[0].median, Some(value(2, 3)));
    assert!(sweep.decide(Some(&["nobody"])).is_err());
}

#[test]
fn observations_are_checked_per_arm() {
    let mut sweep = Sweep::new(engine(), options(Policy::KeepTopK { k: 1 })).unwrap();
    sweep.observe("a", 100.0, 0.3).unwrap();
    sweep.observe("a", 100.0, 0.3).unwrap();
    let err = |r: Result<()>| r.unwrap_err().to_string();
    assert!(err(sweep.observe("a", 100.0, 0.4)).contains("already has 0.3"));
    assert!(err(sweep.observe("a", 50.0, 0.4)).contains("before the last step"));
    assert!(err(sweep.observe("b", f64::NAN, 0.4)).contains("step"));
    assert!(err(sweep.set_end("a", -1.0)).contains("end_step"));
    sweep.finish("a").unwrap();
    assert!(err(sweep.observe("a", 200.0, 0.5)).contains("finished"));
    assert_eq!(sweep.status("a"), Some(ArmStatus::Finished));
    // An arm with no end anywhere is kept, not an error.
    let mut no_end = SweepOptions::new(Policy::KeepTopK { k: 1 });
    no_end.seed = 1;
    let mut sweep = Sweep::new(engine(), no_end).unwrap();
    for t in 0..3 {
        sweep.observe("x", step(t), value(0, t)).unwrap();
    }
    let d = sweep.decide(None).unwrap();
    assert!(d.arms[0].reason.contains("no end step"), "{:?}", d.arms[0]);
}

#[test]
fn bad_options_and_saved_sweeps_are_refused() {
    assert!(Sweep::new(engine(), options(Policy::KeepTopK { k: 0 })).is_err());
    let fraction = Policy::StopFraction { fraction: 1.0 };
    assert!(Sweep::new(engine(), options(fraction)).is_err());
    let mut o = options(Policy::KeepTopK { k: 1 });
    o.end_step = Some(f64::NAN);
    assert!(Sweep::new(engine(), o).is_err());
    let sweep = Sweep::new(engine(), options(Policy::KeepTopK { k: 1 })).unwrap();
    let saved = String::from_utf8(sweep.save()).unwrap();
    let e = |text: &str| {
        Sweep::load(engine(), text.as_bytes())
            .unwrap_err()
            .to_string()
    };
    assert!(e("{").contains("saved sweep"));
    assert!(e(&saved.replace("\"version\":1", "\"version\":9")).contains("version 9"));
    let other = saved.replacen("\"model\":\"", "\"model\":\"other-", 1);
    assert!(e(&other).contains("other-"));
}

/// A sweep of `finished` finished arms (all points) and two live ones: `young` with one point,
/// `live` with three. Arms arrive in `order` (a permutation of the finished arms' indices).
fn calibration_sweep(finished: usize, order: &[usize]) -> Sweep {
    let options = SweepOptions {
        calibrate: true,
        ..options(Policy::StopWithinBudget { k: 1, budget: 0.1 })
    };
    let mut sweep = Sweep::new(engine(), options).unwrap();
    let feed = |sweep: &mut Sweep, id: &str, a: usize, points: usize| {
        for t in 0..points {
            sweep.observe(id, step(t), value(a, t)).unwrap();
        }
    };
    feed(&mut sweep, "young", 1, 1);
    for &a in order.iter().filter(|&&a| a < finished) {
        let id = format!("done-{a}");
        feed(&mut sweep, &id, a + 2, 20);
        sweep.finish(&id).unwrap();
    }
    feed(&mut sweep, "live", 0, 3);
    sweep
}

#[test]
fn calibration_waits_for_enough_finished_arms_then_judges_young_arms() {
    let order: Vec<usize> = (0..MIN_FINISHED).collect();
    // One finished arm short: the model's forecasts stand, the young arm is kept.
    let mut few = calibration_sweep(MIN_FINISHED - 1, &order);
    let d = few.decide(Some(&["young", "live"])).unwrap();
    assert!(
        d.arms[0].reason.contains("needs 2 points"),
        "{}",
        d.arms[0].reason
    );
    assert!(
        !d.arms[1].reason.contains("finished arms"),
        "{}",
        d.arms[1].reason
    );
    let mut plain = Sweep::new(
        engine(),
        SweepOptions {
            calibrate: false,
            ..few.options().clone()
        },
    )
    .unwrap();
    for id in few.arm_ids().map(str::to_string).collect::<Vec<_>>() {
        let a = &few.arms[few.index[&id]];
        for (&s, &v) in a.steps.iter().zip(&a.values) {
            plain.observe(&id, s, v).unwrap();
        }
        if a.status == ArmStatus::Finished {
            plain.finish(&id).unwrap();
        }
    }
    let p = plain.decide(Some(&["young", "live"])).unwrap();
    assert_eq!(d.arms[1].median, p.arms[1].median);

    // Enough: the young arm is judged from the finished arms' gains, the live arm's forecast is
    // calibrated one way or the other, and each reason says which.
    let mut enough = calibration_sweep(MIN_FINISHED, &order);
    let d = enough.decide(Some(&["young", "live"])).unwrap();
    assert!(d.arms[0].p_top_k.is_some(), "{:?}", d.arms[0]);
    assert!(
        d.arms[0].reason.contains("gains of 5 finished arms"),
        "{}",
        d.arms[0].reason
    );
    assert!(
        d.arms[1].reason.contains("5 finished arms"),
        "{}",
        d.arms[1].reason
    );
    // The young arm's median is its last value plus the median gain, in the user's units (an
    // accuracy here, so the model's space): the finished arms' gains from their first point.
    let mut gains: Vec<f64> = (0..MIN_FINISHED)
        .map(|a| value(a + 2, 19) - value(a + 2, 0))
        .collect();
    gains.sort_by(f64::total_cmp);
    let want = value(1, 0) + gains[MIN_FINISHED / 2];
    assert!(
        (d.arms[0].median.unwrap() - want).abs() < 1e-9,
        "{:?} vs {want}",
        d.arms[0]
    );
}

#[test]
fn an_arm_ahead_of_every_finished_arm_is_kept_not_judged_by_them() {
    // Five finished arms, and live arms at two points (of 20): a trailer below every finished
    // arm at that point, a leader above all of them, and a star far above the leader. By the
    // finished arms' gains the leader cannot catch the star and would be stopped; their gains
    // cannot tell how an arm better than all of them goes on, so it is kept, as the star is.
    let options = SweepOptions {
        calibrate: true,
        ..options(Policy::StopWithinBudget { k: 1, budget: 0.1 })
    };
    let mut sweep = Sweep::new(engine(), options).unwrap();
    for a in 0..MIN_FINISHED {
        let id = format!("done-{a}");
        for t in 0..20 {
            sweep.observe(&id, step(t), value(a + 2, t)).unwrap();
        }
        sweep.finish(&id).unwrap();
    }
    let best_at_cut = (0..MIN_FINISHED)
        .map(|a| value(a + 2, 1))
        .fold(f64::MIN, f64::max);
    for (id, values) in [
        ("trailer", [0.05, 0.08]),
        ("leader", [0.3, best_at_cut + 0.1]),
        ("star", [0.6, 0.7]),
    ] {
        for (t, v) in values.into_iter().enumerate() {
            sweep.observe(id, step(t), v).unwrap();
        }
    }
    let d = sweep.decide(Some(&["trailer", "leader", "star"])).unwrap();
    let [trailer, leader, star] = &d.arms[..] else {
        panic!("{d:?}")
    };
    assert_eq!(trailer.action, Action::Stop, "{trailer:?}");
    assert!(trailer.reason.contains("5 finished arms"), "{trailer:?}");
    for arm in [leader, star] {
        assert_eq!(arm.action, Action::Continue, "{arm:?}");
        assert!(
            arm.reason
                .contains("ahead of all 5 finished arms at this point of its run"),
            "{arm:?}"
        );
        assert_eq!(arm.p_top_k, None, "{arm:?}");
    }
}

#[test]
fn calibrated_decisions_do_not_depend_on_the_order_arms_arrived() {
    let forward: Vec<usize> = (0..7).collect();
    let backward: Vec<usize> = (0..7).rev().collect();
    let a = calibration_sweep(7, &forward)
        .decide(Some(&["young", "live"]))
        .unwrap();
    let b = calibration_sweep(7, &backward)
        .decide(Some(&["young", "live"]))
        .unwrap();
    for (x, y) in a.arms.iter().zip(&b.arms) {
        // Both calibrated (an uncalibrated pair would agree trivially), and alike.
        assert!(x.reason.contains("7 finished arms"), "{}", x.reason);
        assert_eq!((x.median, x.q10, x.q90), (y.median, y.q10, y.q90));
        assert_eq!(x.reason, y.reason);
    }
}

#[test]
fn past_the_cap_calibration_reads_the_finished_arms_sampled_by_id() {
    // Finished arms each with a curve of its own, so that any other calibration set gives
    // other quantiles.
    let curve = |a: usize, t: usize| {
        let golden = (a as f64 * 0.618_034).fract();
        (0.35 + 0.5 * golden) * (1.0 - (-(0.2 + 0.3 * golden) * (t + 1) as f64).exp())
    };
    let sweep_of = |finished: &[usize]| {
        let options = SweepOptions {
            calibrate: true,
            ..options(Policy::StopWithinBudget { k: 1, budget: 0.1 })
        };
        let mut sweep = Sweep::new(engine(), options).unwrap();
        for &a in finished {
            let id = format!("done-{a}");
            for t in 0..20 {
                sweep.observe(&id, step(t), curve(a, t)).unwrap();
            }
            sweep.finish(&id).unwrap();
        }
        for t in 0..3 {
            sweep.observe("live", step(t), curve(7, t)).unwrap();
        }
        sweep.decide(Some(&["live"])).unwrap().arms.remove(0)
    };
    let all: Vec<usize> = (0..MAX_FINISHED + 24).collect();
    let ids: Vec<String> = all.iter().map(|a| format!("done-{a}")).collect();
    let sampled = calibration::sample(all.clone(), |i| &ids[i]);
    let full = sweep_of(&all);
    assert!(
        full.reason
            .contains(&format!("{MAX_FINISHED} finished arms")),
        "{}",
        full.reason
    );
    let alone = sweep_of(&sampled);
    assert_eq!(
        (full.median, full.q10, full.q90),
        (alone.median, alone.q10, alone.q90)
    );
    // Another set of as many arms gives another forecast: the sample is what was read.
    let first = sweep_of(&all[..MAX_FINISHED]);
    assert_ne!((full.q10, full.q90), (first.q10, first.q90));
}

/// Token losses reach the forecasts made from the point they were given for, invalidate the
/// cached forecast, survive save and load, and are refused where they cannot belong.
#[test]
fn losses_given_for_the_last_point_reach_its_forecast() {
    let mut sweep = Sweep::new(engine(), options(Policy::KeepTopK { k: 1 })).unwrap();
    for t in 0..4 {
        sweep.observe("a", step(t), value(0, t)).unwrap();
        sweep.observe("b", step(t), value(1, t)).unwrap();
    }
    // The band (the default model's median is its trees', which read no losses).
    let median = |s: &mut Sweep| {
        let d = s.decide(Some(&["a"])).unwrap();
        (
            d.arms[0].q10.unwrap(),
            d.arms[0].median,
            d.arms[0].q90.unwrap(),
        )
    };
    let at_end = |s: &Sweep| s.forecast("a", &[2000.0]).unwrap()[0].clone();
    let (before, forecast_before) = (median(&mut sweep), at_end(&sweep));
    let losses: Vec<f32> = (0..256).map(|i| 0.5 + (i % 7) as f32 * 0.3).collect();
    // Losses of an earlier point do not change a forecast from the last one.
    sweep.observe_losses("a", step(2), &losses).unwrap();
    assert_eq!(median(&mut sweep), before);
    // Losses of the last point do (the default model's encoder reads them), cached or not.
    sweep.observe_losses("a", step(3), &losses).unwrap();
    let (after, forecast_after) = (median(&mut sweep), at_end(&sweep));
    assert_ne!(after, before);
    assert_ne!(forecast_after, forecast_before);
    // A new point without losses forecasts without them.
    let mut without = Sweep::load(engine(), &sweep.save()).unwrap();
    without.observe("a", step(4), value(0, 4)).unwrap();
    let mut reference = Sweep::new(engine(), options(Policy::KeepTopK { k: 1 })).unwrap();
    for t in 0..5 {
        reference.observe("a", step(t), value(0, t)).unwrap();
    }
    assert_eq!(
        without.forecast("a", &[2000.0]).unwrap(),
        reference.forecast("a", &[2000.0]).unwrap()
    );
    // Saved and loaded, the losses are still there.
    let saved = sweep.save();
    assert!(String::from_utf8_lossy(&saved).contains("\"losses\""));
    let mut loaded = Sweep::load(engine(), &saved).unwrap();
    assert_eq!(at_end(&loaded), forecast_after);
    assert_eq!(median(&mut loaded), after);
    // A sweep without losses saves as it always has.
    assert!(!String::from_utf8_lossy(&reference.save()).contains("losses"));

    for (arm, at, given, want) in [
        ("nobody", step(0), losses.clone(), "no such arm"),
        ("a", 150.0, losses.clone(), "no value observed at step 150"),
        ("a", step(3), vec![], "empty loss vector"),
        ("a", step(3), vec![f32::NAN], "NaN or negative"),
    ] {
        let e = sweep
            .observe_losses(arm, at, &given)
            .unwrap_err()
            .to_string();
        assert!(e.contains(want), "{e}");
    }
    sweep.finish("b").unwrap();
    let e = sweep
        .observe_losses("b", step(3), &losses)
        .unwrap_err()
        .to_string();
    assert!(e.contains("finished"), "{e}");
    // The refusals changed nothing.
    assert_eq!(median(&mut sweep), after);
}
