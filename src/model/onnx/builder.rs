//! A thin builder over `tract_onnx::pb`: enough ONNX to write our two graphs readably.

use tract_onnx::pb::{
    self, AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    TypeProto, ValueInfoProto,
    attribute_proto::AttributeType,
    tensor_proto::DataType,
    tensor_shape_proto::{Dimension, dimension::Value as DimValue},
    type_proto::{Tensor as TensorType, Value as TypeValue},
};

/// Opset 17: LayerNormalization exists and ReduceMean still takes `axes` as an attribute.
pub const OPSET: i64 = 17;

/// A dimension of a graph input or output: fixed, or a named symbol such as the batch.
pub enum Dim {
    Fixed(usize),
    Symbol(&'static str),
}

#[derive(Default)]
pub struct GraphBuilder {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    inputs: Vec<ValueInfoProto>,
    outputs: Vec<ValueInfoProto>,
    counter: usize,
}

pub fn attr_int(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Int as i32,
        i: v,
        ..Default::default()
    }
}

pub fn attr_ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Ints as i32,
        ints: v.to_vec(),
        ..Default::default()
    }
}

pub fn attr_float(name: &str, v: f32) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Float as i32,
        f: v,
        ..Default::default()
    }
}

fn value_info(name: &str, dims: &[Dim]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| Dimension {
            denotation: String::new(),
            value: Some(match d {
                Dim::Fixed(n) => DimValue::DimValue(*n as i64),
                Dim::Symbol(s) => DimValue::DimParam((*s).into()),
            }),
        })
        .collect();
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            denotation: String::new(),
            value: Some(TypeValue::TensorType(TensorType {
                elem_type: DataType::Float as i32,
                shape: Some(pb::TensorShapeProto { dim }),
            })),
        }),
        doc_string: String::new(),
    }
}

impl GraphBuilder {
    pub fn input(&mut self, name: &str, dims: &[Dim]) -> String {
        self.inputs.push(value_info(name, dims));
        name.into()
    }

    pub fn output(&mut self, name: &str, dims: &[Dim]) {
        self.outputs.push(value_info(name, dims));
    }

    /// An f32 initializer; `name` is kept so weights can be read back by name.
    pub fn init(&mut self, name: &str, shape: &[usize], data: &[f32]) -> String {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len(), "{name}");
        self.initializers.push(TensorProto {
            name: name.into(),
            dims: shape.iter().map(|&d| d as i64).collect(),
            data_type: DataType::Float as i32,
            raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        });
        name.into()
    }

    /// An i64 constant (shapes, axes, indices); a fresh name.
    pub fn ints(&mut self, shape: &[usize], data: &[i64]) -> String {
        let name = self.fresh("const");
        self.initializers.push(TensorProto {
            name: name.clone(),
            dims: shape.iter().map(|&d| d as i64).collect(),
            data_type: DataType::Int64 as i32,
            raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        });
        name
    }

    /// A scalar f32 constant with a fresh name.
    pub fn scalar(&mut self, v: f32) -> String {
        let name = self.fresh("scalar");
        self.init(&name, &[], &[v])
    }

    fn fresh(&mut self, what: &str) -> String {
        self.counter += 1;
        format!("{what}_{}", self.counter)
    }

    /// One node with one output, named after the op.
    pub fn node(&mut self, op: &str, inputs: &[&str], attrs: Vec<AttributeProto>) -> String {
        let out = self.fresh(&op.to_ascii_lowercase());
        self.node_named(op, inputs, attrs, &out);
        out
    }

    /// One node whose output gets a chosen name (graph outputs).
    pub fn node_named(&mut self, op: &str, inputs: &[&str], attrs: Vec<AttributeProto>, out: &str) {
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![out.to_string()],
            name: format!("n{}", self.nodes.len()),
            op_type: op.into(),
            attribute: attrs,
            ..Default::default()
        });
    }

    pub fn add(&mut self, a: &str, b: &str) -> String {
        self.node("Add", &[a, b], vec![])
    }
    pub fn sub(&mut self, a: &str, b: &str) -> String {
        self.node("Sub", &[a, b], vec![])
    }
    pub fn mul(&mut self, a: &str, b: &str) -> String {
        self.node("Mul", &[a, b], vec![])
    }
    pub fn matmul(&mut self, a: &str, b: &str) -> String {
        self.node("MatMul", &[a, b], vec![])
    }
    pub fn reshape(&mut self, x: &str, shape: &[i64]) -> String {
        let s = self.ints(&[shape.len()], shape);
        self.node("Reshape", &[x, &s], vec![])
    }
    pub fn transpose(&mut self, x: &str, perm: &[i64]) -> String {
        self.node("Transpose", &[x], vec![attr_ints("perm", perm)])
    }
    pub fn unsqueeze(&mut self, x: &str, axes: &[i64]) -> String {
        let a = self.ints(&[axes.len()], axes);
        self.node("Unsqueeze", &[x, &a], vec![])
    }
    /// `Gather` of one index along `axis`: the axis disappears.
    pub fn take(&mut self, x: &str, index: i64, axis: i64) -> String {
        let i = self.ints(&[], &[index]);
        self.node("Gather", &[x, &i], vec![attr_int("axis", axis)])
    }

    /// `x @ w^T + b` with `w` stored `[out, in]`: the transpose is done here, once, so the graph
    /// holds `[in, out]` and tract runs a plain matmul.
    pub fn linear(
        &mut self,
        x: &str,
        name: &str,
        w: &crate::model::weights::Tensor,
        b: &crate::model::weights::Tensor,
    ) -> String {
        let (out, inp) = (w.shape[0], w.shape[1]);
        let mut wt = vec![0.0f32; out * inp];
        for o in 0..out {
            for i in 0..inp {
                wt[i * out + o] = w.data[o * inp + i];
            }
        }
        let w_name = self.init(&format!("{name}.weight_t"), &[inp, out], &wt);
        let b_name = self.init(&format!("{name}.bias"), &[out], &b.data);
        let y = self.matmul(x, &w_name);
        self.add(&y, &b_name)
    }

    /// Exact GELU: `0.5 x (1 + erf(x / sqrt 2))`.
    pub fn gelu(&mut self, x: &str) -> String {
        let inv_sqrt2 = self.scalar(std::f32::consts::FRAC_1_SQRT_2);
        let half = self.scalar(0.5);
        let one = self.scalar(1.0);
        let s = self.mul(x, &inv_sqrt2);
        let e = self.node("Erf", &[&s], vec![]);
        let e1 = self.add(&e, &one);
        let h = self.mul(x, &half);
        self.mul(&h, &e1)
    }

    pub fn finish(self, name: &str) -> ModelProto {
        ModelProto {
            ir_version: 8,
            opset_import: vec![OperatorSetIdProto {
                domain: String::new(),
                version: OPSET,
            }],
            producer_name: "neuneu".into(),
            producer_version: env!("CARGO_PKG_VERSION").into(),
            graph: Some(GraphProto {
                node: self.nodes,
                name: name.into(),
                initializer: self.initializers,
                input: self.inputs,
                output: self.outputs,
                ..Default::default()
            }),
            ..Default::default()
        }
    }
}
