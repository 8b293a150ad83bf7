//! Products by a constant that another product of the same input already computed, up to the
//! order and signs of its columns, taken from that product's output.
//!
//! The exporter folds the rotary embedding's rotate-half into the projections: a layer computes
//! `x Wq` and `x (Wq R)`, where `R` moves each half of a head's columns onto the other, one half
//! negated, and likewise for the keys. The second product's columns are the first's, reordered
//! and some negated, so it is three of the default forecaster's eleven token-level products
//! that need not run (tract's rotary-embedding detection looks for the rotate-half pattern the
//! exporter folded away, and onnxruntime runs the graph as it is). [`SignedColumns`] gathers
//! them from the first product's output instead. Each output element is an input element,
//! negated or not (exact): a [`DenseProduct`] adds up every element over the contracted axis in
//! the same order whatever its column, so the bits are those of the product it replaces.

use super::dense_product::DenseProduct;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;

/// `y[.., j] = x[.., source[j]]`, negated where `negate[j]`, kept as runs of consecutive columns
/// (a rotate-half is two runs a head) so that each run copies a slice.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct SignedColumns {
    /// The output's columns.
    n: usize,
    /// `(first source column, first output column, length, negated)`, in output order.
    runs: Vec<(usize, usize, usize, bool)>,
}

impl SignedColumns {
    fn new(source: &[usize], negate: &[bool]) -> Self {
        let mut runs: Vec<(usize, usize, usize, bool)> = Vec::new();
        for (j, (&s, &neg)) in source.iter().zip(negate).enumerate() {
            match runs.last_mut() {
                Some((from, _, len, n)) if *from + *len == s && *n == neg => *len += 1,
                _ => runs.push((s, j, 1, neg)),
            }
        }
        SignedColumns {
            n: source.len(),
            runs,
        }
    }
}

impl Op for SignedColumns {
    fn name(&self) -> StaticName {
        "SignedColumns".into()
    }

    op_as_typed_op!();
}

impl EvalOp for SignedColumns {
    op_out_of_plan!();

    fn eval(&self, _: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = args_1!(inputs);
        let n = self.n;
        ensure!(
            x.datum_type() == f32::datum_type() && x.shape().last() == Some(&n),
            "SignedColumns: input {:?} {:?} does not end in {n} f32",
            x.datum_type(),
            x.shape()
        );
        let view = x.to_plain_array_view::<f32>()?;
        let input = view
            .as_slice()
            .ok_or_else(|| format_err!("SignedColumns: input not contiguous"))?;
        // SAFETY: every element is written below before anything reads it.
        let mut out = unsafe { Tensor::uninitialized::<f32>(x.shape())? };
        let mut ram = out.try_as_plain_ram_mut()?;
        let output = ram.as_slice_mut::<f32>()?;
        for (y, x) in output.chunks_exact_mut(n).zip(input.chunks_exact(n)) {
            for &(from, to, len, negate) in &self.runs {
                let (y, x) = (&mut y[to..to + len], &x[from..from + len]);
                if negate {
                    y.iter_mut().zip(x).for_each(|(y, x)| *y = -x);
                } else {
                    y.copy_from_slice(x);
                }
            }
        }
        Ok(tvec![out.into_tvalue()])
    }
}

impl TypedOp for SignedColumns {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec![inputs[0].without_value()])
    }

    as_op!();
}

/// `columns`' source in `of` for `target`'s columns, each `[K, N]` row-major: for every column
/// of `target`, a column of `of` equal to it bit for bit or negated (a column of zeros matches
/// only itself unnegated, so that no `-0.0` appears where the product had `0.0`).
fn signed_columns(of: &Tensor, target: &Tensor) -> Option<SignedColumns> {
    let (k, n) = (of.shape()[0], of.shape()[1]);
    if target.shape() != of.shape() {
        return None;
    }
    let of = of.try_as_plain_ram().ok()?;
    let of = of.as_slice::<f32>().ok()?;
    let target = target.try_as_plain_ram().ok()?;
    let target = target.as_slice::<f32>().ok()?;
    let columns = |m: &[f32], sign: f32| -> Vec<Vec<u32>> {
        (0..n)
            .map(|j| (0..k).map(|i| (sign * m[i * n + j]).to_bits()).collect())
            .collect()
    };
    let (plain, negated, wanted) = (columns(of, 1.0), columns(of, -1.0), columns(target, 1.0));
    let zero = |column: &[u32]| column.iter().all(|b| b << 1 == 0);
    let (mut source, mut negate) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for column in &wanted {
        let found = (0..n).find_map(|s| {
            if *column == plain[s] {
                Some((s, false))
            } else if *column == negated[s] && !zero(&plain[s]) {
                Some((s, true))
            } else {
                None
            }
        })?;
        source.push(found.0);
        negate.push(found.1);
    }
    Some(SignedColumns::new(&source, &negate))
}

/// Replaces every [`DenseProduct`] whose columns another `DenseProduct` of the same input
/// computes (see [`signed_columns`]) by a [`SignedColumns`] of that product's output; returns
/// how many.
pub(crate) fn use_signed_columns(model: &mut TypedModel) -> TractResult<usize> {
    let products: Vec<(usize, OutletId, &DenseProduct)> = model
        .nodes
        .iter()
        .filter_map(|n| Some((n.id, *n.inputs.first()?, n.op_as::<DenseProduct>()?)))
        .collect();
    let mut found = Vec::new();
    for (i, &(id, input, product)) in products.iter().enumerate() {
        let earlier = products[..i].iter().filter(|(source, from, other)| {
            *from == input
                && other.contracted() == product.contracted()
                && !found.iter().any(|(replaced, _, _)| replaced == source)
        });
        for &(source, _, other) in earlier {
            if let Some(op) = signed_columns(other.weight(), product.weight()) {
                found.push((id, source, op));
                break;
            }
        }
    }
    let replaced = found.len();
    for (id, source, op) in found {
        let node = &model.nodes[id];
        TypedModelPatch::replace_single_op(model, node, &[OutletId::new(source, 0)], op)?
            .apply(model)?;
    }
    Ok(replaced)
}

#[cfg(test)]
mod tests {
    use super::super::dense_product::use_dense_products;
    use super::super::test_graphs::{bits, count, rows, run_all, values};
    use super::*;
    use tract_onnx::tract_core::ops::einsum::EinSum;

    /// `w` (`[k, n]`) with each head's (`head` columns) halves rotated, the first negated: the
    /// weight the exporter folds rotate-half into.
    fn rotated(w: &[f32], k: usize, n: usize, head: usize) -> Vec<f32> {
        let half = head / 2;
        let mut r = vec![0.0; w.len()];
        for i in 0..k {
            for j in 0..n {
                let (h, c) = (j / head * head, j % head);
                r[i * n + j] = if c < half {
                    -w[i * n + h + c + half]
                } else {
                    w[i * n + h + c - half]
                };
            }
        }
        r
    }

    /// A model with two sources `[B, 5, k]` and a product of `x` by each constant (`[k, n]`),
    /// the constants' products of the first source unless `second_source`.
    fn two_products(k: usize, n: usize, w: &[f32], v: &[f32], second_source: bool) -> TypedModel {
        let mut model = TypedModel::default();
        let b = model.symbols.sym("B");
        let fact = f32::fact([TDim::Sym(b), 5.into(), k.into()]);
        let x = model.add_source("x", fact.clone()).unwrap();
        let z = model.add_source("z", fact).unwrap();
        let mut outputs = Vec::new();
        for (name, weight, input) in [("p", w, x), ("q", v, if second_source { z } else { x })] {
            let c = Tensor::from_shape(&[k, n], weight).unwrap();
            let c = model.add_const(format!("{name}.w"), c).unwrap();
            let op = EinSum::new("ask,kn->asn".parse().unwrap(), f32::datum_type());
            outputs.extend(model.wire_node(name, op, &[input, c]).unwrap());
        }
        model.select_output_outlets(&outputs).unwrap();
        model
    }

    /// The rotated product is taken from the other's output, with exactly its bits.
    #[test]
    fn a_rotated_product_is_gathered_with_its_bits() {
        let (k, n) = (24, 32);
        let w = values(k * n, 2);
        let mut model = two_products(k, n, &w, &rotated(&w, k, n, 8), false);
        assert_eq!(use_dense_products(&mut model).unwrap(), 2);
        let products = model.clone();
        assert_eq!(use_signed_columns(&mut model).unwrap(), 1);
        let model = model.into_decluttered().unwrap();
        assert_eq!(
            (
                count::<DenseProduct>(&model),
                count::<SignedColumns>(&model)
            ),
            (1, 1)
        );
        let b = model.symbols.sym("B");
        let inputs = [rows(3, &[5, k], 7), rows(3, &[5, k], 8)];
        let (theirs, ours) = (
            run_all(&products, &b, &inputs),
            run_all(&model, &b, &inputs),
        );
        assert_eq!(theirs.len(), 2);
        for (t, o) in theirs.iter().zip(&ours) {
            assert_eq!(bits(t), bits(o));
        }
    }

    /// A constant one ulp away from a rotation, a product of another input, or a rotation of a
    /// column of zeros (whose negation would be `-0.0`) keep their own products.
    #[test]
    fn near_misses_keep_their_products() {
        let (k, n) = (4, 8);
        let w = values(k * n, 2);
        let mut off = rotated(&w, k, n, 4);
        off[5] = f32::from_bits(off[5].to_bits() + 1);
        let mut zero = w.clone();
        (0..k).for_each(|i| zero[i * n + 2] = 0.0);
        let cases = [
            two_products(k, n, &w, &off, false),
            two_products(k, n, &w, &rotated(&w, k, n, 4), true),
            two_products(k, n, &zero, &rotated(&zero, k, n, 4), false),
        ];
        for (i, mut model) in cases.into_iter().enumerate() {
            assert_eq!(use_dense_products(&mut model).unwrap(), 2);
            assert_eq!(use_signed_columns(&mut model).unwrap(), 0, "case {i}");
        }
    }
}
