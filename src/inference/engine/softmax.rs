//! The attention softmax as one tract op over all of its rows.
//!
//! tract's `Softmax` calls three linalg kernels per row (max, exp-and-sum, scale), and a row
//! shorter than a kernel's width (64 floats with AVX-512) goes through a thread-local
//! temporary buffer each time. The forecaster's rows are 8 to 64 keys long, so those calls were
//! 21% of a batch-1 forecast and 30% of a batch-8 one (`examples/profile_graph`). [`RowSoftmax`]
//! shifts each row by its own maximum, runs tract's exp kernel once over the whole tensor, then
//! sums and scales each row. Every element gets the arithmetic tract's op gives it (the same
//! subtraction, the same exp kernel, a multiplication by the reciprocal of the sum); only the
//! order in which a row's sum is added up differs, which moves a probability by a few ulps (relative) at most.
//! Each row is computed on its own, so a row's bits do not depend on the rows beside it.
//!
//! The attention's additive key mask (`[B, 1, 1, S]`) comes in as a second input when tract left
//! it to an `Add` of its own: at one row tract fuses that addition into the score product, at
//! several it cannot, and the broadcasting `Add` was 7% of a batch-8 forecast. The op adds it in
//! place, the same float addition, so the bits are those of the `Add` then the softmax.

use std::sync::OnceLock;
use tract_onnx::prelude::tract_linalg::reduce::MapReduce;
use tract_onnx::prelude::tract_linalg::routines::Func;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::nn::{Softmax, SoftmaxKind};

/// Softmax over the last axis of an f32 tensor, plus a second input broadcast onto it first
/// when there is one (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RowSoftmax;

/// tract's exp-and-sum kernel for this CPU, looked up once.
fn exp_kernel() -> TractResult<&'static dyn MapReduce<f32, f32>> {
    static KERNEL: OnceLock<Result<Box<dyn MapReduce<f32, f32>>, String>> = OnceLock::new();
    match KERNEL.get_or_init(|| Func::Softmax2.map_reduce_f32().map_err(|e| e.to_string())) {
        Ok(k) => Ok(k.as_ref()),
        Err(e) => bail!("no softmax kernel: {e}"),
    }
}

/// Softmax of each `row`-long row of `data`, in place.
fn softmax_rows(data: &mut [f32], row: usize) -> TractResult<()> {
    for r in data.chunks_exact_mut(row) {
        let max = r.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        r.iter_mut().for_each(|x| *x -= max);
    }
    // exp(x - 0) of every element; the kernel's total over all rows is not needed.
    exp_kernel()?.run_with_params(data, 0.0)?;
    for r in data.chunks_exact_mut(row) {
        let inverse = r.iter().sum::<f32>().recip();
        r.iter_mut().for_each(|x| *x *= inverse);
    }
    Ok(())
}

impl Op for RowSoftmax {
    fn name(&self) -> StaticName {
        "RowSoftmax".into()
    }

    op_as_typed_op!();
}

impl EvalOp for RowSoftmax {
    op_out_of_plan!();

    fn eval(&self, ctx: &EvalContext, mut inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let bias = (inputs.len() == 2).then(|| inputs.pop()).flatten();
        let input = args_1!(inputs);
        let row = input.shape().last().copied().unwrap_or(0);
        let natural = input.strides() == &*Tensor::natural_strides(input.shape());
        let mut output = input.into_tensor();
        if let Some(bias) = bias {
            let bias = bias.to_plain_array_view::<f32>()?;
            let mut scores = output.to_plain_array_view_mut::<f32>()?;
            ensure!(
                bias.broadcast(scores.shape()).is_some(),
                "RowSoftmax: bias {:?} does not broadcast to {:?}",
                bias.shape(),
                scores.shape()
            );
            scores.zip_mut_with(&bias, |s, b| *s += *b);
        }
        if output.datum_type() != f32::datum_type() || row == 0 || !natural {
            // Not a layout this op was swapped in for: tract's own op answers.
            let last = tvec![output.rank().saturating_sub(1)];
            return Softmax::new(last, None, SoftmaxKind::Softmax)
                .eval(ctx, tvec![output.into_tvalue()]);
        }
        softmax_rows(output.try_as_plain_ram_mut()?.as_slice_mut::<f32>()?, row)?;
        Ok(tvec![output.into_tvalue()])
    }
}

impl TypedOp for RowSoftmax {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec![inputs[0].without_value()])
    }

    as_op!();
}

/// Replaces every f32 softmax over the last axis of an optimised model with [`RowSoftmax`],
/// taking in an `Add` of a broadcast bias that only it reads; returns how many it replaced.
/// Run after optimisation: the optimiser knows tract's op, not this one.
pub(crate) fn use_row_softmax(model: &mut TypedModel) -> TractResult<usize> {
    let mut replaced = 0;
    let mut with_bias = Vec::new();
    for id in 0..model.nodes.len() {
        let node = &model.nodes[id];
        let Some(op) = node.op_as::<Softmax>() else {
            continue;
        };
        let fact = model.outlet_fact(node.inputs[0])?;
        let last_axis = op.axes.len() == 1 && op.axes[0] + 1 == fact.rank();
        if last_axis
            && op.kind == SoftmaxKind::Softmax
            && op.quant_output_dt.is_none()
            && fact.datum_type == f32::datum_type()
        {
            model.nodes[id].op = Box::new(RowSoftmax);
            replaced += 1;
            if let Some(inputs) = biased_scores(model, model.nodes[id].inputs[0])? {
                with_bias.push((id, inputs));
            }
        }
    }
    for (id, inputs) in with_bias {
        let node = &model.nodes[id];
        TypedModelPatch::replace_single_op(model, node, &inputs, RowSoftmax)?.apply(model)?;
    }
    Ok(replaced)
}

/// `[scores, bias]` when `outlet` is an f32 `Add` read by nothing else, one of whose inputs has
/// the sum's shape and the other broadcasts onto it.
fn biased_scores(model: &TypedModel, outlet: OutletId) -> TractResult<Option<[OutletId; 2]>> {
    let node = &model.nodes[outlet.node];
    let Some(add) = node.op_as::<tract_onnx::tract_core::ops::binary::TypedBinOp>() else {
        return Ok(None);
    };
    let read_elsewhere =
        model.outlet_successors(outlet).len() != 1 || model.outputs.contains(&outlet);
    if add.0.name() != "Add" || add.1.is_some() || read_elsewhere {
        return Ok(None);
    }
    let sum = model.outlet_fact(outlet)?;
    let [a, b] = node.inputs[..] else {
        return Ok(None);
    };
    let (fa, fb) = (model.outlet_fact(a)?, model.outlet_fact(b)?);
    let f32s = [sum, fa, fb]
        .iter()
        .all(|f| f.datum_type == f32::datum_type());
    let broadcasts = |bias: &TypedFact| {
        bias.rank() == sum.rank()
            && bias
                .shape
                .iter()
                .zip(sum.shape.iter())
                .all(|(d, s)| d.is_one() || d == s)
    };
    Ok(match (fa.shape == sum.shape, fb.shape == sum.shape) {
        _ if !f32s => None,
        (true, _) if broadcasts(fb) => Some([a, b]),
        (_, true) if broadcasts(fa) => Some([b, a]),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows of several lengths (shorter and longer than a kernel's width, not multiples of
    /// it), with masked keys as the forecaster's graph masks them: within a few ulps of
    /// tract's own op, and each row sums to 1.
    #[test]
    fn row_softmax_matches_tracts_softmax() {
        for row in [1usize, 3, 8, 16, 30, 32, 64, 66, 130] {
            let rows = 7;
            let values: Vec<f32> = (0..rows * row)
                .map(|i| {
                    let x = ((i * 2654435761usize) % 1000) as f32 / 100.0 - 5.0;
                    if i % row == row - 1 && row > 1 {
                        -1e9
                    } else {
                        x
                    }
                })
                .collect();
            let input = Tensor::from_shape(&[rows, row], &values).unwrap();
            let theirs = Softmax::new(tvec![1], None, SoftmaxKind::Softmax)
                .eval(
                    &EvalContext::out_of_plan(),
                    tvec![input.clone().into_tvalue()],
                )
                .unwrap();
            let ours = RowSoftmax
                .eval(&EvalContext::out_of_plan(), tvec![input.into_tvalue()])
                .unwrap();
            let theirs = theirs[0].try_as_plain_ram().unwrap();
            let ours = ours[0].try_as_plain_ram().unwrap();
            let (theirs, ours) = (
                theirs.as_slice::<f32>().unwrap(),
                ours.as_slice::<f32>().unwrap(),
            );
            for (a, b) in theirs.iter().zip(ours) {
                assert!(
                    (a - b).abs() <= 8.0 * f32::EPSILON * a.abs().max(1e-30),
                    "row {row}: {a} vs {b}"
                );
            }
            for r in ours.chunks(row) {
                assert!(
                    (r.iter().sum::<f32>() - 1.0).abs() < 1e-5,
                    "row {row} sums to {}",
                    r.iter().sum::<f32>()
                );
            }
        }
    }

    /// An optimised graph with a softmax over its last axis gets the op, one over another axis
    /// keeps tract's, and the swapped model computes what tract's does.
    #[test]
    fn only_last_axis_softmaxes_are_replaced() {
        let mut model = TypedModel::default();
        let x = model.add_source("x", f32::fact([2, 3, 5])).unwrap();
        let last = model
            .wire_node(
                "last",
                Softmax::new(tvec![2], None, SoftmaxKind::Softmax),
                &[x],
            )
            .unwrap()[0];
        let other = model
            .wire_node(
                "other",
                Softmax::new(tvec![1], None, SoftmaxKind::Softmax),
                &[last],
            )
            .unwrap()[0];
        model.select_output_outlets(&[other]).unwrap();
        let input: Vec<f32> = (0..30).map(|i| (i as f32 * 0.37).sin() * 3.0).collect();
        let input = Tensor::from_shape(&[2, 3, 5], &input).unwrap();
        let run = |m: TypedModel| {
            m.into_runnable()
                .unwrap()
                .run(tvec![input.clone().into_tvalue()])
                .unwrap()[0]
                .clone()
                .into_tensor()
        };
        let plain = run(model.clone());
        assert_eq!(use_row_softmax(&mut model).unwrap(), 1);
        assert!(model.node_by_name("last").unwrap().op_is::<RowSoftmax>());
        assert!(model.node_by_name("other").unwrap().op_is::<Softmax>());
        let swapped = run(model);
        plain.close_enough(&swapped, true).unwrap();
    }
    /// A broadcast bias added to the scores just before the softmax is taken into the op (the
    /// `Add` leaves the plan), with the bits of the `Add` then the op; an `Add` whose sum is
    /// read elsewhere too stays.
    #[test]
    fn a_bias_added_before_the_softmax_is_taken_in() {
        use tract_onnx::tract_core::ops::math::add;
        let build = |read_sum_too: bool| {
            let mut model = TypedModel::default();
            let x = model.add_source("x", f32::fact([2, 3, 4, 5])).unwrap();
            let b = model.add_source("b", f32::fact([2, 1, 1, 5])).unwrap();
            let sum = model.wire_node("sum", add(), &[x, b]).unwrap()[0];
            let soft = Softmax::new(tvec![3], None, SoftmaxKind::Softmax);
            let out = model.wire_node("soft", soft, &[sum]).unwrap()[0];
            let outputs = if read_sum_too {
                vec![out, sum]
            } else {
                vec![out]
            };
            model.select_output_outlets(&outputs).unwrap();
            let mut model = model.into_optimized().unwrap();
            use_row_softmax(&mut model).unwrap();
            model
        };
        let x: Vec<f32> = (0..120).map(|i| (i as f32 * 0.37).sin() * 3.0).collect();
        let b: Vec<f32> = (0..10)
            .map(|i| if i % 5 == 4 { -1e9 } else { 0.1 * i as f32 })
            .collect();
        let inputs = tvec![
            Tensor::from_shape(&[2, 3, 4, 5], &x).unwrap().into_tvalue(),
            Tensor::from_shape(&[2, 1, 1, 5], &b).unwrap().into_tvalue(),
        ];
        let model = build(false);
        let soft = model.node_by_name("soft").unwrap();
        assert!(soft.op_is::<RowSoftmax>() && soft.inputs.len() == 2);
        let plan = model.into_runnable().unwrap();
        let taken_in = plan.run(inputs.clone()).unwrap()[0].clone().into_tensor();
        // The Add by hand, then the op on the sum.
        let summed: Vec<f32> = x
            .iter()
            .enumerate()
            .map(|(i, v)| v + b[(i / 60) * 5 + i % 5])
            .collect();
        let summed = Tensor::from_shape(&[2, 3, 4, 5], &summed).unwrap();
        let apart = RowSoftmax
            .eval(&EvalContext::out_of_plan(), tvec![summed.into_tvalue()])
            .unwrap()[0]
            .clone()
            .into_tensor();
        let bits = |t: &Tensor| {
            t.try_as_plain_ram()
                .unwrap()
                .as_slice::<f32>()
                .unwrap()
                .iter()
                .map(|v| v.to_bits())
                .collect::<Vec<_>>()
        };
        assert_eq!(bits(&taken_in), bits(&apart));
        let kept = build(true);
        assert_eq!(kept.node_by_name("soft").unwrap().inputs.len(), 1);
    }
}
