//! The CUDA encoder on a real device against the CPU reference. Runs only where a driver and a
//! device are present (build with `--features cuda`); elsewhere its tests print a SKIP line
//! (`cuda_or_skip`), and the last one checks that asking for CUDA is a typed error rather than
//! a panic. The engine with each backend against the reference: `parity`.

use crate::common::cuda_or_skip;
use neuneu::cuda::{
    Backend, CudaEncoder, EncoderSpec, EncoderWeights, cuda_available, encode_reference,
    max_relative_error, synthetic_inputs,
};
use neuneu::model::architecture::Architecture;
use neuneu::{Engine, Error};

use neuneu::testing::odd_encoder_spec as odd_spec;

#[test]
fn cuda_encoder_matches_reference() {
    if !cuda_or_skip(module_path!(), "cuda_encoder_matches_reference") {
        return;
    }
    // 300 runs at the reference size crosses the encoder's 256-run batching.
    for (label, spec, n) in [
        ("reference", EncoderSpec::reference(), 3),
        ("reference, 300 runs", EncoderSpec::reference(), 300),
        ("small", EncoderSpec::small(), 7),
        ("odd", odd_spec(), 5),
    ] {
        let weights = EncoderWeights::synthetic(&spec, 3).unwrap();
        let encoder = CudaEncoder::new(&spec, &weights.to_map(&spec), 0).unwrap();
        let input = synthetic_inputs(&spec, n, 5);
        let want = encode_reference(&spec, &weights, &input, n).unwrap();
        let started = std::time::Instant::now();
        let got = encoder.encode(&input, n).unwrap();
        let elapsed = started.elapsed();
        let error = max_relative_error(&got, &want);
        println!(
            "cuda parity {label} on {}: n={n}: max relative error {error:.2e} (first call {elapsed:.2?})",
            encoder.device_name()
        );
        assert_eq!(got.len(), n * spec.d_model);
        assert!(
            error <= 1e-4,
            "{label}: CUDA differs from the reference by {error:.2e}"
        );
    }
}

#[test]
fn encode_rejects_a_wrong_batch_length() {
    if !cuda_or_skip(module_path!(), "encode_rejects_a_wrong_batch_length") {
        return;
    }
    let spec = EncoderSpec::small();
    let weights = EncoderWeights::synthetic(&spec, 1).unwrap();
    let encoder = CudaEncoder::new(&spec, &weights.to_map(&spec), 0).unwrap();
    assert!(matches!(
        encoder.encode(&[0.5; 10], 1),
        Err(Error::InvalidInput { .. })
    ));
    assert!(matches!(
        encoder.encode(&[], 0),
        Err(Error::InvalidInput { .. })
    ));
}

/// Where CUDA cannot run, the CUDA encoder and an engine asked for the CUDA backend are
/// `Error::Cuda`, and `Auto` falls back to the CPU.
#[test]
fn asking_for_cuda_without_a_gpu_is_an_error_not_a_panic() {
    if cuda_available() {
        println!(
            "SKIP asking_for_cuda_without_a_gpu_is_an_error_not_a_panic: a CUDA device is present"
        );
        return;
    }
    let spec = EncoderSpec::small();
    let weights = EncoderWeights::synthetic(&spec, 1).unwrap();
    let result = CudaEncoder::new(&spec, &weights.to_map(&spec), 0);
    assert!(
        matches!(result, Err(Error::Cuda(_))),
        "CUDA absent must be Error::Cuda"
    );
    let bytes = neuneu::testing::random_bundle(&Architecture::small(), 1, "t")
        .unwrap()
        .to_bytes();
    assert!(matches!(
        Engine::from_bytes_with_backend(&bytes, Backend::Cuda),
        Err(Error::Cuda(_))
    ));
    let auto = Engine::from_bytes_with_backend(&bytes, Backend::Auto).unwrap();
    assert!(auto.reads_losses());
    assert_eq!(auto.loss_encoder_backend(), Backend::Cpu);
}
