//! One-einsum models for the tests of the ops the engine swaps into tract's graphs.

use std::collections::HashMap;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::axes::AxesMapping;
use tract_onnx::tract_core::ops::einsum::EinSum;

/// An operand of [`einsum_model`].
pub(super) enum Operand<'a> {
    /// A source of shape `[B, these..]`, `B` the batch symbol.
    Rows(&'a [usize]),
    /// A constant of this shape ([`values`] from seed 1).
    Const(&'a [usize]),
}

/// Deterministic values in [-1, 1), several thousand distinct.
pub(super) fn values(n: usize, seed: usize) -> Vec<f32> {
    (0..n)
        .map(|i| (((i + 1) * 7919 * seed + 13) % 4099) as f32 / 2049.5 - 1.0)
        .collect()
}

/// A model `y = einsum(expr)(operands..)` and its batch symbol `B`.
pub(super) fn einsum_model(expr: &str, operands: &[Operand]) -> (TypedModel, Symbol) {
    let mut model = TypedModel::default();
    let batch = model.symbols.sym("B");
    let inputs: Vec<OutletId> = operands
        .iter()
        .enumerate()
        .map(|(i, operand)| match operand {
            Operand::Rows(rest) => {
                let shape: TVec<TDim> = std::iter::once(TDim::Sym(batch.clone()))
                    .chain(rest.iter().map(|&d| d.into()))
                    .collect();
                model.add_source(format!("x{i}"), f32::fact(shape)).unwrap()
            }
            Operand::Const(shape) => {
                let n = shape.iter().product();
                let t = Tensor::from_shape(shape, &values(n, 1)).unwrap();
                model.add_const(format!("w{i}"), t).unwrap()
            }
        })
        .collect();
    let axes: AxesMapping = expr.parse().unwrap();
    let y = model
        .wire_node("y", EinSum::new(axes, f32::datum_type()), &inputs)
        .unwrap();
    model.select_output_outlets(&y).unwrap();
    (model, batch)
}

/// `model` optimised at the batch of `inputs` and run on them: its first output.
pub(super) fn run(model: &TypedModel, batch: &Symbol, inputs: &[Tensor]) -> Tensor {
    run_all(model, batch, inputs).remove(0)
}

/// `model` optimised at the batch of `inputs` and run on them: all its outputs.
pub(super) fn run_all(model: &TypedModel, batch: &Symbol, inputs: &[Tensor]) -> Vec<Tensor> {
    let subs = HashMap::from([(batch.clone(), TDim::Val(inputs[0].shape()[0] as i64))]);
    let plan = model
        .set_symbols(&subs)
        .unwrap()
        .into_optimized()
        .unwrap()
        .into_runnable()
        .unwrap();
    let inputs = inputs.iter().map(|t| t.clone().into_tvalue()).collect();
    plan.run(inputs)
        .unwrap()
        .into_iter()
        .map(|t| t.into_tensor())
        .collect()
}

/// `rows` rows of shape `rest` ([`values`] from `seed`).
pub(super) fn rows(rows: usize, rest: &[usize], seed: usize) -> Tensor {
    let shape: Vec<usize> = std::iter::once(rows).chain(rest.iter().copied()).collect();
    Tensor::from_shape(&shape, &values(shape.iter().product(), seed)).unwrap()
}

/// The bits of an f32 tensor's values.
pub(super) fn bits(t: &Tensor) -> Vec<u32> {
    t.try_as_plain_ram()
        .unwrap()
        .as_slice::<f32>()
        .unwrap()
        .iter()
        .map(|x| x.to_bits())
        .collect()
}

/// How many nodes of `model` run the op `O`.
pub(super) fn count<O: TypedOp>(model: &TypedModel) -> usize {
    model.nodes.iter().filter(|n| n.op_is::<O>()).count()
}

/// `original` and `swapped` run on `inputs` give outputs of the same shape whose values agree to
/// a few ulps (tract's `close_enough`, approximate).
pub(super) fn assert_agrees(
    original: &TypedModel,
    swapped: &TypedModel,
    batch: &Symbol,
    inputs: &[Tensor],
    what: &str,
) {
    let (theirs, ours) = (run(original, batch, inputs), run(swapped, batch, inputs));
    assert_eq!(theirs.shape(), ours.shape(), "{what}");
    theirs.close_enough(&ours, true).unwrap();
}

/// Rows `which` of `inputs` (axis 0 of each), run alone through `model`, get the bits they get
/// run all together.
pub(super) fn assert_rows_keep_their_bits(
    model: &TypedModel,
    batch: &Symbol,
    inputs: &[Tensor],
    which: &[usize],
) {
    let all = bits(&run(model, batch, inputs));
    let per_row = all.len() / inputs[0].shape()[0];
    for &r in which {
        let one: Vec<Tensor> = inputs
            .iter()
            .map(|t| t.slice(0, r, r + 1).unwrap())
            .collect();
        let alone = bits(&run(model, batch, &one));
        assert_eq!(alone, all[r * per_row..(r + 1) * per_row], "row {r}");
    }
}
