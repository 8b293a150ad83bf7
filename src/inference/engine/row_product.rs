//! The graph's per-row products (one row of the batch times a constant matrix) as one tract op
//! whose bits do not depend on the batch size.
//!
//! tract picks a matrix kernel by shape: the summary path's first product (`[B, 8] x [8, 32]`)
//! ran on a matrix-vector kernel at one row and on `fma_mmm_f32_40x2` at eight, and the two
//! round differently, so a row's forecast through a batched plan differed from the same row
//! alone in the last bit of about half of its quantiles (`examples/batch_bits`; every node of
//! the transformer, whose products have a row per token, agreed bit for bit). [`RowProduct`]
//! computes each row on its own, in one fixed order (over the contracted axis, then across the
//! outputs), so a row gets the same bits in a plan of any batch size, and batched plans can serve
//! the exact row mode. These products are small (the head and the summary path, about 25,000
//! multiply-adds a row), so a plain loop the compiler vectorises costs little.

use super::einsum_swap::{as_matrix, swap_einsums};
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::einsum::EinSum;

/// `y[b, .., n] = sum_k x[b, k] * w[k, n]`: `x` is `[B, ...]`, its axes after the batch
/// flattened to `k`; the output is `[B, 1.., N]` (`shape_after_batch`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct RowProduct {
    /// The constant `[K, N]`, row-major.
    weight: Arc<Tensor>,
    /// The output's dimensions after the batch: ones, then `N`.
    shape_after_batch: TVec<usize>,
}

impl RowProduct {
    fn k(&self) -> usize {
        self.weight.shape()[0]
    }

    fn n(&self) -> usize {
        self.weight.shape()[1]
    }
}

/// Each row of `x` (`rows` rows of `k`) times `w` (`[k, n]`) added into `out` (`rows` rows of
/// `n`, zeros on entry).
fn multiply_rows(x: &[f32], w: &[f32], k: usize, n: usize, out: &mut [f32]) {
    for (row, y) in x.chunks_exact(k).zip(out.chunks_exact_mut(n)) {
        for (&xk, wk) in row.iter().zip(w.chunks_exact(n)) {
            for (yn, &wkn) in y.iter_mut().zip(wk) {
                *yn += xk * wkn;
            }
        }
    }
}

impl Op for RowProduct {
    fn name(&self) -> StaticName {
        "RowProduct".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!("k: {} n: {}", self.k(), self.n())])
    }

    op_as_typed_op!();
}

impl EvalOp for RowProduct {
    op_out_of_plan!();

    fn eval(&self, _: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = args_1!(inputs);
        let (k, n) = (self.k(), self.n());
        let rows = x.shape().first().copied().unwrap_or(0);
        ensure!(
            x.datum_type() == f32::datum_type() && x.len() == rows * k,
            "RowProduct: input {:?} {:?} is not {rows} rows of {k} f32",
            x.datum_type(),
            x.shape()
        );
        let x = x.to_plain_array_view::<f32>()?;
        let x = x
            .as_slice()
            .ok_or_else(|| format_err!("RowProduct: input not contiguous"))?;
        let w = self.weight.try_as_plain_ram()?;
        let w = w.as_slice::<f32>()?;
        let shape: TVec<usize> = std::iter::once(rows)
            .chain(self.shape_after_batch.iter().copied())
            .collect();
        let mut out = Tensor::zero::<f32>(&shape)?;
        multiply_rows(
            x,
            w,
            k,
            n,
            out.try_as_plain_ram_mut()?.as_slice_mut::<f32>()?,
        );
        Ok(tvec![out.into_tvalue()])
    }
}

impl TypedOp for RowProduct {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let shape: TVec<TDim> = std::iter::once(inputs[0].shape[0].clone())
            .chain(self.shape_after_batch.iter().map(|&d| d.into()))
            .collect();
        Ok(tvec![f32::fact(shape)])
    }

    as_op!();
}

/// The [`RowProduct`] for `einsum` when it is a per-row product of its first input, whose axis 0
/// is `batch`, by a constant second input: every other axis of the first input is contracted
/// with the constant or has size 1, the constant has one axis of its own (`N`, the output's
/// last), and the output's axes between the batch and `N` have size 1.
fn as_row_product(
    einsum: &EinSum,
    x: &TypedFact,
    w: &TypedFact,
    out: &TypedFact,
    batch: &Symbol,
) -> Option<RowProduct> {
    if einsum.q_params.is_some()
        || einsum.operating_dt != f32::datum_type()
        || x.datum_type != f32::datum_type()
        || w.datum_type != f32::datum_type()
    {
        return None;
    }
    let weight = w.konst.as_ref()?;
    let (inputs, outputs) = einsum.axes.to_strs();
    let [sx, sw] = [inputs.first()?, inputs.get(1)?].map(|s| s.chars().collect::<Vec<_>>());
    if inputs.len() != 2 || outputs.len() != 1 {
        return None;
    }
    let so: Vec<char> = outputs[0].chars().collect();
    if x.shape.first()? != &TDim::Sym(batch.clone()) || so.first()? != &sx[0] || sw.contains(&sx[0])
    {
        return None;
    }
    // The constant's own axis: in the output, last.
    let own: Vec<char> = sw.iter().copied().filter(|c| !sx.contains(c)).collect();
    let [n_axis] = own[..] else { return None };
    if so.last()? != &n_axis {
        return None;
    }
    // Contracted: the input's axes that the constant has, in the input's order; the others
    // must be 1 (summed over one value, or kept as an axis of size 1).
    let mut contracted = Vec::new();
    for (i, c) in sx.iter().enumerate().skip(1) {
        if sw.contains(c) {
            if so.contains(c) {
                return None;
            }
            contracted.push(*c);
        } else if x.shape[i].to_usize().ok()? != 1 {
            return None;
        }
    }
    let middle = out.shape.iter().skip(1).take(so.len().saturating_sub(2));
    let shape_after_batch: TVec<usize> = middle
        .map(|d| d.to_usize().ok().filter(|&d| d == 1))
        .chain(std::iter::once(out.shape.last()?.to_usize().ok()))
        .collect::<Option<_>>()?;
    Some(RowProduct {
        weight: as_matrix(weight, &sw, &contracted, n_axis)?,
        shape_after_batch,
    })
}

/// Replaces every per-row product of a decluttered model (see [`as_row_product`]) by a
/// [`RowProduct`]; returns how many. `batch` is the symbol of the rows.
pub(crate) fn use_row_products(model: &mut TypedModel, batch: &Symbol) -> TractResult<usize> {
    swap_einsums(model, true, |einsum, x, w, out| {
        as_row_product(einsum, x, w, out, batch)
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_graphs::{
        Operand, assert_agrees, assert_rows_keep_their_bits, count, einsum_model, rows,
    };
    use super::*;

    /// The per-row products the forecaster has: replaced, and computing what tract's EinSum
    /// computes, to a few ulps, with the same output shape.
    #[test]
    fn per_row_products_are_replaced_and_agree_with_tract() {
        let cases: [(&str, &[usize], &[usize]); 4] = [
            ("ak,kn->an", &[8], &[8, 32]),
            ("mk,kn->mn", &[64], &[64, 5]),
            ("abk,bkn->amn", &[4, 16], &[4, 16, 64]),
            ("amk,kn->an", &[1, 64], &[64, 128]),
        ];
        for (expr, x_rest, w_shape) in cases {
            let (model, batch) =
                einsum_model(expr, &[Operand::Rows(x_rest), Operand::Const(w_shape)]);
            let mut swapped = model.clone();
            assert_eq!(use_row_products(&mut swapped, &batch).unwrap(), 1, "{expr}");
            assert_eq!(count::<RowProduct>(&swapped), 1);
            for n in [1usize, 3, 8] {
                assert_agrees(&model, &swapped, &batch, &[rows(n, x_rest, 3)], expr);
            }
        }
    }

    /// Products with a row per token, of two activations, or whose rows are not the batch's
    /// are left to tract.
    #[test]
    fn other_products_are_left_to_tract() {
        for (expr, x_rest, w_shape) in [
            ("amk,kn->amn", &[5usize, 8][..], &[8usize, 4][..]),
            ("amk,kn->an", &[3, 8], &[8, 4]),
            ("akm,kn->anm", &[8, 2], &[8, 4]),
        ] {
            let (mut model, batch) =
                einsum_model(expr, &[Operand::Rows(x_rest), Operand::Const(w_shape)]);
            assert_eq!(use_row_products(&mut model, &batch).unwrap(), 0, "{expr}");
        }
        let (mut model, batch) =
            einsum_model("ak,akn->an", &[Operand::Rows(&[8]), Operand::Rows(&[8, 4])]);
        assert_eq!(use_row_products(&mut model, &batch).unwrap(), 0);
    }

    /// A row's bits do not depend on how many rows are beside it.
    #[test]
    fn a_rows_bits_do_not_depend_on_the_batch() {
        let (mut model, batch) = einsum_model(
            "ak,kn->an",
            &[Operand::Rows(&[8]), Operand::Const(&[8, 32])],
        );
        use_row_products(&mut model, &batch).unwrap();
        assert_rows_keep_their_bits(&model, &batch, &[rows(64, &[8], 5)], &[0, 17, 63]);
    }
}
