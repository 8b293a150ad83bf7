//! Trainer and engine compute the same function: a candle model with random weights, exported
//! to ONNX and run by tract, gives the same quantiles to 1e-4 (with and without token losses,
//! several context lengths, batch > 1). And the preparation both sides use is checked step by step.
#![cfg(feature = "train")]

use candle_core::{Device, Tensor};
use neuneu::inference::features::{self, CONTEXT_FEATURES};
use neuneu::model::architecture::Architecture;
use neuneu::model::bundle::TrainingRecord;
use neuneu::train::{export_bundle, model::NeuNeu};
use neuneu::{Engine, Losses, RunInput};

fn perturb_all(model: &mut NeuNeu, seed: u64, dev: &Device) {
    // Random weights everywhere (not the trainer's init, whose head is nearly zero), so every
    // parameter matters to the output.
    let mut w = model.weights().unwrap();
    let mut s = seed;
    for t in w.0.values_mut() {
        for v in t.data.iter_mut() {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            *v += ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.2;
        }
    }
    model.load_weights(&w, dev).unwrap();
}

fn check(arch: Architecture) {
    let dev = Device::Cpu;
    let mut model = NeuNeu::new(&arch, &dev).unwrap();
    perturb_all(&mut model, 7, &dev);
    let weights = model.weights().unwrap();
    let bundle = export_bundle(&arch, &weights, 2, TrainingRecord::default(), "parity").unwrap();
    let engine = Engine::from_bundle(bundle).unwrap();
    let enc = arch.encoder.clone().unwrap();

    // Runs of several context lengths (one longer than max_context, so thinning is exercised).
    let lens = [2usize, 5, 9, arch.max_context + 7];
    let curves: Vec<(Vec<f64>, Vec<f64>, Vec<f64>)> = lens
        .iter()
        .map(|&n| {
            let steps: Vec<f64> = (0..n).map(|i| (i as f64 + 1.0) * 1000.0).collect();
            let acc: Vec<f64> = (0..n)
                .map(|i| 0.25 + 0.4 * (i as f64 / n as f64).sqrt())
                .collect();
            let last = *steps.last().unwrap();
            (steps, acc, vec![last * 1.5, last * 4.0])
        })
        .collect();
    let token_losses: Vec<Vec<f32>> = (0..lens.len())
        .map(|r| {
            (0..3000)
                .map(|i| ((i * 7 + r * 13) % 50) as f32 * 0.1)
                .collect()
        })
        .collect();

    for with_losses in [false, true] {
        let runs: Vec<RunInput> = curves
            .iter()
            .zip(&token_losses)
            .map(|((s, a, t), l)| {
                let r = RunInput::new(s, a, t);
                if with_losses {
                    r.with_losses(Losses::Tokens(l))
                } else {
                    r
                }
            })
            .collect();
        let got = engine.forecast(&runs).unwrap();

        // The same rows through candle.
        let (t, s, d) = (arch.max_context, arch.seq_len(), arch.d_model);
        let mut ctx = vec![];
        let mut mask = vec![];
        let mut anchor = vec![];
        let mut prepared = vec![];
        for ((st, ac, ta), l) in curves.iter().zip(&token_losses) {
            for &target in ta {
                let (mut c, mut m) = (vec![0.0; t * CONTEXT_FEATURES], vec![0.0; s]);
                anchor.push(features::write_row(st, ac, target, t, &mut c, &mut m));
                ctx.extend(c);
                mask.extend(m);
                let mut p = vec![0.0; enc.loss_len];
                features::prepare_losses(l, &enc, &mut p);
                prepared.extend(p);
            }
        }
        let b = anchor.len();
        let ctx = Tensor::from_vec(ctx, (b, t, CONTEXT_FEATURES), &dev).unwrap();
        let mask = Tensor::from_vec(mask, (b, s), &dev).unwrap();
        let anchor = Tensor::from_vec(anchor, (b, 1), &dev).unwrap();
        let (emb, has) = if with_losses {
            let p = Tensor::from_vec(prepared, (b, enc.loss_len), &dev).unwrap();
            (
                model.encoder.as_ref().unwrap().forward(&p).unwrap(),
                Tensor::ones((b, 1), candle_core::DType::F32, &dev).unwrap(),
            )
        } else {
            (
                Tensor::zeros((b, d), candle_core::DType::F32, &dev).unwrap(),
                Tensor::zeros((b, 1), candle_core::DType::F32, &dev).unwrap(),
            )
        };
        let want = model
            .forward(&ctx, &mask, &anchor, &emb, &has)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();

        let mut row = 0;
        let mut compared = 0;
        for f in &got {
            for fc in &f.forecasts {
                let mut w = want[row].clone();
                neuneu::inference::engine::finalize_quantiles(&mut w, arch.median_index()).unwrap();
                for (x, y) in fc.quantiles.iter().zip(&w) {
                    assert!(
                        (x - y).abs() < 1e-4,
                        "losses={with_losses} row {row}: tract {x} vs candle {y}"
                    );
                    compared += 1;
                }
                row += 1;
            }
        }
        assert_eq!(row, b);
        assert!(compared > 0);
        // The comparison is not vacuous: quantiles vary across rows.
        assert!(want.iter().any(|r| (r[2] - want[0][2]).abs() > 1e-3));
    }
}

#[test]
fn small_model_tract_matches_candle() {
    check(Architecture::small());
}

#[test]
fn odd_sizes_and_ordered_losses_match() {
    let mut a = Architecture::small();
    a.d_model = 48;
    a.heads = 3;
    a.layers = 3;
    a.ff = 80;
    a.max_context = 11;
    let e = a.encoder.as_mut().unwrap();
    e.representation = neuneu::model::architecture::LossRepresentation::Ordered;
    e.loss_len = 777;
    e.channels = vec![6, 9];
    e.groups = 3;
    e.kernel = 9;
    e.stride = 5;
    e.padding = 3;
    check(a);
}

#[test]
fn summary_path_matches() {
    let mut a = Architecture::small();
    a.summary = 16;
    check(a);
}
