//! Loss encoder timings at the reference size on each backend.
//!
//! `cargo bench --bench encoder --features cuda` on a machine with a GPU (build-check elsewhere
//! with `--no-run`). The CUDA group is skipped, with a line saying why, where CUDA cannot run.
//! The CPU figure is the f64 reference implementation, not the engine's tract path.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use neuneu::cuda::{
    CudaEncoder, EncoderSpec, EncoderWeights, cuda_unavailable_reason, encode_reference,
};

fn losses(spec: &EncoderSpec, n: usize) -> Vec<f32> {
    (0..n * spec.loss_len)
        .map(|i| ((i * 7919) % 1000) as f32 / 1000.0)
        .collect()
}

fn cpu_reference(c: &mut Criterion) {
    let spec = EncoderSpec::reference();
    let weights = EncoderWeights::synthetic(&spec, 1).expect("reference spec is valid");
    let mut group = c.benchmark_group("encoder/cpu-reference");
    group.sample_size(10);
    for n in [1, 4] {
        let input = losses(&spec, n);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &input, |b, input| {
            b.iter(|| encode_reference(&spec, &weights, black_box(input), n).expect("encodes"))
        });
    }
    group.finish();
}

fn cuda(c: &mut Criterion) {
    if let Some(reason) = cuda_unavailable_reason() {
        println!("skipping encoder/cuda: {reason}");
        return;
    }
    let spec = EncoderSpec::reference();
    let weights = EncoderWeights::synthetic(&spec, 1).expect("reference spec is valid");
    let encoder = match CudaEncoder::new(&spec, &weights.to_map(&spec), 0) {
        Ok(encoder) => encoder,
        Err(e) => {
            println!("skipping encoder/cuda: {e}");
            return;
        }
    };
    let mut group = c.benchmark_group("encoder/cuda");
    for n in [1, 16, 256] {
        let input = losses(&spec, n);
        group.throughput(Throughput::Elements(n as u64));
        // Includes the host-to-device copy of the losses (1 MB per run) and the readback.
        group.bench_with_input(BenchmarkId::from_parameter(n), &input, |b, input| {
            b.iter(|| encoder.encode(black_box(input), n).expect("encodes"))
        });
    }
    group.finish();
}

criterion_group!(benches, cpu_reference, cuda);
criterion_main!(benches);
