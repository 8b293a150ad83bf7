//! Property tests on the embedded engine (issue 8). Case counts are modest to keep the suite fast.
//! Batch independence is exact (`assert_eq`): the engine runs each row alone through one plan.

use neuneu::io::request::parse_line;
use neuneu::{Engine, RunInput};
use proptest::prelude::*;
use std::sync::OnceLock;

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| Engine::embedded().expect("the embedded model loads"))
}

fn any_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(0.0),
        -10.0f64..10.0,
        any::<f64>(),
    ]
}

/// A valid run: increasing positive steps, accuracies in [0, 1], targets after the last step.
fn valid_run() -> impl Strategy<Value = (Vec<f64>, Vec<f64>, Vec<f64>)> {
    (2usize..80).prop_flat_map(|n| {
        (
            prop::collection::vec(0.01f64..10.0, n),
            prop::collection::vec(0.0f64..=1.0, n),
            prop::collection::vec(1.001f64..1e4, 1..4),
            1e-3f64..1e9,
        )
            .prop_map(|(gaps, acc, tmul, scale)| {
                let mut s = 0.0;
                let steps: Vec<f64> = gaps
                    .iter()
                    .map(|g| {
                        s += g;
                        s * scale
                    })
                    .collect();
                let last = *steps.last().unwrap();
                (steps, acc, tmul.iter().map(|m| last * m).collect())
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn quantiles_are_ordered_and_in_unit_range((s, a, t) in valid_run()) {
        let f = engine().forecast(&[RunInput::new(&s, &a, &t)]).unwrap();
        for fc in &f[0].forecasts {
            prop_assert!(fc.quantiles.windows(2).all(|w| w[0] <= w[1]));
            prop_assert!(fc.quantiles.iter().all(|q| (0.0..=1.0).contains(q)));
        }
    }

    #[test]
    fn identical_input_gives_identical_output((s, a, t) in valid_run()) {
        let r = [RunInput::new(&s, &a, &t)];
        prop_assert_eq!(engine().forecast(&r).unwrap(), engine().forecast(&r).unwrap());
    }

    #[test]
    fn no_panic_on_any_vectors(
        s in prop::collection::vec(any_f64(), 0..40),
        a in prop::collection::vec(any_f64(), 0..40),
        t in prop::collection::vec(any_f64(), 0..4),
        l in prop::collection::vec(any::<f32>(), 0..64),
    ) {
        let runs = [
            RunInput::new(&s, &a, &t),
            RunInput::new(&s, &a, &t).with_losses(neuneu::Losses::Tokens(&l)),
        ];
        let out = engine().forecast_each(&runs);
        prop_assert_eq!(out.len(), 2);
    }

    #[test]
    fn parse_line_never_panics(line in ".{0,200}") {
        let _ = parse_line(&line, std::path::Path::new("/nonexistent"));
    }

    #[test]
    fn pair_probabilities_sum_to_one(r1 in valid_run(), r2 in valid_run()) {
        let runs = [RunInput::new(&r1.0, &r1.1, &r1.2), RunInput::new(&r2.0, &r2.1, &r2.2)];
        let r = neuneu::decisions::rank_runs(engine(), &runs).unwrap();
        let (ab, ba) = (r.prob_above[0][1].unwrap(), r.prob_above[1][0].unwrap());
        prop_assert_eq!(ab + ba, 1.0);
    }

    #[test]
    fn a_run_does_not_depend_on_its_batch_or_their_order(
        runs in prop::collection::vec(valid_run(), 1..6),
    ) {
        let inputs: Vec<RunInput> =
            runs.iter().map(|(s, a, t)| RunInput::new(s, a, t)).collect();
        let batch = engine().forecast(&inputs).unwrap();
        let reversed: Vec<RunInput> = inputs.iter().rev().copied().collect();
        let rev = engine().forecast(&reversed).unwrap();
        for (i, run) in inputs.iter().enumerate() {
            let alone = engine().forecast(std::slice::from_ref(run)).unwrap();
            prop_assert_eq!(&alone[0], &batch[i]);
            prop_assert_eq!(&rev[inputs.len() - 1 - i], &batch[i]);
        }
    }

    #[test]
    fn forecasts_do_not_change_when_every_step_is_scaled(
        (s, a, t) in valid_run(),
        k in prop_oneof![1e-6f64..1e-1, 1e1f64..1e6],
    ) {
        let scaled = |v: &[f64]| v.iter().map(|x| x * k).collect::<Vec<_>>();
        let (ks, kt) = (scaled(&s), scaled(&t));
        let base = engine().forecast(&[RunInput::new(&s, &a, &t)]).unwrap();
        let other = engine().forecast(&[RunInput::new(&ks, &a, &kt)]).unwrap();
        for (f, g) in base[0].forecasts.iter().zip(&other[0].forecasts) {
            for (p, q) in f.quantiles.iter().zip(&g.quantiles) {
                // Not bit-exact: step ratios round differently once scaled.
                prop_assert!((p - q).abs() < 1e-4, "scale {}: {} vs {}", k, p, q);
            }
        }
    }
}
