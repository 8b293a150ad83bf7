//! The encoder of a bundle, as the CUDA path reads it: its spec from the manifest's
//! architecture, its weights from the encoder graph's initializers (where the exporter stored
//! GroupNorm's affine as `[C, 1]` and the projection transposed).

use super::{EncoderSpec, NamedTensors};
use crate::error::{BundleError, Result};
use crate::model::architecture::Architecture;
use std::collections::HashMap;

/// The spec of `arch`'s encoder, if it has one.
pub fn spec_for(arch: &Architecture) -> Option<EncoderSpec> {
    let e = arch.encoder.as_ref()?;
    Some(EncoderSpec {
        loss_len: e.loss_len,
        channels: std::iter::once(1)
            .chain(e.channels.iter().copied())
            .collect(),
        kernel: e.kernel,
        stride: e.stride,
        padding: e.padding,
        groups: e.groups,
        d_model: arch.d_model,
    })
}

/// The encoder's weights under the names and shapes `WeightSource` expects.
pub fn weights_from_graph(onnx: &[u8], spec: &EncoderSpec) -> Result<NamedTensors> {
    let bad = |e: crate::error::ModelError| BundleError::Graph {
        graph: crate::model::bundle::ENCODER.into(),
        reason: e.to_string(),
    };
    let init = crate::model::onnx::weights_from_graph(onnx).map_err(bad)?;
    let mut out = HashMap::new();
    for b in 0..spec.channels.len() - 1 {
        for name in [format!("enc.conv{b}.weight"), format!("enc.conv{b}.bias")] {
            let t = init.get(&name).map_err(bad)?;
            out.insert(name, (t.shape.clone(), t.data.clone()));
        }
        for name in [format!("enc.gn{b}.weight"), format!("enc.gn{b}.bias")] {
            let t = init.get(&name).map_err(bad)?;
            out.insert(name, (vec![t.data.len()], t.data.clone()));
        }
    }
    for name in ["enc.proj.weight", "enc.proj.bias"] {
        let t = init.get(name).map_err(bad)?;
        out.insert(name.into(), (t.shape.clone(), t.data.clone()));
    }
    Ok(out)
}
