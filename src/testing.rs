//! Helpers for tests and benchmarks, not part of the library's API: random-weight models of any
//! size without the trainer (for `neuneu bench`, `benches/forecast.rs` and for comparing
//! runtimes on the exact graphs the exporter writes), synthetic runs and the crate's seeded
//! generator.
//! The weights mean nothing; their scale (`U(-1/sqrt(fan_in), 1/sqrt(fan_in))`, unit norms)
//! keeps every activation finite and every parameter relevant to the output.

use crate::model::architecture::Architecture;
use crate::model::bundle::{Bundle, ENCODER, FORECASTER, Manifest, Preparation, TrainingRecord};
use crate::model::weights::{Tensor, Weights};
pub use crate::rng::SplitMix64;
use std::collections::BTreeMap;

/// Every parameter the exporter reads, filled from a seeded generator.
pub fn random_weights(arch: &Architecture, seed: u64) -> Weights {
    let mut rng = SplitMix64::new(seed);
    let mut w = Weights::default();
    let mut uniform = |shape: Vec<usize>, scale: f32, offset: f32| {
        let n = shape.iter().product();
        let data = (0..n)
            .map(|_| offset + scale * (2.0 * rng.next_f64() as f32 - 1.0))
            .collect();
        Tensor::new(shape, data)
    };
    let (d, f, q, ff) = (
        arch.d_model,
        arch.context_features,
        arch.quantile_levels.len(),
        arch.ff,
    );
    let fan = |n: usize| 1.0 / (n as f32).sqrt();
    let linear = |w: &mut Weights,
                  name: &str,
                  out: usize,
                  inp: usize,
                  uniform: &mut dyn FnMut(Vec<usize>, f32, f32) -> Tensor| {
        w.insert(
            format!("{name}.weight"),
            uniform(vec![out, inp], fan(inp), 0.0),
        );
        w.insert(format!("{name}.bias"), uniform(vec![out], fan(inp), 0.0));
    };
    let norm = |w: &mut Weights,
                name: &str,
                n: usize,
                uniform: &mut dyn FnMut(Vec<usize>, f32, f32) -> Tensor| {
        w.insert(format!("{name}.weight"), uniform(vec![n], 0.1, 1.0));
        w.insert(format!("{name}.bias"), uniform(vec![n], 0.1, 0.0));
    };
    linear(&mut w, "ctx", d, f, &mut uniform);
    w.insert("cls", uniform(vec![d], 0.05, 0.0));
    w.insert("no_loss", uniform(vec![d], 0.05, 0.0));
    for l in 0..arch.layers {
        let p = |n: &str| format!("layers.{l}.{n}");
        norm(&mut w, &p("ln1"), d, &mut uniform);
        linear(&mut w, &p("qkv"), 3 * d, d, &mut uniform);
        linear(&mut w, &p("out"), d, d, &mut uniform);
        norm(&mut w, &p("ln2"), d, &mut uniform);
        linear(&mut w, &p("ff1"), ff, d, &mut uniform);
        linear(&mut w, &p("ff2"), d, ff, &mut uniform);
    }
    norm(&mut w, "final_ln", d, &mut uniform);
    linear(&mut w, "head", q, d, &mut uniform);
    if arch.summary > 0 {
        linear(&mut w, "summary.fc1", arch.summary, f, &mut uniform);
        linear(&mut w, "summary.fc2", q, arch.summary, &mut uniform);
    }
    if let Some(e) = &arch.encoder {
        let mut c_in = 1;
        for (i, &c) in e.channels.iter().enumerate() {
            let fan_in = c_in * e.kernel;
            w.insert(
                format!("enc.conv{i}.weight"),
                uniform(vec![c, c_in, e.kernel], fan(fan_in), 0.0),
            );
            w.insert(
                format!("enc.conv{i}.bias"),
                uniform(vec![c], fan(fan_in), 0.0),
            );
            norm(&mut w, &format!("enc.gn{i}"), c, &mut uniform);
            c_in = c;
        }
        linear(&mut w, "enc.proj", d, e.flat_len(), &mut uniform);
    }
    w
}

/// A checked bundle of `arch` with [`random_weights`]: both graphs, exported as the trainer
/// exports them.
pub fn random_bundle(arch: &Architecture, seed: u64, name: &str) -> crate::Result<Bundle> {
    let w = random_weights(arch, seed);
    let mut graphs = vec![(
        FORECASTER.to_string(),
        crate::model::onnx::export_forecaster(arch, &w)?,
    )];
    if arch.encoder.is_some() {
        graphs.push((
            ENCODER.to_string(),
            crate::model::onnx::export_encoder(arch, &w)?,
        ));
    }
    let manifest = Manifest {
        format_version: crate::model::bundle::FORMAT_VERSION,
        name: name.into(),
        architecture: arch.clone(),
        preparation: Preparation {
            min_context: 2,
            feature_set: crate::inference::features::FEATURE_SET.into(),
            description: "random weights, for benchmarks only".into(),
        },
        training: TrainingRecord {
            command: format!("neuneu::random_model::random_bundle(seed = {seed})"),
            ..Default::default()
        },
        validation: BTreeMap::new(),
        validation_protocol: String::new(),
        graphs: vec![],
    };
    let bundle = Bundle::new(manifest, graphs);
    // Round-trip through bytes so the result is exactly what a file would hold.
    Bundle::from_bytes(&bundle.to_bytes())
}

/// A plausible learning curve: `points` checkpoints at doubling-ish steps with a saturating
/// accuracy, and `targets` future steps. Deterministic in `seed`.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticRun {
    pub steps: Vec<f64>,
    pub accuracy: Vec<f64>,
    pub targets: Vec<f64>,
}

impl SyntheticRun {
    pub fn new(points: usize, targets: usize, seed: u64) -> Self {
        let mut rng = SplitMix64::new(seed);
        let ceiling = 0.5 + 0.4 * rng.next_f64();
        let rate = 0.5 + rng.next_f64();
        let steps: Vec<f64> = (0..points)
            .map(|i| 1000.0 * (i as f64 + 1.0).powf(1.3))
            .collect();
        let accuracy = steps
            .iter()
            .map(|&s| {
                let noise = 0.01 * (rng.next_f64() - 0.5);
                (ceiling * (1.0 - (-(s / 2e4).powf(0.5) * rate).exp()) + 0.05 + noise)
                    .clamp(0.0, 1.0)
            })
            .collect();
        let last = *steps.last().unwrap_or(&1000.0);
        let targets = (0..targets).map(|k| last * (1.5 + k as f64)).collect();
        SyntheticRun {
            steps,
            accuracy,
            targets,
        }
    }

    pub fn input(&self) -> crate::RunInput<'_> {
        crate::RunInput::new(&self.steps, &self.accuracy, &self.targets)
    }
}

/// `len` per-token losses in natural-log units (mostly 0.5..4, a few large ones).
pub fn synthetic_losses(len: usize, seed: u64) -> Vec<f32> {
    let mut rng = SplitMix64::new(seed);
    (0..len)
        .map(|_| {
            let u = rng.next_f64();
            (0.5 + 3.5 * u * u + if u > 0.99 { 8.0 } else { 0.0 }) as f32
        })
        .collect()
}

/// An encoder of awkward sizes, for the CUDA kernels' checks: a loss length (1,003) that is not
/// a multiple of the stride, channel counts that are not powers of two with several channels
/// per group, and a width (37) that is not a multiple of the warp size.
pub fn odd_encoder_spec() -> crate::cuda::EncoderSpec {
    crate::cuda::EncoderSpec {
        loss_len: 1_003,
        channels: vec![1, 6, 9, 12],
        kernel: 7,
        stride: 3,
        padding: 2,
        groups: 3,
        d_model: 37,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_small_bundle_loads_and_forecasts() {
        let bundle = random_bundle(&Architecture::small(), 1, "random-small").unwrap();
        let engine = crate::Engine::from_bundle(bundle).unwrap();
        let steps = [1.0, 2.0, 4.0, 8.0];
        let acc = [0.3, 0.35, 0.4, 0.42];
        let losses: Vec<f32> = (0..600).map(|i| (i % 17) as f32 * 0.2).collect();
        let run =
            crate::RunInput::new(&steps, &acc, &[32.0]).with_losses(crate::Losses::Tokens(&losses));
        let f = engine.forecast(&[run]).unwrap();
        assert!(f[0].forecasts[0].quantiles.iter().all(|v| v.is_finite()));
    }
}
