//! The graph's products of two activations (attention's scores, queries times keys, and its
//! mixing, weights times values) as one tract op that runs the `gemm` crate on each matrix of the
//! batch in place.
//!
//! tract lowers these to its matrix kernels with both operands packed afresh at each call and, for
//! the mixing product, the values' axes moved first; at eight rows of 30 points the two products
//! and their packing were about a fifth of the forecast (`examples/profile_graph`). `gemm` reads
//! each `[S, d]` slice of the `[B, S, H, d]` activations through its strides, so nothing is moved
//! or packed by the graph.
//!
//! Each output element is added up over the contracted axis in order, and each matrix of the
//! batch (one row's head) is computed on its own, so a row's bits do not depend on the rows
//! beside it.

use super::einsum_swap::swap_einsums;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::einsum::EinSum;

/// Where an axis of the product sits in the first input, the second input and the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Place {
    x: Option<usize>,
    y: Option<usize>,
    out: Option<usize>,
}

/// A batch of matrix products `out[.., m, n] = sum_k x[.., m, k] * y[.., k, n]`, each axis of
/// each tensor wherever the einsum put it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ActivationProduct {
    /// Axes all three tensors have: one matrix product per index.
    batch: TVec<Place>,
    /// The first input's and the output's own axis (absent: size 1).
    m: Option<Place>,
    /// The second input's and the output's own axis (absent: size 1).
    n: Option<Place>,
    /// The contracted axis.
    k: Place,
    /// The output's rank.
    rank: usize,
}

/// Row-major strides of `shape`.
fn strides(shape: &[usize]) -> TVec<isize> {
    let mut strides: TVec<isize> = tvec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        strides[i] = strides[i + 1] * shape[i + 1] as isize;
    }
    strides
}

/// Moves `index` to the next index of a tensor of shape `sizes`, the last axis fastest; false
/// after the last one.
fn next_index(index: &mut [usize], sizes: &[usize]) -> bool {
    for axis in (0..sizes.len()).rev() {
        index[axis] += 1;
        if index[axis] < sizes[axis] {
            return true;
        }
        index[axis] = 0;
    }
    false
}

impl ActivationProduct {
    /// The output's shape for inputs of shapes `x` and `y`: each output axis takes its size from
    /// the input that has it (1 where neither does).
    fn output_shape<D: Clone + From<usize>>(&self, x: &[D], y: &[D]) -> TVec<D> {
        let mut shape: TVec<D> = tvec![1.into(); self.rank];
        for p in self.batch.iter().chain(self.m.iter()).chain(self.n.iter()) {
            if let Some(o) = p.out {
                shape[o] = match (p.x, p.y) {
                    (Some(i), _) => x[i].clone(),
                    (None, Some(i)) => y[i].clone(),
                    (None, None) => 1.into(),
                };
            }
        }
        shape
    }
}

impl Op for ActivationProduct {
    fn name(&self) -> StaticName {
        "ActivationProduct".into()
    }

    op_as_typed_op!();
}

impl EvalOp for ActivationProduct {
    op_out_of_plan!();

    fn eval(&self, _: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let (x, y) = args_2!(inputs);
        ensure!(
            x.datum_type() == f32::datum_type() && y.datum_type() == f32::datum_type(),
            "ActivationProduct: inputs {:?} and {:?}, not f32",
            x.datum_type(),
            y.datum_type()
        );
        let (xs, ys) = (x.shape(), y.shape());
        let dim = |shape: &[usize], axis: Option<usize>| axis.map_or(1, |a| shape[a]);
        for p in &self.batch {
            ensure!(
                dim(xs, p.x) == dim(ys, p.y),
                "ActivationProduct: batch axes differ ({xs:?} and {ys:?})"
            );
        }
        let k = dim(xs, self.k.x);
        ensure!(
            k == dim(ys, self.k.y),
            "ActivationProduct: contracted axes differ ({xs:?} and {ys:?})"
        );
        let m = self.m.map_or(1, |p| dim(xs, p.x));
        let n = self.n.map_or(1, |p| dim(ys, p.y));
        let shape = self.output_shape(xs, ys);
        let (sx, sy, so) = (strides(xs), strides(ys), strides(&shape));
        let stride = |s: &[isize], axis: Option<usize>| axis.map_or(0, |a| s[a]);
        let x = x.to_plain_array_view::<f32>()?;
        let x = x
            .as_slice()
            .ok_or_else(|| format_err!("ActivationProduct: input not contiguous"))?;
        let y = y.to_plain_array_view::<f32>()?;
        let y = y
            .as_slice()
            .ok_or_else(|| format_err!("ActivationProduct: input not contiguous"))?;
        // SAFETY: every element of the output is written below before anything reads it: the
        // batch indices, m and n together cover the output's axes (the others have size 1).
        let mut out = unsafe { Tensor::uninitialized::<f32>(&shape)? };
        let mut ram = out.try_as_plain_ram_mut()?;
        let o = ram.as_slice_mut::<f32>()?;
        if o.is_empty() || k == 0 {
            // Nothing to compute, or sums of nothing, which gemm need not write.
            o.fill(0.0);
            return Ok(tvec![out.into_tvalue()]);
        }
        let sizes: TVec<usize> = self.batch.iter().map(|p| dim(xs, p.x)).collect();
        let mut index: TVec<usize> = tvec![0; sizes.len()];
        loop {
            let offset = |s: &[isize], of: fn(&Place) -> Option<usize>| -> isize {
                self.batch
                    .iter()
                    .zip(&index)
                    .map(|(p, &i)| i as isize * stride(s, of(p)))
                    .sum()
            };
            let (ox, oy, oo) = (
                offset(&sx, |p| p.x),
                offset(&sy, |p| p.y),
                offset(&so, |p| p.out),
            );
            let m_of = |s: &[isize], of: fn(&Place) -> Option<usize>| {
                stride(s, self.m.and_then(|p| of(&p)))
            };
            let n_of = |s: &[isize], of: fn(&Place) -> Option<usize>| {
                stride(s, self.n.and_then(|p| of(&p)))
            };
            // SAFETY: the offsets and strides are those of row-major tensors of the shapes
            // checked above, so every element gemm reads or writes is inside `x`, `y` or `o`
            // (for each index of the batch axes: rows m, columns n, k contracted); `o` does not
            // alias the inputs and is not read (`read_dst = false`).
            unsafe {
                gemm::gemm(
                    m,
                    n,
                    k,
                    o.as_mut_ptr().offset(oo),
                    n_of(&so, |p| p.out),
                    m_of(&so, |p| p.out),
                    false,
                    x.as_ptr().offset(ox),
                    stride(&sx, self.k.x),
                    m_of(&sx, |p| p.x),
                    y.as_ptr().offset(oy),
                    n_of(&sy, |p| p.y),
                    stride(&sy, self.k.y),
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                );
            }
            if !next_index(&mut index, &sizes) {
                break;
            }
        }
        Ok(tvec![out.into_tvalue()])
    }
}

impl TypedOp for ActivationProduct {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let (x, y) = (inputs[0].shape.to_tvec(), inputs[1].shape.to_tvec());
        Ok(tvec![f32::fact(self.output_shape(&x, &y))])
    }

    as_op!();
}

/// The [`ActivationProduct`] for `einsum` when both its inputs are f32 activations and, axes of
/// size 1 aside, it is a batch of matrix products: every axis is in all three tensors (a batch
/// axis), or in one input and the output (at most one such axis per input), or in both inputs
/// and not the output (exactly one: the contracted axis).
fn as_activation_product(
    einsum: &EinSum,
    x: &TypedFact,
    y: &TypedFact,
    out: &TypedFact,
) -> Option<ActivationProduct> {
    if einsum.q_params.is_some()
        || einsum.operating_dt != f32::datum_type()
        || [x, y, out]
            .iter()
            .any(|f| f.datum_type != f32::datum_type())
        || x.konst.is_some()
        || y.konst.is_some()
        || einsum.axes.input_count() != 2
        || einsum.axes.output_count() != 1
    {
        return None;
    }
    let one = |fact: &TypedFact, at: Option<usize>| at.is_some_and(|a| fact.shape[a].is_one());
    let (mut batch, mut m, mut n, mut k) = (TVec::new(), None, None, None);
    for axis in einsum.axes.iter_all_axes() {
        let single = |at: &TVec<usize>| match at[..] {
            [] => Some(None),
            [a] => Some(Some(a)),
            _ => None,
        };
        let place = Place {
            x: single(&axis.inputs[0])?,
            y: single(&axis.inputs[1])?,
            out: single(&axis.outputs[0])?,
        };
        match (place.x, place.y, place.out) {
            (Some(_), Some(_), Some(_)) => batch.push(place),
            (Some(_), None, Some(_)) if m.is_none() => m = Some(place),
            (None, Some(_), Some(_)) if n.is_none() => n = Some(place),
            (Some(_), Some(_), None) if k.is_none() => k = Some(place),
            // Size 1 in the only tensor that has it: summed over or broadcast from one value.
            (Some(_), None, None) if one(x, place.x) => {}
            (None, Some(_), None) if one(y, place.y) => {}
            (None, None, Some(_)) if one(out, place.out) => {}
            _ => return None,
        }
    }
    Some(ActivationProduct {
        batch,
        m,
        n,
        k: k?,
        rank: out.rank(),
    })
}

/// Replaces every product of two activations of a decluttered model that is a batch of matrix
/// products (see [`as_activation_product`]) by an [`ActivationProduct`]; returns how many.
pub(crate) fn use_activation_products(model: &mut TypedModel) -> TractResult<usize> {
    swap_einsums(model, false, as_activation_product)
}

#[cfg(test)]
mod tests {
    use super::super::test_graphs::{
        Operand, assert_agrees, assert_rows_keep_their_bits, count, einsum_model, rows,
    };
    use super::*;

    /// The forecaster's attention products (scores, mixing, and the last layer's with one
    /// query: an output axis or an input axis of size 1), a plain batched product and an empty
    /// contraction: replaced, and computing what tract's EinSum computes, to a few ulps, with
    /// the same shape.
    #[test]
    fn attention_products_are_replaced_and_agree_with_tract() {
        let cases: [(&str, &[usize], &[usize]); 6] = [
            ("ambk,anbk->abmn", &[7, 4, 16], &[7, 4, 16]),
            ("amk,akn->amn", &[3, 0], &[0, 2]),
            ("abmk,akbn->ambn", &[4, 7, 7], &[7, 4, 16]),
            ("abk,anbk->abmn", &[4, 16], &[7, 4, 16]),
            ("abmk,akbn->abn", &[4, 1, 7], &[7, 4, 16]),
            ("amk,akn->amn", &[3, 5], &[5, 2]),
        ];
        for (expr, x_rest, y_rest) in cases {
            let (model, batch) =
                einsum_model(expr, &[Operand::Rows(x_rest), Operand::Rows(y_rest)]);
            let mut swapped = model.clone();
            assert_eq!(use_activation_products(&mut swapped).unwrap(), 1, "{expr}");
            assert_eq!(count::<ActivationProduct>(&swapped), 1);
            for n in [1usize, 3] {
                let xy = [rows(n, x_rest, 3), rows(n, y_rest, 4)];
                assert_agrees(&model, &swapped, &batch, &xy, expr);
            }
        }
    }

    /// Products by a constant, with two contracted axes, summing over an axis of one input, or
    /// with two axes of one input's own are left to tract.
    #[test]
    fn other_products_are_left_to_tract() {
        for (expr, x_rest, y_rest) in [
            ("akl,akl->a", &[3usize, 4][..], &[3usize, 4][..]),
            ("amkj,ak->am", &[2, 3, 4], &[3]),
            ("amjk,akn->amjn", &[2, 3, 4], &[4, 5]),
        ] {
            let (mut model, _) =
                einsum_model(expr, &[Operand::Rows(x_rest), Operand::Rows(y_rest)]);
            assert_eq!(use_activation_products(&mut model).unwrap(), 0, "{expr}");
        }
        let (mut model, _) = einsum_model(
            "amk,kn->amn",
            &[Operand::Rows(&[5, 8]), Operand::Const(&[8, 4])],
        );
        assert_eq!(use_activation_products(&mut model).unwrap(), 0);
    }

    /// A row's bits do not depend on how many rows are beside it.
    #[test]
    fn a_rows_bits_do_not_depend_on_the_batch() {
        let (x_rest, y_rest) = (&[32usize, 4, 16][..], &[32usize, 4, 16][..]);
        let (mut model, batch) = einsum_model(
            "ambk,anbk->abmn",
            &[Operand::Rows(x_rest), Operand::Rows(y_rest)],
        );
        use_activation_products(&mut model).unwrap();
        let xy = [rows(8, x_rest, 5), rows(8, y_rest, 6)];
        assert_rows_keep_their_bits(&model, &batch, &xy, &[0, 5, 7]);
    }
}
