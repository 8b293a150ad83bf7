//! Constant tensors that the trainer and the exporter must build identically: rotary position
//! tables and the matrices of the non-crossing quantile head.

use crate::model::architecture::Architecture;

/// Rotate-half RoPE tables `(cos, sin)`, each `[seq_len, head_dim]` row-major. Position `p` is
/// the token's index in the sequence (CLS 0, loss token 1, context point `i` at `i + 2`).
/// `inv_freq_j = base^(-2j / head_dim)`, duplicated across both halves (the "rotate half" form).
pub fn rope_tables(arch: &Architecture) -> (Vec<f32>, Vec<f32>) {
    let (s, hd) = (arch.seq_len(), arch.head_dim());
    let half = hd / 2;
    let mut cos = vec![0.0f32; s * hd];
    let mut sin = vec![0.0f32; s * hd];
    for p in 0..s {
        for j in 0..half {
            let inv = (arch.rope_base as f64).powf(-(2.0 * j as f64) / hd as f64);
            let angle = p as f64 * inv;
            for k in [j, j + half] {
                cos[p * hd + k] = angle.cos() as f32;
                sin[p * hd + k] = angle.sin() as f32;
            }
        }
    }
    (cos, sin)
}

/// `R` with `x @ R = rotate_half(x) = concat(-x2, x1)`, `[head_dim, head_dim]`. A matmul keeps
/// the graph free of slices (tract mis-handles some slice ends) and costs little at our widths.
pub fn rotate_half_matrix(hd: usize) -> Vec<f32> {
    let half = hd / 2;
    let mut r = vec![0.0f32; hd * hd];
    for j in 0..half {
        r[(j + half) * hd + j] = -1.0; // out[j] = -x[j + half]
        r[j * hd + j + half] = 1.0; // out[j + half] = x[j]
    }
    r
}

/// The non-crossing head: from raw head outputs `r` (one per level),
/// `q = anchor + r @ E + softplus(r) @ M`, where `E` copies the median's raw value into every
/// level and `M` adds positive increments outward from the median: `q_j = q_m + sum of
/// softplus(r_i)` for the levels between. Quantiles are therefore ordered by construction.
/// Both `[Q, Q]` row-major.
pub fn quantile_head_matrices(levels: usize, median: usize) -> (Vec<f32>, Vec<f32>) {
    let mut e = vec![0.0f32; levels * levels];
    let mut m = vec![0.0f32; levels * levels];
    for j in 0..levels {
        e[median * levels + j] = 1.0;
        for i in 0..levels {
            if median < i && i <= j {
                m[i * levels + j] = 1.0;
            } else if j <= i && i < median {
                m[i * levels + j] = -1.0;
            }
        }
    }
    (e, m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotate_half_matrix_rotates() {
        let x = [1.0f32, 2.0, 3.0, 4.0];
        let r = rotate_half_matrix(4);
        let y: Vec<f32> = (0..4)
            .map(|j| (0..4).map(|i| x[i] * r[i * 4 + j]).sum())
            .collect();
        assert_eq!(y, vec![-3.0, -4.0, 1.0, 2.0]);
    }

    #[test]
    fn head_matrices_order_any_raw_output() {
        let (e, m) = quantile_head_matrices(5, 2);
        for raw in [
            [3.0f32, -2.0, 0.1, -7.0, 4.0],
            [-9.0, 9.0, -0.3, 0.0, -20.0],
        ] {
            let sp: Vec<f32> = raw
                .iter()
                .map(|&r| r.max(0.0) + (-r.abs()).exp().ln_1p())
                .collect();
            let q: Vec<f32> = (0..5)
                .map(|j| {
                    (0..5)
                        .map(|i| raw[i] * e[i * 5 + j] + sp[i] * m[i * 5 + j])
                        .sum()
                })
                .collect();
            assert!(q.windows(2).all(|w| w[0] <= w[1]), "{q:?}");
            assert_eq!(q[2], raw[2]);
        }
    }
}
