//! Writing NeuNeu's two graphs as ONNX, from Rust, with tract-onnx's protobuf types.
//!
//! - `builder`: a small typed helper over `tract_onnx::pb` (nodes, initializers, attributes).
//! - `export`: the loss encoder and forecaster graphs, built from an `Architecture` and `Weights`.
//!
//! The graph inputs and outputs are named by the constants below; the engine feeds them in this
//! order.

pub mod builder;
pub mod export;

pub use export::{export_encoder, export_forecaster, read_initializers, weights_from_graph};

/// Forecaster inputs, in order: `[B, T, F]`, `[B, T + 2]`, `[B, 1]`, `[B, D]`, `[B, 1]`. `T` (at
/// most `max_context`) is the symbol [`CONTEXT_SYMBOL`] and `T + 2` the symbol [`TOKENS_SYMBOL`];
/// graphs from older exporters fix both at `max_context`.
pub const FORECASTER_INPUTS: [&str; 5] = [
    "context",
    "key_mask",
    "anchor",
    "loss_embedding",
    "has_loss",
];
pub const CONTEXT_SYMBOL: &str = "T";
pub const TOKENS_SYMBOL: &str = "S";
/// Forecaster output: `[B, Q]` quantiles.
pub const FORECASTER_OUTPUT: &str = "quantiles";
/// Encoder input: `[N, L]` prepared loss vectors.
pub const ENCODER_INPUT: &str = "loss_features";
/// Encoder output: `[N, D]` loss embeddings.
pub const ENCODER_OUTPUT: &str = "loss_embedding";

/// The bundle with its graphs written again by this version's exporters, from the weights
/// they hold: same function (the caller should check, as `neuneu upgrade` does), graphs that
/// run faster where the exporter improved. The manifest is kept but for its graph entries, and
/// the trees, if any, as they are.
/// Folded query and key columns are unfolded first (`export::unfold_attention`).
pub fn reexport(
    bundle: &crate::model::bundle::Bundle,
) -> crate::Result<crate::model::bundle::Bundle> {
    use crate::error::{BundleError, ModelError};
    use crate::model::bundle::{Bundle, ENCODER, FORECASTER, TREES};
    let arch = &bundle.manifest.architecture;
    let mut graphs = Vec::new();
    for (name, export) in [
        (
            FORECASTER,
            export_forecaster as fn(&_, &_) -> Result<Vec<u8>, ModelError>,
        ),
        (ENCODER, export_encoder),
    ] {
        let Some(onnx) = bundle.graphs.get(name) else {
            continue;
        };
        let bad = |e: ModelError| BundleError::Graph {
            graph: name.into(),
            reason: e.to_string(),
        };
        let mut weights = weights_from_graph(onnx).map_err(bad)?;
        if name == FORECASTER {
            export::unfold_attention(arch, &mut weights).map_err(bad)?;
        }
        graphs.push((name.to_string(), export(arch, &weights).map_err(bad)?));
    }
    // The trees are no graph: carried over as they are.
    if let Some(trees) = bundle.graphs.get(TREES) {
        graphs.push((TREES.to_string(), trees.clone()));
    }
    Ok(Bundle::new(bundle.manifest.clone(), graphs))
}
