//! The C sweep handle (`neuneu_sweep_*`, `neuneu_decision_*`) driven by a stream of calls
//! decoded from the fuzz bytes: options with any integers in the enum fields, arm names that
//! may be unknown, empty, not UTF-8 or NULL, steps and values of any bit pattern, decisions
//! over all arms or a named subset, forecasts with short buffers, adapting to the finished
//! arms with any hold-out and loss summary code (and going on with the result), and a save and
//! load at any point. Every call must return a status (never NEUNEU_ERR_PANIC, never a crash); a decision
//! has one verdict per arm asked about, with a known action and a reason; a loaded sweep
//! saves to the same bytes as the one it was saved from.
#![no_main]
use libfuzzer_sys::fuzz_target;
use neuneu_ffi::*;
use std::ffi::{CStr, CString, c_char};

mod c_common;

use c_common::{Bytes, engine};

const PANIC: i32 = neuneu_status::NEUNEU_ERR_PANIC as i32;

/// The target's own readings of the stream.
trait Calls {
    fn f64(&mut self) -> f64;
    fn arm(&mut self) -> CString;
}

impl Calls for Bytes<'_> {
    fn f64(&mut self) -> f64 {
        match self.u8() % 6 {
            0 => f64::from_bits(self.u64()),
            1 => -(self.u8() as f64),
            _ => self.u8() as f64 / 255.0 * 4.0,
        }
    }
    /// One of six arm names (enough for an adapt to find 5 finished arms), or an odd one (not
    /// UTF-8, empty).
    fn arm(&mut self) -> CString {
        match self.u8() % 8 {
            6 => CString::new(vec![0xff, 0xfe]).unwrap(),
            7 => CString::default(),
            a => CString::new(format!("arm-{a}")).unwrap(),
        }
    }
}

fn check_decision(d: *const neuneu_decision, asked: Option<usize>) {
    let n = unsafe { neuneu_decision_len(d) };
    if let Some(asked) = asked {
        assert!(n <= asked, "{n} verdicts for {asked} arms");
    }
    // k is the policy's, capped at the arms that can still win: never above what was asked.
    assert!(unsafe { neuneu_decision_k(d) <= neuneu_decision_k_requested(d) });
    for i in 0..n {
        let mut v = neuneu_arm_verdict {
            version: NEUNEU_ARM_VERDICT_VERSION,
            id: std::ptr::null(),
            action: -1,
            p_top_k: 0.0,
            median: 0.0,
            q10: 0.0,
            q90: 0.0,
            end_step: 0.0,
            reason: std::ptr::null(),
        };
        assert_eq!(unsafe { neuneu_decision_arm(d, i, &mut v) }, 0);
        assert!((0..=3).contains(&v.action), "action {}", v.action);
        let reason = unsafe { CStr::from_ptr(v.reason) }.to_str().unwrap();
        assert!(!reason.is_empty());
        if !v.median.is_nan() {
            assert!(v.q10 <= v.median && v.median <= v.q90, "{v:?}");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes(data);
    let mut o = unsafe { std::mem::zeroed::<neuneu_sweep_options>() };
    assert_eq!(
        unsafe { neuneu_sweep_options_init(&mut o, NEUNEU_SWEEP_OPTIONS_VERSION) },
        0
    );
    // Enum fields are plain ints: values past the enums must be refused, not trusted.
    o.metric_kind = i32::from(b.u8() % 4);
    o.direction = i32::from(b.u8() % 3);
    o.policy = i32::from(b.u8() % 5);
    o.k = (b.u8() % 6) as usize;
    o.fraction = b.f64();
    o.threshold = b.f64();
    o.budget = b.f64();
    o.end_step = if b.u8() % 2 == 0 {
        0.0
    } else {
        b.f64() * 1000.0
    };
    o.min_observations = (b.u8() % 4) as usize;
    o.samples = 1 + (b.u8() as usize) * 4;
    o.seed = b.u64();
    // 0 or 1, and 2, which must be refused.
    o.calibrate = i32::from(b.u8() % 3);
    let mut sweep = std::ptr::null_mut();
    let rc = unsafe { neuneu_sweep_new(engine(), &o, &mut sweep) };
    assert_ne!(rc, PANIC);
    if rc != 0 {
        assert!(sweep.is_null());
        return;
    }
    let mut steps = [0.0f64; 4];
    for _ in 0..(b.u8() % 48) {
        let arm = b.arm();
        let rc = match b.u8() % 11 {
            0..=4 => {
                let a = arm.as_bytes().last().copied().unwrap_or(0) as usize % 4;
                steps[a] += b.u8() as f64 * 10.0 - 200.0;
                unsafe { neuneu_sweep_observe(sweep, arm.as_ptr(), steps[a], b.f64()) }
            }
            5 => unsafe { neuneu_sweep_set_end(sweep, arm.as_ptr(), b.f64() * 5000.0) },
            6 => unsafe { neuneu_sweep_finish(sweep, arm.as_ptr()) },
            7 => unsafe { neuneu_sweep_stop(sweep, arm.as_ptr()) },
            8 => {
                let names: Vec<CString> = (0..b.u8() % 4).map(|_| b.arm()).collect();
                let ptrs: Vec<*const c_char> = names.iter().map(|n| n.as_ptr()).collect();
                let all = b.u8() % 2 == 0;
                let mut d = std::ptr::null_mut();
                let rc = unsafe {
                    if all {
                        neuneu_sweep_decide(sweep, std::ptr::null(), 0, &mut d)
                    } else {
                        neuneu_sweep_decide(sweep, ptrs.as_ptr(), ptrs.len(), &mut d)
                    }
                };
                if rc == 0 {
                    check_decision(d, (!all).then_some(ptrs.len()));
                } else {
                    assert!(d.is_null());
                }
                unsafe { neuneu_decision_free(d) };
                rc
            }
            9 => {
                let mut o = unsafe { std::mem::zeroed::<neuneu_adapt_options>() };
                assert_eq!(
                    unsafe { neuneu_adapt_options_init(&mut o, NEUNEU_ADAPT_OPTIONS_VERSION) },
                    0
                );
                o.holdout = b.f64() / 4.0;
                o.loss_summary = i32::from(b.u8() % 3);
                let mut adapted = std::ptr::null_mut();
                let rc =
                    unsafe { neuneu_sweep_adapt(sweep, std::ptr::null(), 0, &o, &mut adapted) };
                if rc == 0 {
                    let (mut data, mut len) = (std::ptr::null(), 0usize);
                    assert_eq!(
                        unsafe { neuneu_adapted_bundle(adapted, &mut data, &mut len) },
                        0
                    );
                    assert!(len > 0 && !data.is_null());
                    // The adapted model's name differs from the default's, and the save and
                    // load below reload with the default engine: the sweep goes back to it.
                    let mut tuned = std::ptr::null_mut();
                    assert_eq!(unsafe { neuneu_adapted_engine(adapted, 1, &mut tuned) }, 0);
                    assert_eq!(unsafe { neuneu_sweep_set_engine(sweep, tuned) }, 0);
                    unsafe { neuneu_engine_free(tuned) };
                    assert_eq!(unsafe { neuneu_sweep_set_engine(sweep, engine()) }, 0);
                } else {
                    assert!(adapted.is_null());
                }
                unsafe { neuneu_adapted_free(adapted) };
                rc
            }
            _ => {
                let at = [b.f64() * 5000.0, b.f64() * 5000.0];
                let cap = (b.u8() % 12) as usize;
                let mut out = vec![0.0f64; cap];
                unsafe {
                    neuneu_sweep_forecast(
                        sweep,
                        arm.as_ptr(),
                        at.as_ptr(),
                        2,
                        out.as_mut_ptr(),
                        cap,
                    )
                }
            }
        };
        assert_ne!(rc, PANIC, "{}", unsafe {
            CStr::from_ptr(neuneu_last_error()).to_string_lossy()
        });
        // A save and a reload at any point: the copy saves to the same bytes.
        if b.u8() % 16 == 0 {
            let mut need = 0;
            assert_eq!(
                unsafe { neuneu_sweep_save(sweep, std::ptr::null_mut(), 0, &mut need) },
                neuneu_status::NEUNEU_ERR_BUFFER_TOO_SMALL as i32
            );
            let mut saved = vec![0u8; need];
            assert_eq!(
                unsafe {
                    neuneu_sweep_save(sweep, saved.as_mut_ptr().cast(), need, std::ptr::null_mut())
                },
                0
            );
            let mut copy = std::ptr::null_mut();
            assert_eq!(
                unsafe { neuneu_sweep_load(engine(), saved.as_ptr(), need, &mut copy) },
                0
            );
            let mut again = vec![0u8; need];
            assert_eq!(
                unsafe {
                    neuneu_sweep_save(copy, again.as_mut_ptr().cast(), need, std::ptr::null_mut())
                },
                0
            );
            assert_eq!(saved, again);
            unsafe { neuneu_sweep_free(sweep) };
            sweep = copy;
        }
    }
    unsafe { neuneu_sweep_free(sweep) };
});
