//! The engine's promises, on the embedded default model: scale invariance, ordered quantiles,
//! typed errors for bad input, losses optional, batch independence, thread safety.

use neuneu::{Engine, Error, Losses, RowBatching, RunInput};
use std::sync::OnceLock;

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| Engine::embedded().expect("the embedded model loads"))
}

fn curve(n: usize, scale: f64) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let steps: Vec<f64> = (0..n).map(|i| scale * 2f64.powi(i as i32)).collect();
    let acc: Vec<f64> = (0..n).map(|i| 0.3 + 0.05 * (i as f64).sqrt()).collect();
    let last = steps[n - 1];
    (steps, acc, vec![last * 2.0, last * 8.0, last * 30.0])
}

#[test]
fn forecasts_do_not_depend_on_the_compute_unit() {
    let e = engine();
    let (s, a, t) = curve(6, 1.0);
    let base = e.forecast(&[RunInput::new(&s, &a, &t)]).unwrap();
    for k in [1e-3, 7.0, 2.5e9] {
        let s2: Vec<f64> = s.iter().map(|x| x * k).collect();
        let t2: Vec<f64> = t.iter().map(|x| x * k).collect();
        let f = e.forecast(&[RunInput::new(&s2, &a, &t2)]).unwrap();
        for (x, y) in base[0].forecasts.iter().zip(&f[0].forecasts) {
            for (p, q) in x.quantiles.iter().zip(&y.quantiles) {
                assert!((p - q).abs() < 1e-5, "scale {k}: {p} vs {q}");
            }
        }
    }
}

#[test]
fn quantiles_are_ordered_and_in_range_even_on_extreme_inputs() {
    let e = engine();
    let cases: Vec<(Vec<f64>, Vec<f64>, Vec<f64>)> = vec![
        (vec![1.0, 2.0], vec![0.0, 1.0], vec![3.0, 1e12]),
        (vec![0.0, 1.0, 2.0], vec![1.0, 1.0, 1.0], vec![1e30]),
        (vec![1.0, 1.0 + 1e-9], vec![0.0, 0.0], vec![1.0 + 2e-9]),
        (
            (0..200).map(|i| i as f64 + 1.0).collect(),
            (0..200).map(|i| (i % 7) as f64 / 7.0).collect(),
            vec![500.0],
        ),
    ];
    for (s, a, t) in &cases {
        let f = e.forecast(&[RunInput::new(s, a, t)]).unwrap();
        for fc in &f[0].forecasts {
            assert_eq!(fc.quantiles.len(), e.levels().len());
            assert!(
                fc.quantiles.windows(2).all(|w| w[0] <= w[1]),
                "{:?}",
                fc.quantiles
            );
            assert!(fc.quantiles.iter().all(|q| (0.0..=1.0).contains(q)));
        }
    }
}

#[test]
fn bad_input_is_a_typed_error_naming_run_and_field() {
    let e = engine();
    let good = curve(4, 1.0);
    // (steps, accuracy, targets, the field the error must name)
    type Case = (Vec<f64>, Vec<f64>, Vec<f64>, &'static str);
    let cases: Vec<Case> = vec![
        (vec![], vec![], vec![5.0], "steps"),
        (vec![1.0], vec![0.5], vec![5.0], "steps"),
        (vec![1.0, 3.0, 2.0], vec![0.5; 3], vec![5.0], "steps"),
        (vec![1.0, 2.0], vec![0.5, f64::NAN], vec![5.0], "accuracy"),
        (vec![1.0, 2.0], vec![0.5, 1.5], vec![5.0], "accuracy"),
        (vec![1.0, 2.0], vec![0.5], vec![5.0], "accuracy"),
        (vec![1.0, 2.0], vec![0.5, 0.6], vec![2.0], "target_steps"),
        (vec![1.0, 2.0], vec![0.5, 0.6], vec![], "target_steps"),
        (vec![1.0, f64::INFINITY], vec![0.5, 0.6], vec![5.0], "steps"),
    ];
    for (s, a, t, field) in &cases {
        let runs = [
            RunInput::new(&good.0, &good.1, &good.2),
            RunInput::new(s, a, t),
        ];
        match e.forecast(&runs) {
            Err(Error::InvalidInput { run, field: f, .. }) => {
                assert_eq!(run, "1");
                assert_eq!(f, *field, "{s:?} {a:?} {t:?}");
            }
            other => panic!("expected an input error for {s:?} {a:?} {t:?}, got {other:?}"),
        }
        // The other run still gets its answer through forecast_each.
        let each = e.forecast_each(&runs);
        assert!(each[0].is_ok() && each[1].is_err());
    }
    let losses = [0.5f32, -1.0];
    let r = RunInput::new(&good.0, &good.1, &good.2).with_losses(Losses::Tokens(&losses));
    assert!(matches!(
        e.forecast(&[r]),
        Err(Error::InvalidInput {
            field: "token_losses",
            ..
        })
    ));
}

#[test]
fn losses_are_optional_and_a_shared_embedding_equals_raw_losses() {
    let e = engine();
    assert!(e.reads_losses());
    let (s, a, t) = curve(5, 1e6);
    let losses: Vec<f32> = (0..5000).map(|i| (i % 13) as f32 * 0.25).collect();
    let emb = e.encode_losses(&losses).unwrap();
    let raw = e
        .forecast(&[RunInput::new(&s, &a, &t).with_losses(Losses::Tokens(&losses))])
        .unwrap();
    let shared = e
        .forecast(&[RunInput::new(&s, &a, &t).with_losses(Losses::Embedding(&emb))])
        .unwrap();
    let none = e.forecast(&[RunInput::new(&s, &a, &t)]).unwrap();
    assert_eq!(raw, shared);
    assert_eq!(none[0].forecasts.len(), 3);
}

/// Throughput batching runs rows of a length several at a time: the forecasts stay those of
/// the exact mode within 1e-5, for every context length, with and without token losses.
#[test]
fn throughput_batching_forecasts_what_exact_does() {
    use neuneu::testing::synthetic_losses;
    let e = Engine::embedded().unwrap();
    // Enough runs of each length that every plan length gets full batches and leftovers.
    let data: Vec<_> = (0..400)
        .map(|i| curve(3 + i % 38, 1.0 + i as f64 / 7.0))
        .collect();
    let losses: Vec<Vec<f32>> = (0..data.len())
        .map(|i| synthetic_losses(300 + i, i as u64))
        .collect();
    let runs: Vec<RunInput> = data
        .iter()
        .zip(&losses)
        .enumerate()
        .map(|(i, ((s, a, t), l))| {
            let run = RunInput::new(s, a, t);
            if i % 3 == 0 {
                run.with_losses(Losses::Tokens(l))
            } else {
                run
            }
        })
        .collect();
    assert_eq!(e.row_batching(), RowBatching::Exact);
    let exact = e.forecast(&runs).unwrap();
    e.set_row_batching(RowBatching::Throughput);
    let fast = e.forecast(&runs).unwrap();
    let mut compared = 0;
    for (x, y) in exact.iter().zip(&fast) {
        for (fx, fy) in x.forecasts.iter().zip(&y.forecasts) {
            for (qx, qy) in fx.quantiles.iter().zip(&fy.quantiles) {
                assert!((qx - qy).abs() < 1e-5, "{qx} vs {qy}");
                compared += 1;
            }
        }
    }
    assert_eq!(compared, 400 * 3 * 5);
}

#[test]
fn a_run_does_not_depend_on_its_batch() {
    let e = engine();
    let runs_data: Vec<_> = (2..40).map(|n| curve(n % 12 + 2, n as f64)).collect();
    let runs: Vec<RunInput> = runs_data
        .iter()
        .map(|(s, a, t)| RunInput::new(s, a, t))
        .collect();
    let batch = e.forecast(&runs).unwrap();
    let mut reversed = runs.clone();
    reversed.reverse();
    let rev = e.forecast(&reversed).unwrap();
    // Bit for bit: rows go through the plan one at a time (see `engine`'s module docs).
    for (i, r) in runs.iter().enumerate() {
        let alone = e.forecast(std::slice::from_ref(r)).unwrap();
        assert_eq!(alone[0], batch[i]);
        assert_eq!(rev[runs.len() - 1 - i], batch[i]);
    }
}

#[test]
fn threads_share_one_engine_with_identical_results() {
    let e = engine();
    let data: Vec<_> = (0..16).map(|n| curve(n % 9 + 2, 10.0 + n as f64)).collect();
    let expected: Vec<_> = data
        .iter()
        .map(|(s, a, t)| e.forecast(&[RunInput::new(s, a, t)]).unwrap())
        .collect();
    std::thread::scope(|scope| {
        for t in 0..8 {
            let (data, expected) = (&data, &expected);
            scope.spawn(move || {
                for k in 0..50 {
                    let i = (t * 7 + k) % data.len();
                    let (s, a, tg) = &data[i];
                    assert_eq!(e.forecast(&[RunInput::new(s, a, tg)]).unwrap(), expected[i]);
                }
            });
        }
    });
}

#[test]
fn a_long_context_is_thinned_not_refused() {
    let e = engine();
    let n = e.architecture().max_context * 3;
    let (s, a, t) = curve(n.min(60), 1.0);
    assert!(e.forecast(&[RunInput::new(&s, &a, &t)]).is_ok());
}

/// Band calibration (`train::calibration`) is one factor per level on the head's increments:
/// the median stays, each level moves away from its inner neighbour by exactly its factor, and
/// the factors survive a re-export from the graph's own weights.
#[test]
fn band_factors_scale_the_increments_and_survive_a_reexport() {
    use neuneu::inference::engine::ForecasterRows;
    use neuneu::inference::features::RunFeatures;
    use neuneu::model::architecture::Architecture;
    use neuneu::model::onnx::{export::INCREMENT_SCALE, export_forecaster, weights_from_graph};
    use neuneu::model::weights::Tensor;

    let arch = Architecture {
        encoder: None,
        ..Architecture::small()
    };
    let plain = neuneu::testing::random_weights(&arch, 3);
    let factors = vec![1.7f32, 0.6, 1.0, 2.5, 1.3];
    let mut scaled = plain.clone();
    scaled.insert(INCREMENT_SCALE, Tensor::new(vec![5], factors.clone()));
    let graph = export_forecaster(&arch, &scaled).unwrap();
    let back = weights_from_graph(&graph).unwrap();
    assert_eq!(back.get(INCREMENT_SCALE).unwrap().data, factors);

    let run = |w: &neuneu::model::weights::Weights| -> Vec<f32> {
        let bundle = neuneu::model::bundle::Bundle::new(
            neuneu::testing::random_bundle(&arch, 3, "t")
                .unwrap()
                .manifest,
            vec![(
                neuneu::model::bundle::FORECASTER.to_string(),
                export_forecaster(&arch, w).unwrap(),
            )],
        );
        let engine = Engine::from_bundle(bundle).unwrap();
        let (s, a, t) = curve(7, 1.0);
        let mut rows = ForecasterRows::new(&arch, t.len());
        let feats = RunFeatures::new(&s, &a, arch.max_context);
        for (i, &target) in t.iter().enumerate() {
            rows.write(i, &feats, target, None);
        }
        engine.run_forecaster(&rows).unwrap()
    };
    let (p, q) = (run(&plain), run(&scaled));
    for (p, q) in p.chunks(5).zip(q.chunks(5)) {
        assert_eq!(p[2], q[2], "the median moved");
        for (j, inner) in [(3, 2), (4, 3), (1, 2), (0, 1)] {
            let want = factors[j] * (p[j] - p[inner]);
            let got = q[j] - q[inner];
            assert!((want - got).abs() < 1e-5, "level {j}: {got} vs {want}");
        }
    }
}
