//! The C ABI's batched calls (`neuneu_forecast`, `neuneu_rank`, `neuneu_plan`) with run
//! counts, offsets, lengths and values decoded from the fuzz bytes, in either row batching.
//!
//! Memory safety of the buffers is this target's job, as it is any C caller's: every buffer is
//! allocated with the length the call is told, and offsets never point past the end of the
//! buffer they index. Within that, offsets may be anything (not starting at 0, decreasing):
//! the library must answer with an error status, never a panic (NEUNEU_ERR_PANIC) or a
//! crash. Successful answers must be finite, ordered quantiles and complementary pair
//! probabilities.
#![no_main]
use libfuzzer_sys::fuzz_target;
use neuneu_ffi::*;

mod c_common;

use c_common::{Bytes, engine};

/// The target's own readings of the stream.
trait Values {
    fn f64(&mut self, prev: f64) -> f64;
    fn offsets(&mut self, lens: &[usize], total: usize) -> Vec<usize>;
}

impl Values for Bytes<'_> {
    /// Mostly plausible values, sometimes any bit pattern (NaN, inf, negative, huge).
    fn f64(&mut self, prev: f64) -> f64 {
        match self.u8() % 8 {
            0 => f64::from_bits(self.u64()),
            1 => self.u8() as f64 / 255.0,
            2 => prev - self.u8() as f64,
            _ => prev + 1.0 + self.u8() as f64 * 10.0,
        }
    }
    /// Offsets for `lens`: consistent (a prefix sum) unless a flag says to damage them,
    /// always within `total`.
    fn offsets(&mut self, lens: &[usize], total: usize) -> Vec<usize> {
        let mut o = vec![0];
        for l in lens {
            o.push(o.last().unwrap() + l);
        }
        if self.u8().is_multiple_of(4) {
            for v in o.iter_mut() {
                if self.u8().is_multiple_of(3) {
                    *v = self.u8() as usize % (total + 1);
                }
            }
        }
        o
    }
}

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes(data);
    let n = (b.u8() % 9) as usize;
    let ctx_lens: Vec<usize> = (0..n).map(|_| (b.u8() % 40) as usize).collect();
    let tgt_lens: Vec<usize> = (0..n).map(|_| (b.u8() % 4) as usize).collect();
    let loss_lens: Vec<usize> = (0..n).map(|_| (b.u8() % 8) as usize).collect();
    let (nc, nt, nl) = (
        ctx_lens.iter().sum::<usize>(),
        tgt_lens.iter().sum::<usize>(),
        loss_lens.iter().sum::<usize>(),
    );
    let mut steps = Vec::with_capacity(nc);
    let mut accuracy = Vec::with_capacity(nc);
    let mut prev = 0.0;
    for _ in 0..nc {
        prev = b.f64(prev);
        steps.push(prev);
        accuracy.push(b.f64(0.0).fract().abs());
    }
    let mut targets = Vec::with_capacity(nt);
    for _ in 0..nt {
        prev = b.f64(prev);
        targets.push(prev);
    }
    let losses: Vec<f32> = (0..nl).map(|_| b.f64(0.0) as f32).collect();
    let ctx = b.offsets(&ctx_lens, nc);
    let tgt = b.offsets(&tgt_lens, nt);
    let lo = b.offsets(&loss_lens, nl);
    let with_losses = b.u8() % 2 == 0;
    let with_status = b.u8() % 2 == 0;

    // Either row batching (2 is no mode: refused, the setting stays as it was).
    let mode = (b.u8() % 3) as i32;
    let set = unsafe { neuneu_engine_set_row_batching(engine().cast_mut(), mode) };
    assert_eq!(
        set == 0,
        mode < 2,
        "set_row_batching({mode}) returned {set}"
    );

    let q = unsafe { neuneu_engine_num_levels(engine()) };
    // The capacity the call is told is the buffer's real length; sometimes too small.
    let need = tgt.last().copied().unwrap_or(0) * q;
    let cap = if b.u8() % 8 == 0 {
        need.saturating_sub(1)
    } else {
        need
    };
    let mut out = vec![0.0f32; cap];
    let mut status = vec![7i32; n];
    let rc = unsafe {
        neuneu_forecast(
            engine(),
            n,
            steps.as_ptr(),
            accuracy.as_ptr(),
            ctx.as_ptr(),
            targets.as_ptr(),
            tgt.as_ptr(),
            if with_losses {
                losses.as_ptr()
            } else {
                std::ptr::null()
            },
            if with_losses {
                lo.as_ptr()
            } else {
                std::ptr::null()
            },
            0,
            0,
            out.as_mut_ptr(),
            cap,
            if with_status {
                status.as_mut_ptr()
            } else {
                std::ptr::null_mut()
            },
        )
    };
    assert_ne!(rc, neuneu_status::NEUNEU_ERR_PANIC as i32);
    if rc == 0 {
        for f in out.chunks_exact(q.max(1)) {
            assert!(f.iter().all(|v| v.is_finite()), "{f:?}");
            assert!(f.windows(2).all(|w| w[0] <= w[1]), "{f:?}");
        }
        if with_status {
            assert!(status.iter().all(|&s| s == 0), "{status:?}");
        }
    }

    let mut prob = vec![0.0f64; n * n];
    let mut order = vec![usize::MAX; n];
    let rc = unsafe {
        neuneu_rank(
            engine(),
            n,
            steps.as_ptr(),
            accuracy.as_ptr(),
            ctx.as_ptr(),
            targets.as_ptr(),
            tgt.as_ptr(),
            0,
            0,
            prob.as_mut_ptr(),
            order.as_mut_ptr(),
        )
    };
    assert_ne!(rc, neuneu_status::NEUNEU_ERR_PANIC as i32);
    if rc == 0 {
        for i in 0..n {
            for j in 0..n {
                if i != j {
                    let s = prob[i * n + j] + prob[j * n + i];
                    assert!((s - 1.0).abs() < 1e-12, "P({i}>{j}) + P({j}>{i}) = {s}");
                }
            }
        }
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..n).collect::<Vec<_>>());
    }

    let mut opts = neuneu_plan_options_default();
    // Enum fields are plain ints: values past the enums (4, 2) must be refused, not trusted.
    opts.policy = i32::from(b.u8() % 5);
    opts.metric_kind = i32::from(b.u8() % 4);
    opts.direction = i32::from(b.u8() % 3);
    opts.k = b.u8() as usize % 10;
    opts.fraction = b.f64(0.0);
    opts.threshold = b.f64(0.0);
    opts.min_observations = b.u8() as usize % 5;
    opts.samples = b.u8() as usize * 8;
    opts.seed = b.u64();
    let end_step = b.f64(prev);
    let (mut keep, mut p, mut med, mut q10, mut q90) = (
        vec![9u8; n],
        vec![0.0; n],
        vec![0.0; n],
        vec![0.0; n],
        vec![0.0; n],
    );
    let rc = unsafe {
        neuneu_plan(
            engine(),
            n,
            steps.as_ptr(),
            accuracy.as_ptr(),
            ctx.as_ptr(),
            end_step,
            std::ptr::null(),
            &opts,
            keep.as_mut_ptr(),
            p.as_mut_ptr(),
            med.as_mut_ptr(),
            q10.as_mut_ptr(),
            q90.as_mut_ptr(),
        )
    };
    assert_ne!(rc, neuneu_status::NEUNEU_ERR_PANIC as i32);
    if rc == 0 {
        for i in 0..n {
            // An arm too young to judge is kept, with no numbers.
            if p[i].is_nan() {
                assert!(keep[i] == 1 && med[i].is_nan(), "{i}: {keep:?} {med:?}");
                continue;
            }
            assert!(
                keep[i] <= 1 && (0.0..=1.0).contains(&p[i]),
                "{i}: {keep:?} {p:?}"
            );
            assert!(
                q10[i] <= med[i] && med[i] <= q90[i],
                "{i}: {q10:?} {med:?} {q90:?}"
            );
        }
    }
});
