//! Huge inputs are handled in bounded memory or refused with an error, never an abort or an
//! hour-long stall. The tests that measure peak memory (`VmHWM`) run `isolated`, in a process
//! of their own, so that the peak is theirs and not that of the tests beside them.

use crate::common::{assert_sane_forecast, engine, isolated, peak_rss_mib, scratch_dir};
use neuneu::{Losses, RunInput};

#[test]
fn a_hundred_thousand_runs_in_one_batch_in_bounded_memory() {
    if !isolated(
        module_path!(),
        "a_hundred_thousand_runs_in_one_batch_in_bounded_memory",
    ) {
        return;
    }
    const N: usize = 100_000;
    let data: Vec<([f64; 3], [f64; 3], [f64; 1])> = (0..N)
        .map(|i| {
            let k = 1.0 + (i % 97) as f64;
            let a = 0.2 + (i % 13) as f64 * 0.01;
            ([k, 2.0 * k, 4.0 * k], [a, a + 0.02, a + 0.03], [16.0 * k])
        })
        .collect();
    let runs: Vec<RunInput> = data
        .iter()
        .map(|(s, a, t)| RunInput::new(s, a, t))
        .collect();
    engine().forecast(&runs[..1]).unwrap(); // plan built outside the measurement
    let before = peak_rss_mib();
    let started = std::time::Instant::now();
    let out = engine().forecast(&runs).unwrap();
    let after = peak_rss_mib();
    assert_eq!(out.len(), N);
    // Runs at chunk boundaries equal the same run forecast alone (chunking changes no bit).
    for i in [0, 1023, 1024, 1025, 50_000, N - 1] {
        assert_eq!(
            engine().forecast(&runs[i..=i]).unwrap()[0],
            out[i],
            "run {i}"
        );
    }
    if let (Some(b), Some(a)) = (before, after) {
        // Rows of all 100k runs at once were 140 MB; the answers themselves take ~15 MB.
        eprintln!(
            "100k runs: {:.1} s, peak RSS {b:.0} -> {a:.0} MiB",
            started.elapsed().as_secs_f64()
        );
        assert!(a - b < 80.0, "peak RSS grew by {:.0} MiB", a - b);
    }
}

#[test]
fn one_run_with_thousands_of_targets_spans_row_chunks_exactly() {
    let (s, a) = ([1.0, 2.0, 4.0, 8.0], [0.3, 0.35, 0.4, 0.42]);
    let targets: Vec<f64> = (0..2500).map(|i| 9.0 + i as f64).collect();
    let all = engine()
        .forecast(&[RunInput::new(&s, &a, &targets)])
        .unwrap();
    assert_eq!(all[0].forecasts.len(), targets.len());
    for i in [0, 1023, 1024, 2047, 2048, 2499] {
        let one = engine()
            .forecast(&[RunInput::new(&s, &a, &targets[i..=i])])
            .unwrap();
        assert_eq!(one[0].forecasts[0], all[0].forecasts[i], "target {i}");
    }
}

#[test]
fn ten_million_token_losses_are_forecast() {
    let losses: Vec<f32> = (0..10_000_000).map(|i| (i % 1000) as f32 / 200.0).collect();
    let (s, a, t) = ([1.0, 2.0, 4.0], [0.3, 0.35, 0.4], [16.0]);
    let run = RunInput::new(&s, &a, &t).with_losses(Losses::Tokens(&losses));
    let out = engine().forecast(&[run]).unwrap();
    assert!(out[0].forecasts[0].quantiles.iter().all(|q| q.is_finite()));
}

#[test]
fn a_million_point_context_is_thinned_and_forecast() {
    let n = 1_000_000;
    let s: Vec<f64> = (1..=n).map(|i| i as f64).collect();
    let a: Vec<f64> = (1..=n)
        .map(|i| 0.2 + 0.3 * (i as f64 / n as f64).sqrt())
        .collect();
    let t = [2.0 * n as f64];
    let out = engine().forecast(&[RunInput::new(&s, &a, &t)]).unwrap();
    assert_eq!(out[0].forecasts.len(), 1);
    assert_sane_forecast(engine(), &out[0]);
}

#[test]
fn endless_or_huge_npy_files_are_refused_after_a_bounded_read() {
    if !isolated(
        module_path!(),
        "endless_or_huge_npy_files_are_refused_after_a_bounded_read",
    ) {
        return;
    }
    let started = std::time::Instant::now();
    let e = neuneu::io::npy::read_npy_f32("/dev/zero")
        .unwrap_err()
        .to_string();
    assert!(e.ends_with("not a .npy file"), "{e}");
    let dir = scratch_dir("huge-npy");
    // A valid header over an endless body is the worst case: it must stop at the announced
    // length plus one byte. A 1-value header over 64 MiB of data is refused as too long.
    let p = dir.join("long.npy");
    neuneu::io::npy::write_npy_f32(&p, &[1.0]).unwrap();
    let mut bytes = std::fs::read(&p).unwrap();
    bytes.resize(bytes.len() + (64 << 20), 0);
    std::fs::write(&p, &bytes).unwrap();
    // `bytes` stays alive: the peak already holds it, so reading the file whole would add
    // another 64 MiB on top and show.
    let before = peak_rss_mib();
    let e = neuneu::io::npy::read_npy_f32(&p).unwrap_err().to_string();
    drop(bytes);
    assert!(e.contains("5 data bytes for 1 values"), "{e}");
    if let (Some(b), Some(a)) = (before, peak_rss_mib()) {
        assert!(
            a - b < 16.0,
            "reading a 64 MiB file grew the peak by {:.0} MiB",
            a - b
        );
    }
    let line = r#"{"steps": [1, 2], "accuracy": [0.3, 0.4], "target_steps": [4], "token_losses_npy": "/dev/zero"}"#;
    let parsed = neuneu::io::request::parse_line(line, std::path::Path::new("/"));
    assert!(
        parsed
            .request
            .unwrap_err()
            .to_string()
            .contains("not a .npy file")
    );
    assert!(started.elapsed().as_secs() < 30);
}

#[test]
fn a_billion_samples_are_refused() {
    let sweep = r#"{"end_step": 64, "policy": {"kind": "keep_top_k", "k": 1}, "samples": 1000000000,
        "arms": [{"id": "a", "steps": [1, 2, 4], "accuracy": [0.3, 0.35, 0.4]},
                 {"id": "b", "steps": [1, 2, 4], "accuracy": [0.2, 0.3, 0.45]}]}"#;
    let started = std::time::Instant::now();
    let e = neuneu::io::request::plan_request(engine(), sweep)
        .unwrap_err()
        .to_string();
    assert_eq!(e, "samples: 1000000000; at most 1000000 are supported");
    assert!(started.elapsed().as_secs() < 5);
}
