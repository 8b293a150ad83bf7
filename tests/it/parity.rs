//! The same function computed several ways agrees, with the loss encoder on each backend
//! (`backend_test!`: tract on the CPU, our CUDA kernels where a GPU is present):
//! - trainer and engine: a candle model with random weights, exported to ONNX and run by the
//!   engine, gives the same quantiles to 1e-4 (with and without token losses, several context
//!   lengths, batch > 1), and the preparation both sides use is checked step by step;
//! - the engine's loss encoder and the CUDA path's f64 reference reading the same bundle's
//!   weights (the kernels themselves are held to that reference by `cuda_gpu` and by the
//!   host-shim tests in `src/cuda/shim.rs`): freshly initialised weights, the default sizes and
//!   odd sizes, batch > 1.

use candle_core::{Device, Tensor};
use neuneu::cuda::{Backend, EncoderWeights, encode_reference, spec_for, weights_from_graph};
use neuneu::inference::features::{self, CONTEXT_FEATURES};
use neuneu::model::architecture::{Architecture, LossRepresentation};
use neuneu::model::bundle::{Bundle, ENCODER, TrainingRecord};
use neuneu::train::{export_bundle, model::NeuNeu};
use neuneu::{Engine, Losses, RunInput};

/// The bundle the trainer exports from `model`'s weights.
fn export(arch: &Architecture, model: &NeuNeu) -> Bundle {
    let weights = model.weights().unwrap();
    export_bundle(arch, &weights, 2, TrainingRecord::default(), "parity").unwrap()
}

/// `a` with an encoder of ordered losses and odd sizes: 3 groups, a loss length that is no
/// multiple of the stride, channel counts that are not powers of two, padding.
fn odd_ordered_encoder(
    mut a: Architecture,
    loss_len: usize,
    channels: &[usize],
    kernel: usize,
    stride: usize,
    padding: usize,
) -> Architecture {
    let e = a.encoder.as_mut().unwrap();
    e.representation = LossRepresentation::Ordered;
    e.loss_len = loss_len;
    e.channels = channels.to_vec();
    e.groups = 3;
    e.kernel = kernel;
    e.stride = stride;
    e.padding = padding;
    a
}

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

fn engine_matches_candle(arch: Architecture, backend: Backend) {
    let dev = Device::Cpu;
    let mut model = NeuNeu::new(&arch, &dev).unwrap();
    perturb_all(&mut model, 7, &dev);
    let engine = Engine::from_bundle_with_backend(export(&arch, &model), backend).unwrap();
    assert_eq!(engine.loss_encoder_backend(), backend);
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
                        "{backend}, losses={with_losses} row {row}: engine {x} vs candle {y}"
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

fn small_model_matches_candle(backend: Backend) {
    engine_matches_candle(Architecture::small(), backend);
}
backend_test!(
    small_model_matches_candle,
    small_model_matches_candle_cpu,
    small_model_matches_candle_cuda
);

fn odd_sizes_and_ordered_losses_match(backend: Backend) {
    let mut a = Architecture::small();
    a.d_model = 48;
    a.heads = 3;
    a.layers = 3;
    a.ff = 80;
    a.max_context = 11;
    engine_matches_candle(odd_ordered_encoder(a, 777, &[6, 9], 9, 5, 3), backend);
}
backend_test!(
    odd_sizes_and_ordered_losses_match,
    odd_sizes_and_ordered_losses_match_cpu,
    odd_sizes_and_ordered_losses_match_cuda
);

fn summary_path_matches(backend: Backend) {
    let mut a = Architecture::small();
    a.summary = 16;
    engine_matches_candle(a, backend);
}
backend_test!(
    summary_path_matches,
    summary_path_matches_cpu,
    summary_path_matches_cuda
);

fn encoder_matches_reference(arch: Architecture, backend: Backend) {
    let bundle = export(&arch, &NeuNeu::new(&arch, &Device::Cpu).unwrap());
    let graph = bundle.graphs[ENCODER].clone();
    let engine = Engine::from_bundle_with_backend(bundle, backend).unwrap();
    assert_eq!(engine.loss_encoder_backend(), backend);
    let spec = spec_for(&arch).unwrap();
    let weights =
        EncoderWeights::gather(&spec, &weights_from_graph(&graph, &spec).unwrap()).unwrap();
    let enc = arch.encoder.as_ref().unwrap();
    let runs: Vec<Vec<f32>> = (0..3)
        .map(|r| {
            (0..enc.loss_len + 37)
                .map(|i| ((i * 31 + r * 7) % 97) as f32 * 0.07)
                .collect()
        })
        .collect();
    let slices: Vec<&[f32]> = runs.iter().map(|r| r.as_slice()).collect();
    let encoded = engine.encode_losses_batch(&slices).unwrap();
    let mut prepared = vec![0.0f32; runs.len() * enc.loss_len];
    for (i, r) in runs.iter().enumerate() {
        features::prepare_losses(
            r,
            enc,
            &mut prepared[i * enc.loss_len..(i + 1) * enc.loss_len],
        );
    }
    let reference = encode_reference(&spec, &weights, &prepared, runs.len()).unwrap();
    let flat: Vec<f32> = encoded.iter().flat_map(|e| e.0.iter().copied()).collect();
    assert_eq!(flat.len(), reference.len());
    let scale = reference
        .iter()
        .map(|v| v.abs())
        .fold(0.0f32, f32::max)
        .max(1e-6);
    for (a, b) in flat.iter().zip(&reference) {
        assert!(
            (a - b).abs() / scale < 1e-4,
            "{backend} {a} vs reference {b}"
        );
    }
}

fn encoder_default_sizes(backend: Backend) {
    encoder_matches_reference(Architecture::small(), backend);
}
backend_test!(
    encoder_default_sizes,
    encoder_default_sizes_cpu,
    encoder_default_sizes_cuda
);

fn encoder_odd_sizes_ordered(backend: Backend) {
    let a = odd_ordered_encoder(Architecture::small(), 1003, &[6, 9, 12], 7, 3, 2);
    encoder_matches_reference(a, backend);
}
backend_test!(
    encoder_odd_sizes_ordered,
    encoder_odd_sizes_ordered_cpu,
    encoder_odd_sizes_ordered_cuda
);
