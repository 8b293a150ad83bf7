//! Swapping tract's two-input EinSum nodes for our ops, where an op takes the product on.

use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::einsum::EinSum;

/// Replaces every two-input EinSum node of `model` for which `swap(einsum, first input, second
/// input, output)` gives an op by that op, fed the first input alone (`first_input_only`, when
/// the op holds the second, a constant) or both; returns how many.
pub(super) fn swap_einsums<O: TypedOp>(
    model: &mut TypedModel,
    first_input_only: bool,
    swap: impl Fn(&EinSum, &TypedFact, &TypedFact, &TypedFact) -> Option<O>,
) -> TractResult<usize> {
    let mut found = Vec::new();
    for node in &model.nodes {
        let Some(einsum) = node.op_as::<EinSum>() else {
            continue;
        };
        if node.inputs.len() != 2 {
            continue;
        }
        let x = model.outlet_fact(node.inputs[0])?;
        let y = model.outlet_fact(node.inputs[1])?;
        if let Some(op) = swap(einsum, x, y, &node.outputs[0].fact) {
            found.push((node.id, op));
        }
    }
    let replaced = found.len();
    for (id, op) in found {
        let node = &model.nodes[id];
        let inputs = if first_input_only {
            vec![node.inputs[0]]
        } else {
            node.inputs.to_vec()
        };
        TypedModelPatch::replace_single_op(model, node, &inputs, op)?.apply(model)?;
    }
    Ok(replaced)
}

/// A constant einsum operand (axes `axes`) as a row-major `[K, N]` matrix: `K` its axes
/// `contracted`, flattened in that order (the input's), `N` its axis `n`. None unless those are
/// all its axes.
pub(super) fn as_matrix(
    constant: &Tensor,
    axes: &[char],
    contracted: &[char],
    n: char,
) -> Option<Arc<Tensor>> {
    let order: Vec<usize> = contracted
        .iter()
        .chain(std::iter::once(&n))
        .map(|c| axes.iter().position(|s| s == c))
        .collect::<Option<_>>()?;
    if order.len() != axes.len() {
        return None;
    }
    // `permute_axes` moves the data, so the result is row-major.
    let permuted = constant.clone().permute_axes(&order).ok()?;
    let columns = *permuted.shape().last()?;
    let rows = permuted.len() / columns.max(1);
    Some(
        permuted
            .into_shape(&[rows, columns])
            .ok()?
            .into_arc_tensor(),
    )
}
