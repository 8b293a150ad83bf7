//! The graph's token-level products (every token's activations times a constant matrix: the
//! attention's projections, the feed-forward layers) as one tract op that runs the `gemm` crate.
//!
//! These products are most of a forecast's arithmetic (about 90 % of its multiply-adds on the
//! default model). tract packs the activations into panels before each one and then runs its
//! kernel tile by tile; on the development machine (AMD Zen 4) a `[256, 64] x [64, 64]` product
//! took about 33 us that way plus 8 us of packing, where `gemm` takes 19.5 us, close to the
//! core's peak (the measurements are in `benches/README.md`). onnxruntime's MLAS runs them at
//! the same speed as `gemm`.
//!
//! `gemm` adds up each output element over the contracted axis in order, whatever the number of
//! rows, so a row's bits do not depend on the rows beside it (the tests check it), as the exact
//! row mode needs.
//!
//! Only constants of at most [`MAX_WEIGHT`] values are taken: `gemm` lays the constant out for its
//! kernel again at each call, where tract packs it once per plan, and on the reference-size
//! forecaster (`512 x 512` and `512 x 2048` weights, 66 tokens) the swap made a forecast slower
//! in each of five interleaved pairs of runs (by 1 to 18 %).

use super::einsum_swap::{as_matrix, swap_einsums};
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::einsum::EinSum;

/// The largest constant, in values, whose products run as a [`DenseProduct`] (the default model's
/// largest is `64 x 128`).
pub(crate) const MAX_WEIGHT: usize = 256 * 256;

/// `y[.., n] = sum_k x[.., k] * w[k, n]`: the input's last `contracted` axes (flattened to `k`)
/// contracted with a constant, every other axis kept as rows.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct DenseProduct {
    /// The constant `[K, N]`, row-major.
    weight: Arc<Tensor>,
    /// How many trailing axes of the input make up `K`.
    contracted: usize,
}

impl DenseProduct {
    /// The constant, `[K, N]` row-major.
    pub(super) fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// How many trailing axes of the input make up `K`.
    pub(super) fn contracted(&self) -> usize {
        self.contracted
    }

    fn k(&self) -> usize {
        self.weight.shape()[0]
    }

    fn n(&self) -> usize {
        self.weight.shape()[1]
    }
}

/// `out = x w` for row-major `x` (`rows` rows of `k`), `w` (`k` rows of `n`) and `out` (`rows`
/// rows of `n`).
fn multiply(x: &[f32], w: &[f32], rows: usize, k: usize, n: usize, out: &mut [f32]) {
    assert!(x.len() == rows * k && w.len() == k * n && out.len() == rows * n);
    if k == 0 {
        // Sums of nothing; gemm need not write them.
        out.fill(0.0);
        return;
    }
    if rows == 0 || n == 0 {
        return;
    }
    // SAFETY: the three slices hold exactly the row-major matrices described by the dimensions
    // and strides given (checked above); `out` does not alias the inputs (it is borrowed
    // mutably), and `read_dst = false` means its previous contents are never read.
    unsafe {
        gemm::gemm(
            rows,
            n,
            k,
            out.as_mut_ptr(),
            1,
            n as isize,
            false,
            x.as_ptr(),
            1,
            k as isize,
            w.as_ptr(),
            1,
            n as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

impl Op for DenseProduct {
    fn name(&self) -> StaticName {
        "DenseProduct".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "k: {} (the last {} axes) n: {}",
            self.k(),
            self.contracted,
            self.n()
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for DenseProduct {
    op_out_of_plan!();

    fn eval(&self, _: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = args_1!(inputs);
        let (k, n) = (self.k(), self.n());
        let kept = x.rank().saturating_sub(self.contracted);
        ensure!(
            x.datum_type() == f32::datum_type()
                && x.rank() >= self.contracted
                && x.shape()[kept..].iter().product::<usize>() == k,
            "DenseProduct: input {:?} {:?} does not end in {k} f32 over {} axes",
            x.datum_type(),
            x.shape(),
            self.contracted
        );
        let rows = x.shape()[..kept].iter().product();
        let shape: TVec<usize> = x.shape()[..kept]
            .iter()
            .copied()
            .chain(std::iter::once(n))
            .collect();
        let x = x.to_plain_array_view::<f32>()?;
        let x = x
            .as_slice()
            .ok_or_else(|| format_err!("DenseProduct: input not contiguous"))?;
        let w = self.weight.try_as_plain_ram()?;
        // SAFETY: `multiply` writes every element of the output before anything reads it.
        let mut out = unsafe { Tensor::uninitialized::<f32>(&shape)? };
        multiply(
            x,
            w.as_slice::<f32>()?,
            rows,
            k,
            n,
            out.try_as_plain_ram_mut()?.as_slice_mut::<f32>()?,
        );
        Ok(tvec![out.into_tvalue()])
    }
}

impl TypedOp for DenseProduct {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let kept = inputs[0].rank().saturating_sub(self.contracted);
        let shape: TVec<TDim> = inputs[0].shape[..kept]
            .iter()
            .cloned()
            .chain(std::iter::once(self.n().into()))
            .collect();
        Ok(tvec![f32::fact(shape)])
    }

    as_op!();
}

/// The [`DenseProduct`] for `einsum` when it contracts the trailing axes of its first input, and
/// only those, with a constant that has one axis of its own (`N`), and its output is the first
/// input's other axes, in order, then `N`: a `[.., K] x [K, N]` product once the trailing axes
/// are flattened (attention's head merge contracts two).
fn as_dense_product(
    einsum: &EinSum,
    x: &TypedFact,
    w: &TypedFact,
    out: &TypedFact,
) -> Option<DenseProduct> {
    if einsum.q_params.is_some()
        || einsum.operating_dt != f32::datum_type()
        || x.datum_type != f32::datum_type()
        || w.datum_type != f32::datum_type()
        || out.datum_type != f32::datum_type()
    {
        return None;
    }
    let weight = w.konst.as_ref()?;
    if weight.len() > MAX_WEIGHT {
        return None;
    }
    let (inputs, outputs) = einsum.axes.to_strs();
    if inputs.len() != 2 || outputs.len() != 1 {
        return None;
    }
    let sx: Vec<char> = inputs[0].chars().collect();
    let sw: Vec<char> = inputs[1].chars().collect();
    let so: Vec<char> = outputs[0].chars().collect();
    if sx.len() != x.rank() || sw.len() != weight.rank() || sw.len() < 2 {
        return None;
    }
    // The constant's own axis, and the input's axes it contracts: the trailing ones.
    let own: Vec<char> = sw.iter().copied().filter(|c| !sx.contains(c)).collect();
    let [n_axis] = own[..] else { return None };
    let kept = sx.len().checked_sub(sw.len() - 1)?;
    let (rows, contracted) = sx.split_at(kept);
    if contracted.iter().any(|c| !sw.contains(c) || so.contains(c))
        || rows.iter().any(|c| sw.contains(c))
        || so.len() != rows.len() + 1
        || so[..rows.len()] != *rows
        || so.last() != Some(&n_axis)
    {
        return None;
    }
    Some(DenseProduct {
        weight: as_matrix(weight, &sw, contracted, n_axis)?,
        contracted: contracted.len(),
    })
}

/// Replaces every token-level product of a decluttered model (see [`as_dense_product`]) by a
/// [`DenseProduct`]; returns how many.
pub(crate) fn use_dense_products(model: &mut TypedModel) -> TractResult<usize> {
    swap_einsums(model, true, as_dense_product)
}

#[cfg(test)]
mod tests {
    use super::super::test_graphs::{
        Operand, assert_agrees, assert_rows_keep_their_bits, count, einsum_model, rows,
    };
    use super::*;

    /// The forecaster's token-level products (projections, the feed-forward layers, attention's
    /// head merge over two axes), with the constant either way round, and an empty contraction:
    /// replaced, and computing what tract's EinSum computes, to a few ulps, with the same shape.
    #[test]
    fn token_products_are_replaced_and_agree_with_tract() {
        let cases: [(&str, &[usize], &[usize]); 6] = [
            ("ask,kn->asn", &[5, 64], &[64, 32]),
            ("ask,kn->asn", &[3, 0], &[0, 4]),
            ("ask,nk->asn", &[5, 16], &[24, 16]),
            ("ashd,hdn->asn", &[7, 4, 16], &[4, 16, 64]),
            ("ashd,nhd->asn", &[3, 2, 8], &[5, 2, 8]),
            ("ak,kn->an", &[130], &[130, 3]),
        ];
        for (expr, x_rest, w_shape) in cases {
            let (model, batch) =
                einsum_model(expr, &[Operand::Rows(x_rest), Operand::Const(w_shape)]);
            let mut swapped = model.clone();
            assert_eq!(use_dense_products(&mut swapped).unwrap(), 1, "{expr}");
            assert_eq!(count::<DenseProduct>(&swapped), 1);
            for n in [1usize, 2, 9] {
                assert_agrees(&model, &swapped, &batch, &[rows(n, x_rest, 3)], expr);
            }
        }
    }

    /// An empty contraction writes zeros over whatever the output held (`gemm` writes nothing).
    #[test]
    fn an_empty_contraction_writes_zeros() {
        let mut out = vec![f32::NAN; 3 * 4];
        multiply(&[], &[], 3, 0, 4, &mut out);
        assert!(out.iter().all(|&v| v == 0.0), "{out:?}");
    }

    /// Products that contract other axes than the input's trailing ones, that reorder the
    /// output's axes, whose constant has more than one axis of its own or more than
    /// `MAX_WEIGHT` values, or of two activations, are left to tract.
    #[test]
    fn other_products_are_left_to_tract() {
        for (expr, x_rest, w_shape) in [
            ("aks,kn->asn", &[8usize, 5][..], &[8usize, 4][..]),
            ("ask,kn->ans", &[5, 8], &[8, 4]),
            ("ask,knm->asnm", &[5, 8], &[8, 4, 2]),
            ("ask,sn->akn", &[5, 8], &[5, 4]),
            ("ask,kn->asn", &[2, 512], &[512, MAX_WEIGHT / 512 + 1]),
        ] {
            let (mut model, _) =
                einsum_model(expr, &[Operand::Rows(x_rest), Operand::Const(w_shape)]);
            assert_eq!(use_dense_products(&mut model).unwrap(), 0, "{expr}");
        }
        let (mut model, _) = einsum_model(
            "ask,akn->asn",
            &[Operand::Rows(&[5, 8]), Operand::Rows(&[8, 4])],
        );
        assert_eq!(use_dense_products(&mut model).unwrap(), 0);
    }

    /// A row's bits do not depend on how many rows are beside it, nor on the contracted
    /// length's tail (130 is not a multiple of any vector width).
    #[test]
    fn a_rows_bits_do_not_depend_on_the_batch() {
        for (x_rest, w_shape) in [
            (&[32usize, 64][..], &[64usize, 64][..]),
            (&[3, 130], &[130, 40]),
        ] {
            let (mut model, batch) = einsum_model(
                "ask,kn->asn",
                &[Operand::Rows(x_rest), Operand::Const(w_shape)],
            );
            use_dense_products(&mut model).unwrap();
            assert_rows_keep_their_bits(&model, &batch, &[rows(16, x_rest, 5)], &[0, 7, 15]);
        }
    }
}
