//! The error catalogue (`docs/ERRORS.md`), entry by entry: each error is provoked through the
//! Rust API, the CLI and the C ABI where that surface can reach it, and its documented text is
//! checked to be in the catalogue (so the two cannot drift apart). Entries one surface cannot
//! reach say so in the catalogue's last section.

use crate::common::{cli_run, engine, scratch_dir, with_graph};
use neuneu::inference::engine::DEFAULT_BUNDLE;
use neuneu::model::bundle::{Bundle, ENCODER, FORECASTER, TREES};
use neuneu::{BundleError, Engine, Error, Losses, RunInput};
use neuneu_ffi::*;
use std::ffi::CStr;
use std::sync::OnceLock;

struct Handle(*mut neuneu_engine);
// SAFETY: engine handles are immutable and shareable (the C header's contract).
unsafe impl Send for Handle {}
unsafe impl Sync for Handle {}

fn c_engine() -> *const neuneu_engine {
    static E: OnceLock<Handle> = OnceLock::new();
    E.get_or_init(|| {
        let mut e = std::ptr::null_mut();
        assert_eq!(unsafe { neuneu_engine_new_default(&mut e) }, 0);
        Handle(e)
    })
    .0
}

fn last_error() -> String {
    unsafe { CStr::from_ptr(neuneu_last_error()) }
        .to_string_lossy()
        .into_owned()
}

/// The catalogue must carry the documented text of every entry tested here.
fn documented(text: &str) {
    static DOC: OnceLock<String> = OnceLock::new();
    let doc = DOC.get_or_init(|| std::fs::read_to_string("docs/ERRORS.md").unwrap());
    assert!(doc.contains(text), "docs/ERRORS.md lacks `{text}`");
}

const INVALID_INPUT: i32 = neuneu_status::NEUNEU_ERR_INVALID_INPUT as i32;
const INVALID_ARGUMENT: i32 = neuneu_status::NEUNEU_ERR_INVALID_ARGUMENT as i32;
const BUNDLE: i32 = neuneu_status::NEUNEU_ERR_BUNDLE as i32;

/// One run through `neuneu_forecast` on `engine`: (status, message, the run's status).
fn c_forecast(
    engine: *const neuneu_engine,
    steps: &[f64],
    accuracy: &[f64],
    targets: &[f64],
    losses: Option<&[f32]>,
) -> (i32, String, i32) {
    let ctx = [0, steps.len()];
    let tgt = [0, targets.len()];
    let lo = [0, losses.map_or(0, <[f32]>::len)];
    let q = unsafe { neuneu_engine_num_levels(engine) };
    let mut out = vec![0.0f32; targets.len() * q];
    let mut status = [7i32];
    let rc = unsafe {
        neuneu_forecast(
            engine,
            1,
            steps.as_ptr(),
            accuracy.as_ptr(),
            ctx.as_ptr(),
            targets.as_ptr(),
            tgt.as_ptr(),
            losses.map_or(std::ptr::null(), <[f32]>::as_ptr),
            if losses.is_some() {
                lo.as_ptr()
            } else {
                std::ptr::null()
            },
            0,
            0,
            out.as_mut_ptr(),
            out.len(),
            status.as_mut_ptr(),
        )
    };
    (rc, last_error(), status[0])
}

/// A run the engine refuses, with the field and the text the refusal must carry.
struct BadRun {
    steps: Vec<f64>,
    accuracy: Vec<f64>,
    targets: Vec<f64>,
    losses: Option<Vec<f32>>,
    field: &'static str,
    /// What the message must contain.
    reason: &'static str,
    /// Its entry in docs/ERRORS.md.
    doc: &'static str,
}

fn bad(steps: &[f64], accuracy: &[f64], targets: &[f64], field: &'static str) -> BadRun {
    BadRun {
        steps: steps.to_vec(),
        accuracy: accuracy.to_vec(),
        targets: targets.to_vec(),
        losses: None,
        field,
        reason: "",
        doc: "",
    }
}

impl BadRun {
    fn says(mut self, reason: &'static str, doc: &'static str) -> Self {
        self.reason = reason;
        self.doc = doc;
        self
    }
    fn losses(mut self, l: &[f32]) -> Self {
        self.losses = Some(l.to_vec());
        self
    }
    /// As a JSON request line, if JSON can express it (no NaN or infinity).
    fn json(&self, id: usize) -> Option<String> {
        let finite = self.steps.iter().chain(&self.accuracy).chain(&self.targets);
        let losses_finite = self.losses.iter().flatten().all(|v| v.is_finite());
        (finite.clone().all(|v| v.is_finite()) && losses_finite).then(|| {
            let mut v = serde_json::json!({"id": id, "steps": self.steps,
                "accuracy": self.accuracy, "target_steps": self.targets});
            if let Some(l) = &self.losses {
                v["token_losses"] = serde_json::json!(l);
            }
            v.to_string()
        })
    }
}

fn bad_runs() -> Vec<BadRun> {
    let (s, a, t) = (&[1.0, 2.0, 4.0][..], &[0.3, 0.35, 0.4][..], &[16.0][..]);
    vec![
        bad(s, &[0.3, 0.35], t, "accuracy")
            .says("2 values for 3 steps", "`<n> values for <m> steps`"),
        bad(&[], &[], t, "steps").says("empty context", "`empty context: at least one"),
        bad(&[1.0], &[0.3], t, "steps").says("context too short: 1 points", "context too short"),
        bad(&[1.0, f64::NAN, 4.0], a, t, "steps").says(
            "steps[1] = NaN is not a finite value",
            "is not a finite value >= 0",
        ),
        bad(&[-1.0, 2.0, 4.0], a, t, "steps").says(
            "steps[0] = -1 is not a finite value",
            "is not a finite value >= 0",
        ),
        bad(&[1.0, f64::INFINITY, 4.0], a, t, "steps").says(
            "steps[1] = inf is not a finite value",
            "is not a finite value >= 0",
        ),
        bad(&[1.0, 4.0, 2.0], a, t, "steps").says(
            "not increasing: steps[2] = 2 after 4",
            "`not increasing: steps",
        ),
        bad(s, &[0.3, 1.5, 0.4], t, "accuracy")
            .says("accuracy[1] = 1.5 is outside [0, 1]", "is outside [0, 1]"),
        bad(s, &[0.3, f64::NAN, 0.4], t, "accuracy")
            .says("accuracy[1] = NaN is outside [0, 1]", "is outside [0, 1]"),
        bad(s, a, &[], "target_steps").says("no target steps", "`no target steps to forecast`"),
        bad(s, a, &[16.0, 3.0], "target_steps").says(
            "target_steps[1] = 3 is not after the last observed step 4",
            "is not after the last observed step",
        ),
        bad(s, a, &[4.0], "target_steps").says(
            "target_steps[0] = 4 is not after the last observed step 4",
            "is not after the last observed step",
        ),
        bad(s, a, &[f64::INFINITY], "target_steps").says(
            "target_steps[0] = inf is not after",
            "is not after the last observed step",
        ),
        bad(s, a, t, "token_losses").losses(&[0.5, -1.0]).says(
            "token_losses[1] = -1 is NaN or negative",
            "is NaN or negative",
        ),
        bad(s, a, t, "token_losses").losses(&[f32::NAN]).says(
            "token_losses[0] = NaN is NaN or negative",
            "is NaN or negative",
        ),
    ]
}

#[test]
fn invalid_runs_through_the_rust_api_the_cli_and_the_c_abi() {
    let runs = bad_runs();
    let mut lines = Vec::new();
    let (s, a, t) = ([1.0, 2.0, 4.0, 8.0], [0.3, 0.32, 0.35, 0.36], [16.0, 64.0]);
    let good = RunInput::new(&s, &a, &t);
    for (i, r) in runs.iter().enumerate() {
        documented(r.doc);
        let mut run = RunInput::new(&r.steps, &r.accuracy, &r.targets);
        if let Some(l) = &r.losses {
            run = run.with_losses(Losses::Tokens(l));
        }
        // Second in a batch: the error names run 1, and forecast_each still answers run 0.
        let batch = [good, run];
        match engine().forecast(&batch) {
            Err(Error::InvalidInput { run, field, reason }) => {
                assert_eq!((run.as_str(), field), ("1", r.field), "{reason}");
                assert!(reason.contains(r.reason), "{reason} lacks {}", r.reason);
            }
            other => panic!("case {i}: {other:?}"),
        }
        let each = engine().forecast_each(&batch);
        assert!(each[0].is_ok() && each[1].is_err(), "case {i}: {each:?}");
        // In C, steps and accuracy share one offsets array: unequal lengths cannot be said.
        if r.steps.len() == r.accuracy.len() {
            let (rc, msg, status) = c_forecast(
                c_engine(),
                &r.steps,
                &r.accuracy,
                &r.targets,
                r.losses.as_deref(),
            );
            assert_eq!(
                (rc, status),
                (INVALID_INPUT, INVALID_INPUT),
                "case {i}: {msg}"
            );
            assert!(msg.contains(r.field) && msg.contains(r.reason), "{msg}");
        }
        if let Some(line) = r.json(i) {
            lines.push((i, line));
        }
    }
    assert!(lines.len() >= 9, "most cases are expressible in JSON");
    let dir = scratch_dir("errors-lines");
    let file = dir.join("bad.jsonl");
    let text: Vec<&str> = lines.iter().map(|(_, l)| l.as_str()).collect();
    std::fs::write(&file, text.join("\n")).unwrap();
    let (code, out, err) = cli_run(&["forecast", file.to_str().unwrap()], "");
    assert_eq!(code, 1, "{err}");
    let answers: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(answers.len(), lines.len());
    for ((i, _), answer) in lines.iter().zip(&answers) {
        let r = &runs[*i];
        let e = answer["error"]
            .as_str()
            .unwrap_or_else(|| panic!("case {i}: {answer}"));
        assert!(
            e.starts_with(&format!("{}: ", r.field)) && e.contains(r.reason),
            "{e}"
        );
    }
}

#[test]
fn empty_loss_vectors_are_refused_by_the_rust_api_and_the_cli() {
    // The C ABI has no empty loss vector: an empty range there means "no losses".
    documented("`empty loss vector`");
    let (s, a, t) = ([1.0, 2.0, 4.0], [0.3, 0.35, 0.4], [16.0]);
    let run = RunInput::new(&s, &a, &t).with_losses(Losses::Tokens(&[]));
    let e = engine().forecast(&[run]).unwrap_err().to_string();
    assert_eq!(e, "run 0: token_losses: empty loss vector");
    let line = r#"{"steps": [1, 2, 4], "accuracy": [0.3, 0.35, 0.4], "target_steps": [16], "token_losses": []}"#;
    let (code, out, _) = cli_run(&["forecast", "-"], line);
    assert_eq!(code, 1);
    assert!(
        out.contains(r#""error":"token_losses: empty loss vector""#),
        "{out}"
    );
}

#[test]
fn the_last_step_must_be_positive_with_a_one_point_model() {
    // Unreachable with the default model (2 points at least, increasing, none negative), so
    // through the validation function the engine calls, with min_context 1.
    documented("`the last observed step must be positive`");
    let p = neuneu::CurvePrefix {
        steps: &[0.0],
        accuracy: &[0.3],
        targets: &[1.0],
    };
    let e = neuneu::inference::features::validate_prefix(&p, 1).unwrap_err();
    assert_eq!(
        (e.field, e.reason.as_str()),
        ("steps", "the last observed step must be positive")
    );
}

#[test]
fn too_many_loss_values_through_the_rust_api_and_the_c_abi() {
    // 200 MB: refused by length before any value is read. The CLI would need 500 MB of JSON.
    documented("more than the 50000000 accepted");
    let losses = vec![1.0f32; neuneu::inference::features::MAX_LOSS_VALUES + 1];
    let (s, a, t) = ([1.0, 2.0, 4.0], [0.3, 0.35, 0.4], [16.0]);
    let run = RunInput::new(&s, &a, &t).with_losses(Losses::Tokens(&losses));
    let e = engine().forecast(&[run]).unwrap_err().to_string();
    assert!(
        e.contains("50000001 values, more than the 50000000 accepted"),
        "{e}"
    );
    let (rc, msg, _) = c_forecast(c_engine(), &s, &a, &t, Some(&losses));
    assert_eq!(rc, INVALID_INPUT, "{msg}");
    assert!(msg.contains("more than the 50000000 accepted"));
}

/// The small architecture with random weights, optionally without a loss encoder and with a
/// forecaster head whose bias is NaN (every forecast non-finite).
fn random_bundle_bytes(encoder: bool, nan_head: bool) -> Vec<u8> {
    use neuneu::model::architecture::Architecture;
    let mut arch = Architecture::small();
    if !encoder {
        arch.encoder = None;
    }
    let b = neuneu::testing::random_bundle(&arch, 1, "test").unwrap();
    let mut graphs: Vec<(String, Vec<u8>)> = b
        .graphs
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if nan_head {
        let mut w = neuneu::testing::random_weights(&arch, 1);
        let bias = w.get("head.bias").unwrap().clone();
        let nan = neuneu::model::weights::Tensor::new(
            bias.shape.clone(),
            vec![f32::NAN; bias.data.len()],
        );
        w.insert("head.bias", nan);
        let g = neuneu::model::onnx::export_forecaster(&arch, &w).unwrap();
        graphs.retain(|(k, _)| k != FORECASTER);
        graphs.push((FORECASTER.into(), g));
    }
    Bundle::new(b.manifest, graphs).to_bytes()
}

#[test]
fn losses_for_a_model_without_a_loss_encoder() {
    documented("`this model has no loss encoder`");
    let bytes = random_bundle_bytes(false, false);
    let e = Engine::from_bytes(&bytes).unwrap();
    let (s, a, t) = ([1.0, 2.0, 4.0], [0.3, 0.35, 0.4], [16.0]);
    let l = [0.5f32, 1.0];
    let run = RunInput::new(&s, &a, &t).with_losses(Losses::Tokens(&l));
    let msg = e.forecast(&[run]).unwrap_err().to_string();
    assert_eq!(msg, "run 0: token_losses: this model has no loss encoder");
    assert!(e.encode_losses(&l).is_err());

    let mut h = std::ptr::null_mut();
    let rc = unsafe {
        neuneu_engine_new(
            &mut h,
            bytes.as_ptr(),
            bytes.len(),
            neuneu_backend::NEUNEU_BACKEND_CPU as i32,
        )
    };
    assert_eq!(rc, 0);
    let (rc, msg, _) = c_forecast(h, &s, &a, &t, Some(&l));
    assert_eq!(rc, INVALID_INPUT);
    assert!(msg.contains("this model has no loss encoder"), "{msg}");
    unsafe { neuneu_engine_free(h) };

    let dir = scratch_dir("errors-noenc");
    let model = dir.join("noenc.nnb");
    std::fs::write(&model, &bytes).unwrap();
    let line = r#"{"steps": [1, 2, 4], "accuracy": [0.3, 0.35, 0.4], "target_steps": [16], "token_losses": [0.5]}"#;
    let (code, out, _) = cli_run(&["forecast", "-", "--model", model.to_str().unwrap()], line);
    assert_eq!(code, 1);
    assert!(
        out.contains("token_losses: this model has no loss encoder"),
        "{out}"
    );
}

#[test]
fn a_non_finite_forecast_fails_its_run_only() {
    // A model whose output is NaN (a damaged but well-formed graph): Error::Inference for each
    // valid run, while an invalid run in the same batch keeps its own InvalidInput.
    documented("the model produced a non-finite quantile");
    let bytes = random_bundle_bytes(true, true);
    let e = Engine::from_bytes(&bytes).unwrap();
    let (s, a, t) = ([1.0, 2.0, 4.0], [0.3, 0.35, 0.4], [16.0]);
    let runs = [RunInput::new(&s, &a, &t), RunInput::new(&s, &a, &[])];
    let out = e.forecast_each(&runs);
    match &out[0] {
        Err(Error::Inference(m)) => assert!(m.contains("run 0: the model produced a non-finite")),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        out[1],
        Err(Error::InvalidInput {
            field: "target_steps",
            ..
        })
    ));

    let mut h = std::ptr::null_mut();
    let rc = unsafe {
        neuneu_engine_new(
            &mut h,
            bytes.as_ptr(),
            bytes.len(),
            neuneu_backend::NEUNEU_BACKEND_CPU as i32,
        )
    };
    assert_eq!(rc, 0);
    let (rc, msg, status) = c_forecast(h, &s, &a, &t, None);
    let inference = neuneu_status::NEUNEU_ERR_INFERENCE as i32;
    assert_eq!((rc, status), (inference, inference), "{msg}");
    unsafe { neuneu_engine_free(h) };

    let dir = scratch_dir("errors-nan");
    let model = dir.join("nan.nnb");
    std::fs::write(&model, &bytes).unwrap();
    let line = r#"{"steps": [1, 2, 4], "accuracy": [0.3, 0.35, 0.4], "target_steps": [16]}"#;
    let (code, out, _) = cli_run(&["forecast", "-", "--model", model.to_str().unwrap()], line);
    assert_eq!(code, 1);
    assert!(
        out.contains("inference: run 0: the model produced a non-finite quantile"),
        "{out}"
    );
}

#[test]
fn rust_only_input_errors() {
    use neuneu::QuantileDistribution as Q;
    // A precomputed loss embedding of the wrong size (the CLI and C ABI cannot pass one).
    documented("`<n> values, the model needs <d> finite values`");
    let emb = neuneu::LossEmbedding(vec![0.0; 3]);
    let (s, a, t) = ([1.0, 2.0, 4.0], [0.3, 0.35, 0.4], [16.0]);
    let run = RunInput::new(&s, &a, &t).with_losses(Losses::Embedding(&emb));
    let msg = engine().forecast(&[run]).unwrap_err().to_string();
    assert!(
        msg.contains("loss_embedding: 3 values, the model needs"),
        "{msg}"
    );

    documented("`no forecast to rank by`");
    let empty = neuneu::RunForecast { forecasts: vec![] };
    let msg = neuneu::rank_forecasts(engine().levels(), &[empty], 64)
        .unwrap_err()
        .to_string();
    assert_eq!(msg, "run 0: forecasts: no forecast to rank by");

    documented("`no quantile levels`");
    documented("`<n> values for <m> levels`");
    let bad_quantiles: [(Vec<f64>, Vec<f64>, &str); 6] = [
        (vec![], vec![], "no quantile levels"),
        (vec![1.5], vec![0.5], "is not inside (0, 1)"),
        (vec![0.5, 0.2], vec![0.1, 0.2], "levels not increasing"),
        (vec![0.5], vec![0.1, 0.2], "2 values for 1 levels"),
        (vec![0.5], vec![1.5], "is not in [0, 1]"),
        (vec![0.2, 0.5], vec![0.3, 0.1], "values decrease"),
    ];
    for (levels, values, expected) in bad_quantiles {
        let msg = Q::new(levels, values).unwrap_err().to_string();
        assert!(msg.contains(expected), "{msg:?} lacks {expected:?}");
    }

    documented("`<v> is not a finite number`");
    let arm = neuneu::Arm {
        id: "x".into(),
        forecast: Q::new(vec![0.5], vec![0.5]).unwrap(),
        observations: 3,
        last_value: f64::NAN,
    };
    let opts = neuneu::PlanOptions::new(neuneu::Policy::KeepTopK { k: 1 });
    let msg = neuneu::plan(&[arm], &opts).unwrap_err().to_string();
    assert_eq!(msg, "run x: last_value: NaN is not a finite number");
}

#[test]
fn rust_only_setting_errors() {
    use neuneu::QuantileDistribution as Q;
    let d = Q::new(vec![0.5], vec![0.5]).unwrap();
    documented("`no arms to rank`");
    let msg = neuneu::top_k_probabilities(&[], 1, 10, 0)
        .unwrap_err()
        .to_string();
    assert_eq!(msg, "arms: no arms to rank");
    documented("`<k> is not between 1 and the number of arms (<n>)`");
    let msg = neuneu::top_k_probabilities(std::slice::from_ref(&d), 2, 10, 0)
        .unwrap_err()
        .to_string();
    assert!(
        msg.starts_with("k: 2 is not between 1 and the number of arms (1)"),
        "{msg}"
    );
    documented("`must be at least 1 point`");
    let msg = neuneu::rank(&[d], 0).unwrap_err().to_string();
    assert_eq!(msg, "grid: must be at least 1 point");
}

/// A sweep with `policy` and extra fields over two valid arms (or `arms` if given).
fn sweep(policy: &str, extra: &str, arms: Option<&str>) -> String {
    let arms = arms.unwrap_or(
        r#"[{"id": "a", "steps": [1, 2, 4], "accuracy": [0.3, 0.35, 0.4]},
            {"id": "b", "steps": [1, 2, 4], "accuracy": [0.2, 0.3, 0.45]}]"#,
    );
    format!(r#"{{"end_step": 64, "policy": {policy}, {extra} "arms": {arms}}}"#)
}

#[test]
fn plan_setting_errors_through_the_rust_api_the_cli_and_the_c_abi() {
    let keep = |k: usize| format!(r#"{{"kind": "keep_top_k", "k": {k}}}"#);
    // (sweep, C options or None if the C ABI cannot express it, message, catalogue text)
    let mut o = neuneu_plan_options_default();
    let mut with = |f: &dyn Fn(&mut neuneu_plan_options)| {
        f(&mut o);
        let r = o;
        o = neuneu_plan_options_default();
        r
    };
    let cases: Vec<(String, Option<neuneu_plan_options>, usize, &str, &str)> = vec![
        (
            sweep(&keep(1), "", Some("[]")),
            Some(with(&|_| ())),
            0,
            "arms: no arms to plan",
            "`no arms to plan`",
        ),
        (
            sweep(&keep(0), "", None),
            Some(with(&|o| o.k = 0)),
            2,
            "policy.k: 0 is not between 1",
            "| policy.k |",
        ),
        (
            sweep(r#"{"kind": "stop_fraction", "fraction": 1.5}"#, "", None),
            Some(with(&|o| {
                o.policy = neuneu_policy::NEUNEU_POLICY_STOP_FRACTION as i32;
                o.fraction = 1.5
            })),
            2,
            "policy.fraction: 1.5 is not in [0, 1)",
            "`<f> is not in [0, 1)`",
        ),
        (
            sweep(
                r#"{"kind": "stop_below_probability", "k": 1, "threshold": 2}"#,
                "",
                None,
            ),
            Some(with(&|o| {
                o.policy = neuneu_policy::NEUNEU_POLICY_STOP_BELOW_PROBABILITY as i32;
                o.k = 1;
                o.threshold = 2.0
            })),
            2,
            "policy.threshold: 2 is not in [0, 1]",
            "`<t> is not in [0, 1]`",
        ),
        (
            sweep(&keep(1), r#""samples": 0,"#, None),
            Some(with(&|o| {
                o.k = 1;
                o.samples = 0
            })),
            2,
            "samples: must be at least 1",
            "`must be at least 1`",
        ),
        (
            sweep(&keep(1), r#""samples": 1000000000,"#, None),
            Some(with(&|o| {
                o.k = 1;
                o.samples = 1_000_000_000
            })),
            2,
            "samples: 1000000000; at most 1000000 are supported",
            "at most 1000000 are supported",
        ),
    ];
    let (st, acc) = (
        [1.0, 2.0, 4.0, 1.0, 2.0, 4.0],
        [0.3, 0.35, 0.4, 0.2, 0.3, 0.45],
    );
    for (text, c_opts, n_arms, msg, doc) in &cases {
        documented(doc);
        let e = neuneu::io::request::plan_request(engine(), text).unwrap_err();
        assert!(matches!(e, Error::InvalidSetting { .. }), "{e:?}");
        assert!(e.to_string().starts_with(msg), "{e} vs {msg}");
        let (code, _, err) = cli_run(&["plan", "-"], text);
        assert_eq!(code, 2);
        assert!(err.starts_with(&format!("neuneu: {msg}")), "{err}");
        if let Some(opts) = c_opts {
            let ctx = [0, 3, 6];
            let rc = unsafe {
                neuneu_plan(
                    c_engine(),
                    *n_arms,
                    st.as_ptr(),
                    acc.as_ptr(),
                    ctx.as_ptr(),
                    64.0,
                    std::ptr::null(),
                    opts,
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                )
            };
            let m = last_error();
            assert_eq!(rc, INVALID_ARGUMENT, "{m}");
            assert!(m.starts_with(msg), "{m} vs {msg}");
        }
    }
}

/// The default bundle with its manifest JSON edited by `edit`, resealed (valid checksums).
fn with_manifest(edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let mlen = u64::from_le_bytes(DEFAULT_BUNDLE[12..20].try_into().unwrap()) as usize;
    let mut m: serde_json::Value = serde_json::from_slice(&DEFAULT_BUNDLE[52..52 + mlen]).unwrap();
    edit(&mut m);
    reseal(
        &serde_json::to_vec(&m).unwrap(),
        &DEFAULT_BUNDLE[52 + mlen..],
    )
}

/// A bundle from manifest bytes and the graph bytes that follow it, with a valid header.
fn reseal(manifest: &[u8], graphs: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    let mut out = DEFAULT_BUNDLE[..12].to_vec();
    out.extend_from_slice(&(manifest.len() as u64).to_le_bytes());
    out.extend_from_slice(&sha2::Sha256::digest(manifest));
    out.extend_from_slice(manifest);
    out.extend_from_slice(graphs);
    out
}

#[test]
fn bundle_errors_through_the_rust_api_the_cli_and_the_c_abi() {
    let d = DEFAULT_BUNDLE;
    let b = Bundle::from_bytes(d).unwrap();
    let graph = |n: &str| b.graphs[n].clone();
    // A forecaster exported for a shorter context than the manifest says.
    let narrow = {
        let mut arch = b.manifest.architecture.clone();
        arch.max_context = 8;
        let w = neuneu::testing::random_weights(&arch, 3);
        neuneu::model::onnx::export_forecaster(&arch, &w).unwrap()
    };
    let mut flipped_graph = d.to_vec();
    *flipped_graph.last_mut().unwrap() ^= 1;
    let mut flipped_manifest = d.to_vec();
    flipped_manifest[60] ^= 1;
    let mut version = d.to_vec();
    version[8] = 9;
    let mut long_manifest = d.to_vec();
    long_manifest[12..20].copy_from_slice(&(1u64 << 40).to_le_bytes());
    let mut longer = d.to_vec();
    longer.push(0);
    let mlen = u64::from_le_bytes(d[12..20].try_into().unwrap()) as usize;
    let twice = {
        let mut m: serde_json::Value = serde_json::from_slice(&d[52..52 + mlen]).unwrap();
        let first = m["graphs"][0].clone();
        m["graphs"].as_array_mut().unwrap().push(first.clone());
        let mut graphs = d[52 + mlen..].to_vec();
        graphs.extend_from_slice(&b.graphs[first["name"].as_str().unwrap()]);
        reseal(&serde_json::to_vec(&m).unwrap(), &graphs)
    };
    let cases: Vec<(Vec<u8>, &str, &str)> = vec![
        (
            b"nope".to_vec(),
            "not a neuneu bundle (bad magic bytes)",
            "bad magic bytes",
        ),
        (
            d[..30].to_vec(),
            "truncated: 30 bytes, header needs 52",
            "header needs 52",
        ),
        (
            version,
            "format version 9 is not supported (this library reads 1)",
            "is not supported (this library reads 1)",
        ),
        (
            long_manifest,
            "truncated: manifest of 1099511627776 bytes",
            "`truncated: manifest of <m> bytes, <r> left`",
        ),
        (
            d[..d.len() - 10].to_vec(),
            "truncated: graph",
            "`truncated: graph <name> needs <n> bytes, <r> left`",
        ),
        (
            flipped_manifest,
            "checksum mismatch in manifest",
            "checksum mismatch in manifest",
        ),
        (
            flipped_graph,
            "checksum mismatch in graph",
            "... in graph <name>",
        ),
        (
            reseal(b"{not json", &d[52 + mlen..]),
            "manifest: not a valid manifest",
            "not a valid manifest: <serde error>",
        ),
        (
            with_manifest(|m| m["format_version"] = 2.into()),
            "manifest: format version disagrees with the header",
            "format version disagrees with the header",
        ),
        (
            twice,
            "manifest: graph forecaster listed twice",
            "listed twice",
        ),
        (
            longer,
            "manifest: 1 unexpected bytes after the last graph",
            "unexpected bytes after the last graph",
        ),
        (
            with_manifest(|m| m["preparation"]["feature_set"] = "x".into()),
            "manifest: feature set `x`",
            "feature set \\`<x>\\`",
        ),
        (
            with_manifest(|m| m["preparation"]["min_context"] = 0.into()),
            "manifest: min_context must lie in 1..=max_context",
            "min_context must lie in 1..=max_context",
        ),
        (
            with_manifest(|m| m["architecture"]["encoder"] = serde_json::Value::Null),
            "manifest: encoder graph and architecture disagree",
            "encoder graph and architecture disagree",
        ),
        (
            with_manifest(|m| m["architecture"]["d_model"] = 0.into()),
            "manifest: architecture:",
            "`manifest: architecture: <reason>`",
        ),
        (
            {
                let mut graphs: Vec<(String, Vec<u8>)> = b
                    .graphs
                    .iter()
                    .filter(|(k, _)| k.as_str() != TREES)
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                graphs.push((TREES.to_string(), b"[1, 2]".to_vec()));
                Bundle::new(b.manifest.clone(), graphs).to_bytes()
            },
            "trees member: not trees",
            "`trees member: <reason>`",
        ),
        (
            with_graph(FORECASTER, b"garbage".to_vec()),
            "graph forecaster: not a readable ONNX graph",
            "not a readable ONNX graph",
        ),
        (
            with_graph(FORECASTER, graph(ENCODER)),
            "graph forecaster: 1 inputs, the manifest implies 5",
            "inputs, the manifest implies",
        ),
        (
            with_graph(FORECASTER, narrow),
            "graph forecaster: input context",
            "`input ... does not match the manifest (...)`",
        ),
    ];
    let dir = scratch_dir("errors-bundles");
    for (i, (bytes, msg, doc)) in cases.iter().enumerate() {
        documented(doc);
        let e = Engine::from_bytes(bytes).unwrap_err();
        assert!(matches!(e, Error::Bundle(_)), "case {i}: {e:?}");
        let text = e.to_string();
        assert!(
            text.starts_with(&format!("model bundle: {msg}")),
            "case {i}: {text}"
        );
        let mut h = std::ptr::null_mut();
        let rc = unsafe {
            neuneu_engine_new(
                &mut h,
                bytes.as_ptr(),
                bytes.len(),
                neuneu_backend::NEUNEU_BACKEND_CPU as i32,
            )
        };
        assert_eq!(rc, BUNDLE, "case {i}");
        assert!(h.is_null() && last_error() == text, "case {i}");
        let path = dir.join(format!("case{i}.nnb"));
        std::fs::write(&path, bytes).unwrap();
        let (code, _, err) = cli_run(&["forecast", "-", "--model", path.to_str().unwrap()], "");
        assert_eq!(
            (code, err.trim()),
            (2, format!("neuneu: {text}").as_str()),
            "case {i}"
        );
    }
    // The typed variants callers match on.
    assert!(matches!(
        Engine::from_bytes(b"nope"),
        Err(Error::Bundle(BundleError::BadMagic))
    ));
}

#[test]
fn row_batching_errors_through_the_rust_api_the_cli_and_the_c_abi() {
    documented("`row batching \"<m>\": expected exact or throughput`");
    let e = "nope".parse::<neuneu::RowBatching>().unwrap_err();
    assert!(matches!(e, Error::Parse(_)));
    assert_eq!(
        e.to_string(),
        "row batching \"nope\": expected exact or throughput"
    );
    let (code, _, err) = cli_run(&["forecast", "--row-batching", "nope", "-"], "");
    assert_eq!(code, 2);
    assert!(
        err.contains("row batching \"nope\": expected exact or throughput"),
        "{err}"
    );
    documented("`row batching <m> is unknown (0 exact, 1 throughput)`");
    let rc = unsafe { neuneu_engine_set_row_batching(c_engine().cast_mut(), 2) };
    assert_eq!(rc, INVALID_ARGUMENT);
    assert_eq!(
        last_error(),
        "row batching 2 is unknown (0 exact, 1 throughput)"
    );
}

#[test]
fn parse_errors_through_the_rust_api_and_the_cli() {
    documented("`invalid sweep: <serde error>`");
    let e = neuneu::io::request::plan_request(engine(), "{").unwrap_err();
    assert!(
        matches!(&e, Error::Parse(m) if m.starts_with("invalid sweep: ")),
        "{e:?}"
    );
    let (code, _, err) = cli_run(&["plan", "-"], "{");
    assert_eq!(code, 2);
    assert!(err.starts_with("neuneu: invalid sweep: "), "{err}");
    let mut h = std::ptr::null_mut();
    let path = c"/nonexistent/neuneu.nnb";
    let rc = unsafe { neuneu_engine_new_from_path(&mut h, path.as_ptr()) };
    assert_eq!(rc, neuneu_status::NEUNEU_ERR_IO as i32, "{}", last_error());

    let dir = scratch_dir("errors-parse");
    documented("`no curve of task <t>`");
    let csv = dir.join("curves.csv");
    std::fs::write(
        &csv,
        "suite,run,shots,task,step,tokens,acc\ns,r,0,t,1,1,0.3\ns,r,0,t,2,2,0.4\ns,r,0,t,4,4,0.5\n",
    )
    .unwrap();
    let (code, _, err) = cli_run(&["replay", csv.to_str().unwrap(), "--task", "zz"], "");
    assert_eq!((code, err.trim()), (2, "neuneu: no curve of task zz"));
    documented("missing column");
    let bad = dir.join("bad.csv");
    std::fs::write(&bad, "suite,run\ns,r\n").unwrap();
    let (code, _, err) = cli_run(&["eval", bad.to_str().unwrap()], "");
    assert_eq!(code, 2);
    assert!(err.contains("missing column `"), "{err}");

    // Request lines: their own error strings, the other lines still answered.
    documented("`invalid request: <serde error>`");
    documented("`give token_losses or token_losses_npy, not both`");
    documented("`token_losses_npy: <Error>`");
    documented("`<path>: not a .npy file`");
    documented("more than the 65536 accepted");
    std::fs::write(dir.join("text.npy"), "hello, not numpy").unwrap();
    let mut big_header = b"\x93NUMPY\x02\x00".to_vec();
    big_header.extend_from_slice(&(1u32 << 20).to_le_bytes());
    std::fs::write(dir.join("header.npy"), big_header).unwrap();
    let ok = r#""steps": [1, 2, 4], "accuracy": [0.3, 0.35, 0.4], "target_steps": [16]"#;
    let lines = [
        r#"{"id": "j", "steps": "#.to_string(),
        format!(r#"{{"id": "both", {ok}, "token_losses": [1], "token_losses_npy": "a.npy"}}"#),
        format!(r#"{{"id": "text", {ok}, "token_losses_npy": "text.npy"}}"#),
        format!(r#"{{"id": "header", {ok}, "token_losses_npy": "header.npy"}}"#),
        format!(r#"{{"id": "missing", {ok}, "token_losses_npy": "missing.npy"}}"#),
        format!(r#"{{"id": "fine", {ok}}}"#),
    ];
    let file = dir.join("req.jsonl");
    std::fs::write(&file, lines.join("\n")).unwrap();
    let (code, out, _) = cli_run(&["forecast", file.to_str().unwrap()], "");
    assert_eq!(code, 1);
    let got: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let err = |i: usize| got[i]["error"].as_str().unwrap_or("").to_string();
    assert!(err(0).starts_with("invalid request: "), "{}", err(0));
    assert_eq!(err(1), "give token_losses or token_losses_npy, not both");
    assert!(
        err(2).starts_with("token_losses_npy: ") && err(2).ends_with("text.npy: not a .npy file")
    );
    assert!(
        err(3).ends_with("header of 1048576 bytes, more than the 65536 accepted"),
        "{}",
        err(3)
    );
    assert!(
        err(4).starts_with("token_losses_npy: ") && err(4).contains("missing.npy: "),
        "{}",
        err(4)
    );
    assert!(got[5]["forecasts"].is_array());
    let e = neuneu::io::npy::read_npy_f32(dir.join("text.npy")).unwrap_err();
    assert!(matches!(e, Error::Parse(_)));
}

#[test]
fn io_errors_through_the_rust_api_the_cli_and_the_c_abi() {
    documented("## `Error::Io` — `<path>: <os error>`");
    let e = Engine::from_path("/nonexistent/x.nnb").unwrap_err();
    assert!(
        matches!(&e, Error::Io { path, .. } if path == "/nonexistent/x.nnb"),
        "{e:?}"
    );
    let (code, _, err) = cli_run(&["forecast", "/nonexistent/requests.jsonl"], "");
    assert_eq!(code, 2);
    assert!(
        err.starts_with("neuneu: /nonexistent/requests.jsonl: "),
        "{err}"
    );
    let (code, _, err) = cli_run(&["forecast", "-", "--model", "/nonexistent/x.nnb"], "");
    assert_eq!(code, 2);
    assert!(err.starts_with("neuneu: /nonexistent/x.nnb: "), "{err}");
    let mut h = std::ptr::null_mut();
    let rc = unsafe { neuneu_engine_new_from_path(&mut h, c"/nonexistent/x.nnb".as_ptr()) };
    assert_eq!(rc, neuneu_status::NEUNEU_ERR_IO as i32);
    assert!(last_error().starts_with("/nonexistent/x.nnb: "));
}

#[test]
fn cuda_asked_for_where_it_cannot_run() {
    if neuneu::cuda::cuda_unavailable_reason().is_none() {
        eprintln!("SKIP: a CUDA device is present here, so the backend does not fail");
        return;
    }
    documented("## `Error::Cuda` — `cuda: <message>`");
    let e = Engine::from_bytes_with_backend(DEFAULT_BUNDLE, neuneu::cuda::Backend::Cuda);
    assert!(matches!(e, Err(Error::Cuda(_))), "{e:?}");
    let mut h = std::ptr::null_mut();
    let rc = unsafe {
        neuneu_engine_new(
            &mut h,
            std::ptr::null(),
            0,
            neuneu_backend::NEUNEU_BACKEND_CUDA as i32,
        )
    };
    assert_eq!(rc, neuneu_status::NEUNEU_ERR_CUDA as i32);
    assert!(last_error().starts_with("cuda: "));
    let (code, _, err) = cli_run(&["forecast", "-", "--backend", "cuda"], "");
    assert_eq!(code, 2);
    assert!(err.starts_with("neuneu: cuda: "), "{err}");
}

#[test]
fn the_c_abi_own_statuses() {
    documented("adds NULL_POINTER, BUFFER_TOO_SMALL and PANIC of its own");
    let (s, a, t) = ([1.0, 2.0, 4.0], [0.3, 0.35, 0.4], [16.0]);
    let call = |engine: *const neuneu_engine, ctx: [usize; 2], cap: usize| {
        let mut out = vec![0.0f32; cap];
        let tgt = [0usize, 1];
        let rc = unsafe {
            neuneu_forecast(
                engine,
                1,
                s.as_ptr(),
                a.as_ptr(),
                ctx.as_ptr(),
                t.as_ptr(),
                tgt.as_ptr(),
                std::ptr::null(),
                std::ptr::null(),
                0,
                0,
                out.as_mut_ptr(),
                cap,
                std::ptr::null_mut(),
            )
        };
        (rc, last_error())
    };
    let (rc, m) = call(std::ptr::null(), [0, 3], 5);
    assert_eq!(
        (rc, m.as_str()),
        (
            neuneu_status::NEUNEU_ERR_NULL_POINTER as i32,
            "engine is NULL"
        )
    );
    let (rc, m) = call(c_engine(), [0, 3], 4);
    assert_eq!(rc, neuneu_status::NEUNEU_ERR_BUFFER_TOO_SMALL as i32, "{m}");
    let (rc, m) = call(c_engine(), [1, 3], 5);
    assert_eq!(
        (rc, m.as_str()),
        (INVALID_ARGUMENT, "context_offsets[0] must be 0, not 1")
    );
    let (rc, m) = call(c_engine(), [0, 3], 5);
    assert_eq!(rc, 0, "{m}");
    let ctx = [0usize, 3, 2];
    let tgt = [0usize, 1, 1];
    let mut out = [0.0f32; 10];
    let rc = unsafe {
        neuneu_forecast(
            c_engine(),
            2,
            s.as_ptr(),
            a.as_ptr(),
            ctx.as_ptr(),
            t.as_ptr(),
            tgt.as_ptr(),
            std::ptr::null(),
            std::ptr::null(),
            0,
            0,
            out.as_mut_ptr(),
            10,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(
        (rc, last_error().as_str()),
        (
            INVALID_ARGUMENT,
            "context_offsets decrease at index 2: 2 after 3"
        )
    );
    assert_eq!(neuneu_test_panic(), neuneu_status::NEUNEU_ERR_PANIC as i32);
    assert!(last_error().contains("panic caught at the C boundary"));
}

#[test]
fn graph_inputs_of_the_wrong_length_are_refused_before_tract() {
    // `ForecasterRows` has public fields: rows that disagree with their buffers are an error.
    documented("rows of <w> need <m>");
    let mut rows = neuneu::ForecasterRows::new(engine().architecture(), 2);
    rows.rows = 3;
    let msg = engine().run_forecaster(&rows).unwrap_err().to_string();
    assert!(
        msg.starts_with("inference: forecaster: input 0 has"),
        "{msg}"
    );
    let msg = engine().run_encoder(2, &[0.5; 7]).unwrap_err().to_string();
    assert!(
        msg.starts_with("inference: loss_encoder: input 0 has 7 values"),
        "{msg}"
    );
}

#[test]
fn sweep_errors_through_the_rust_api_and_the_cli() {
    use neuneu::sweep::{Sweep, SweepOptions};
    use neuneu::{Direction, Metric, MetricKind, Policy};
    let engine = std::sync::Arc::new(Engine::embedded().unwrap());
    let mut options = SweepOptions::new(Policy::KeepTopK { k: 1 });
    options.end_step = Some(100.0);
    let mut sweep = Sweep::new(engine.clone(), options.clone()).unwrap();
    let msg = |r: neuneu::Result<()>| r.unwrap_err().to_string();
    sweep.observe("a", 2.0, 0.3).unwrap();
    let cases = [
        (
            msg(sweep.observe("a", -1.0, 0.3)),
            "is not a finite non-negative number",
        ),
        (msg(sweep.observe("a", 1.0, 0.3)), "is before the last step"),
        (msg(sweep.observe("a", 2.0, 0.4)), "which already has"),
        (
            msg(sweep.observe("a", 3.0, f64::NAN)),
            "is not a finite number",
        ),
        (
            msg(sweep.observe("a", 3.0, 1.5)),
            "is outside [0, 1] (a bounded metric; ",
        ),
        (msg(sweep.finish("nobody")), "no such arm in the sweep"),
        (
            msg(sweep.observe_losses("a", 7.0, &[1.0])),
            ": observe it first",
        ),
        (
            msg(sweep.set_end("a", 0.0)),
            "is not a positive finite number",
        ),
    ];
    for (got, want) in cases {
        assert!(got.starts_with("run ") && got.contains(want), "{got}");
        documented(want);
    }
    let mut loss = options.clone();
    loss.metric = Metric::new(MetricKind::Loss, Direction::Minimize);
    let mut l = Sweep::new(engine.clone(), loss).unwrap();
    let neg = msg(l.observe("a", 1.0, -0.5));
    assert!(
        neg.contains("is negative (a loss metric is non-negative; a negated loss is of kind"),
        "{neg}"
    );
    documented("is negative (a loss metric is non-negative; ...)");
    sweep.stop("a").unwrap();
    let stopped = msg(sweep.observe("a", 3.0, 0.3));
    assert!(stopped.contains("the arm is stopped"), "{stopped}");
    let refinish = msg(sweep.finish("a"));
    assert!(refinish.contains("the arm was stopped"), "{refinish}");
    sweep.observe("b", 1.0, 0.3).unwrap();
    sweep.finish("b").unwrap();
    assert!(msg(sweep.stop("b")).contains("the arm is finished"));
    sweep.set_end("c", 10.0).unwrap();
    let empty = msg(sweep.finish("c"));
    assert!(empty.contains("a finished arm needs a value"), "{empty}");
    for text in ["`the arm is finished`", "`a finished arm needs a value`"] {
        documented(text);
    }
    let k0 = Sweep::new(engine.clone(), SweepOptions::new(Policy::KeepTopK { k: 0 }));
    assert_eq!(k0.unwrap_err().to_string(), "policy.k: must be at least 1");
    documented("`policy.k: must be at least 1`");
    let bad = Sweep::load(engine, b"{}").unwrap_err().to_string();
    assert!(bad.starts_with("saved sweep: "), "{bad}");
    documented("`saved sweep: <serde error>`");
    // Through the CLI: the refused event's message, and the stream's own errors.
    let events = "{\"decide\": {}}\n{\"launch\": 1}\n";
    let (code, out, _) = cli_run(&["sweep", "-"], events);
    assert_eq!(code, 1);
    assert!(
        out.contains("no sweep yet: start with a create or load event"),
        "{out}"
    );
    assert!(out.contains("invalid event: "), "{out}");
    documented("`no sweep yet: start");
    documented("`invalid event: <serde error>`");

    // Adapting to the sweep's finished arms: "b" finished after one point, "a" was stopped.
    let few = neuneu::adapt::sweep::adapt_to_sweep(
        neuneu::model::bundle::Bundle::from_bytes(neuneu::inference::engine::DEFAULT_BUNDLE)
            .unwrap(),
        &sweep,
        neuneu::model::inputs::LossSummary::MeanP,
        &neuneu::adapt::AdaptOptions::default(),
    )
    .unwrap_err()
    .to_string();
    let min = engine_min_context();
    assert_eq!(
        few,
        format!(
            "sweep: 0 finished arm(s) with at least {min} points (the model's minimum context), 1 more finished with fewer; adapting needs at least 5"
        )
    );
    documented("`<n> finished arm(s) with at least <c> points (the model's minimum context)");
    let events = "{\"create\": {\"policy\": {\"kind\": \"keep_top_k\", \"k\": 1}}}\n\
                  {\"adapt\": {\"loss_summary\": \"mode\"}}\n{\"adapt\": {}}\n";
    let (code, out, _) = cli_run(&["sweep", "-"], events);
    assert_eq!(code, 1);
    assert!(
        out.contains("loss_summary: unknown loss summary \\\"mode\\\" (mean-p or p-histogram)"),
        "{out}"
    );
    assert!(out.contains("0 finished arm(s) with at least"), "{out}");
    documented("`unknown loss summary \"<s>\" (mean-p or p-histogram)`");
    documented("`this stream was not given its model's bundle to adapt`");
}

fn engine_min_context() -> usize {
    Engine::embedded()
        .unwrap()
        .manifest()
        .preparation
        .min_context
}

#[test]
fn a_curve_file_with_values_outside_the_unit_interval_is_refused_not_clamped() {
    let dir = scratch_dir("loss-curves");
    let file = dir.join("val-loss.csv");
    std::fs::write(
        &file,
        "suite,run,shots,task,step,tokens,acc\ns,r,0,val_loss,1,10,4.9\ns,r,0,val_loss,2,20,3.1\n",
    )
    .unwrap();
    let (code, _, err) = cli_run(&["eval", file.to_str().unwrap()], "");
    assert_eq!(code, 2);
    assert!(
        err.contains("val-loss.csv: line 2: `acc`: 4.9 is outside [0, 1]")
            && err.contains("the file is read as metric bounded:maximize"),
        "{err}"
    );
    documented(": <v> is outside [0, 1] (a bounded metric; ...); the file is read as metric");
    // Read as what it is, the same file is scored, in its own units.
    let (code, out, err) = cli_run(&["eval", file.to_str().unwrap(), "--metric", "loss"], "");
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("metric: loss, minimized"), "{out}");
}

#[test]
fn a_loss_file_with_a_negative_or_nan_value_is_refused_with_file_line_and_value() {
    let dir = scratch_dir("bad-loss-curves");
    for (value, says) in [
        (
            "-0.1",
            "`acc`: -0.1 is negative (a loss metric is non-negative; a negated loss is of kind \
             `neg_loss`)",
        ),
        ("NaN", "`acc`: NaN is not a finite number"),
    ] {
        let file = dir.join("val-loss.csv");
        std::fs::write(
            &file,
            format!(
                "suite,run,shots,task,step,tokens,acc\ns,r,0,val_loss,1,10,4.9\n\
                 s,r,0,val_loss,2,20,{value}\n"
            ),
        )
        .unwrap();
        for command in ["eval", "replay"] {
            let (code, _, err) =
                cli_run(&[command, file.to_str().unwrap(), "--metric", "loss"], "");
            assert_eq!(code, 2, "{command} {value}");
            assert!(
                err.contains(&format!("val-loss.csv: line 3: {says}")),
                "{command} {value}: {err}"
            );
        }
    }
    documented(": <v> is negative (a loss metric is non-negative; ...); ...");
    // A negated loss refuses a positive value the same way.
    let file = dir.join("neg-loss.csv");
    std::fs::write(
        &file,
        "suite,run,shots,task,step,tokens,acc\ns,r,0,neg_loss,1,10,-4.9\ns,r,0,neg_loss,2,20,0.3\n",
    )
    .unwrap();
    let (code, _, err) = cli_run(
        &["eval", file.to_str().unwrap(), "--metric", "neg_loss"],
        "",
    );
    assert_eq!(code, 2);
    assert!(
        err.contains(
            "neg-loss.csv: line 3: `acc`: 0.3 is positive (a neg_loss metric is non-positive"
        ),
        "{err}"
    );
    documented(": <v> is positive (a neg_loss metric is non-positive: ...); ...");
    documented(": <v> is not a finite number; ...");
    // A metric name that is none is refused by the option's parser.
    let (code, _, err) = cli_run(&["eval", "x.csv", "--metric", "perplexity"], "");
    assert_eq!(code, 2);
    assert!(
        err.contains("metric kind \"perplexity\": expected bounded, loss or neg_loss"),
        "{err}"
    );
    documented("metric kind \"<k>\": expected bounded, loss or neg_loss");
}
