//! The loss encoder three ways agree: tract running the exported graph (the CPU backend), and
//! the CUDA path's f64 reference reading the same bundle's weights (the kernels themselves are
//! held to that reference by the host-shim tests in `src/cuda/shim.rs`). Random weights, the
//! default sizes and odd sizes, batch > 1.
#![cfg(feature = "train")]

use candle_core::Device;
use neuneu::Engine;
use neuneu::cuda::{Backend, EncoderWeights, encode_reference, spec_for, weights_from_graph};
use neuneu::inference::features::prepare_losses;
use neuneu::model::architecture::Architecture;
use neuneu::model::bundle::{ENCODER, TrainingRecord};
use neuneu::train::{export_bundle, model::NeuNeu};

/// A bundle of freshly initialised (untrained) weights of `arch`.
fn untrained_bundle(arch: &Architecture) -> neuneu::model::bundle::Bundle {
    let model = NeuNeu::new(arch, &Device::Cpu).unwrap();
    export_bundle(
        arch,
        &model.weights().unwrap(),
        2,
        TrainingRecord::default(),
        "enc",
    )
    .unwrap()
}

fn check(arch: Architecture) {
    let bundle = untrained_bundle(&arch);
    let graph = bundle.graphs[ENCODER].clone();
    let engine = Engine::from_bundle_with_backend(bundle, Backend::Cpu).unwrap();
    assert_eq!(engine.loss_encoder_backend(), Backend::Cpu);
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
    let tract = engine.encode_losses_batch(&slices).unwrap();
    let mut prepared = vec![0.0f32; runs.len() * enc.loss_len];
    for (i, r) in runs.iter().enumerate() {
        prepare_losses(
            r,
            enc,
            &mut prepared[i * enc.loss_len..(i + 1) * enc.loss_len],
        );
    }
    let reference = encode_reference(&spec, &weights, &prepared, runs.len()).unwrap();
    let flat: Vec<f32> = tract.iter().flat_map(|e| e.0.iter().copied()).collect();
    assert_eq!(flat.len(), reference.len());
    let scale = reference
        .iter()
        .map(|v| v.abs())
        .fold(0.0f32, f32::max)
        .max(1e-6);
    for (a, b) in flat.iter().zip(&reference) {
        assert!((a - b).abs() / scale < 1e-4, "tract {a} vs reference {b}");
    }
}

#[test]
fn default_sizes() {
    check(Architecture::small());
}

#[test]
fn odd_sizes_ordered() {
    let mut a = Architecture::small();
    let e = a.encoder.as_mut().unwrap();
    e.representation = neuneu::model::architecture::LossRepresentation::Ordered;
    e.loss_len = 1003;
    e.channels = vec![6, 9, 12];
    e.groups = 3;
    e.kernel = 7;
    e.stride = 3;
    e.padding = 2;
    check(a);
}

#[test]
fn asking_for_cuda_without_a_gpu_is_an_error_not_a_panic() {
    if neuneu::cuda::cuda_available() {
        eprintln!("a CUDA device is present: this test checks the GPU-less path only");
        return;
    }
    let bytes = untrained_bundle(&Architecture::small()).to_bytes();
    assert!(matches!(
        Engine::from_bytes_with_backend(&bytes, Backend::Cuda),
        Err(neuneu::Error::Cuda(_))
    ));
    let auto = Engine::from_bytes_with_backend(&bytes, Backend::Auto).unwrap();
    assert_eq!(auto.loss_encoder_backend(), Backend::Cpu);
}
