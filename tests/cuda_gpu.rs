//! The CUDA encoder on a real device against the CPU reference. Runs only where a driver and a
//! device are present (build with `--features cuda`); elsewhere it prints a SKIP line and checks
//! that asking for CUDA is a typed error rather than a panic.

use neuneu::Error;
use neuneu::cuda::{
    CudaEncoder, EncoderSpec, EncoderWeights, cuda_available, cuda_unavailable_reason,
    encode_reference, max_relative_error, synthetic_inputs,
};

fn odd_spec() -> EncoderSpec {
    EncoderSpec {
        loss_len: 1_003,
        channels: vec![1, 6, 9, 12],
        kernel: 7,
        stride: 3,
        padding: 2,
        groups: 3,
        d_model: 37,
    }
}

#[test]
fn cuda_encoder_matches_reference() {
    if !cuda_available() {
        let reason = cuda_unavailable_reason().unwrap_or_default();
        println!("SKIP cuda_encoder_matches_reference: {reason}");
        let spec = EncoderSpec::small();
        let weights = EncoderWeights::synthetic(&spec, 1).unwrap();
        let result = CudaEncoder::new(&spec, &weights.to_map(&spec), 0);
        assert!(
            matches!(result, Err(Error::Cuda(_))),
            "CUDA absent must be Error::Cuda"
        );
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
    if !cuda_available() {
        println!(
            "SKIP encode_rejects_a_wrong_batch_length: {}",
            cuda_unavailable_reason().unwrap_or_default()
        );
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
