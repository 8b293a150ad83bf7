//! `neuneu adapt` end to end on small generated sweeps: the adapted bundle learns the sweep's
//! schedule (its forecasts of a new run of that sweep beat the base model's), its manifest says
//! what it learned from, and bad input is refused with a message saying what is wrong.

use crate::common::{cli_run, scratch_dir};
use neuneu::{Engine, RunInput};

/// A sweep whose runs all jump by 0.25 between their 6th and 7th checkpoints (a learning-rate
/// drop, say): nothing in a run's first six points announces it, but every finished run shows
/// it. `run` sets each run's level.
fn accuracy(run: usize, k: usize) -> f64 {
    let base = 0.2 + 0.01 * run as f64 + 0.01 * k as f64;
    if k >= 7 { base + 0.25 } else { base }
}

fn sweep_csv(runs: std::ops::Range<usize>, points: usize) -> String {
    let mut csv = String::from("suite,run,shots,task,step,tokens,acc\n");
    for r in runs {
        for task in ["a", "b"] {
            for k in 1..=points {
                csv.push_str(&format!(
                    "toy,r{r},0,{task},{k},{},{:.4}\n",
                    k * 1000,
                    accuracy(r, k)
                ));
            }
        }
    }
    csv
}

/// `neuneu adapt CURVES -o OUT EXTRA...`, which must succeed; its stdout.
fn adapt(curves: &std::path::Path, out: &std::path::Path, extra: &[&str]) -> String {
    let mut args = vec![
        "adapt",
        curves.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ];
    args.extend(extra);
    let (code, stdout, err) = cli_run(&args, "");
    assert_eq!(code, 0, "{args:?}: {err}");
    stdout
}

/// The rows of `sweep_csv`, without its header line.
fn rows(runs: std::ops::Range<usize>, points: usize) -> String {
    sweep_csv(runs, points)
        .split_once('\n')
        .unwrap()
        .1
        .to_string()
}

#[test]
fn adapts_to_a_sweeps_schedule_and_records_it() {
    let dir = scratch_dir("adapt");
    let curves = dir.join("sweep.csv");
    std::fs::write(&curves, sweep_csv(0..12, 10)).unwrap();
    let out = dir.join("adapted.nnb");
    let stdout = adapt(&curves, &out, &[]);
    assert!(stdout.contains("runs held out"), "{stdout}");
    let adapted = Engine::from_path(&out).unwrap();
    let m = adapted.manifest();
    assert_eq!(m.name, "neuneu-default-adapted");
    assert!(
        m.training
            .data
            .iter()
            .any(|d| d.starts_with("sweep.csv (24 curves of 12 runs)")),
        "{:?}",
        m.training.data
    );
    let facts = &m.training.facts;
    assert_eq!(facts["adapted_from"], "neuneu-default");
    let (fitted, held) = (
        facts["adapt_runs_fitted"].as_u64().unwrap(),
        facts["adapt_runs_held_out"].as_u64().unwrap(),
    );
    assert_eq!(fitted + held, 12);
    assert!(held >= 1, "{facts:?}");
    assert!(
        m.validation.contains_key("neuneu/all") && m.validation_protocol.contains("neuneu adapt")
    );
    assert!(
        !facts.contains_key("trees_command"),
        "the base's trees are gone"
    );
    // The bands were recalibrated on the held-out runs: one factor a level, 1 at the median,
    // written into the forecaster graph (the base's graph is not the adapted one's).
    let factors = facts["adapt_band_factors"].as_array().unwrap();
    assert_eq!(factors.len(), 5);
    assert_eq!(factors[2], 1.0);
    assert!(stdout.contains("bands recalibrated"), "{stdout}");
    let graph = |bytes: &[u8]| {
        neuneu::model::bundle::Bundle::from_bytes(bytes)
            .unwrap()
            .graphs[neuneu::model::bundle::FORECASTER]
            .clone()
    };
    let base_graph = graph(neuneu::inference::engine::DEFAULT_BUNDLE);
    assert_ne!(graph(&std::fs::read(&out).unwrap()), base_graph);

    // With no hold-out, the trees see every run and the network is the base's, bit for bit.
    let all = dir.join("all.nnb");
    adapt(&curves, &all, &["--holdout", "0"]);
    assert_eq!(graph(&std::fs::read(&all).unwrap()), base_graph);
    let all_facts = Engine::from_path(&all)
        .unwrap()
        .manifest()
        .training
        .facts
        .clone();
    assert_eq!(all_facts["adapt_runs_fitted"], 12);
    assert!(!all_facts.contains_key("adapt_band_factors"));

    // A new run of the same sweep, six points in: the adapted bundle expects the jump.
    let (r, steps): (usize, Vec<f64>) = (20, (1..=6).map(|k| (k * 1000) as f64).collect());
    let acc: Vec<f64> = (1..=6).map(|k| accuracy(r, k)).collect();
    let target = 9000.0;
    let truth = accuracy(r, 9);
    let targets = [target];
    let run = [RunInput::new(&steps, &acc, &targets)];
    let median = |e: &Engine| f64::from(e.forecast(&run).unwrap()[0].forecasts[0].quantiles[2]);
    let base = Engine::embedded().unwrap();
    let (ours, theirs) = (
        (median(&adapted) - truth).abs(),
        (median(&base) - truth).abs(),
    );
    // Each increment of the band is the base's times its level's factor (the trees move the
    // whole band, not its increments; the factors are recorded to 0.01).
    let (q, b) = (
        adapted.forecast(&run).unwrap()[0].forecasts[0]
            .quantiles
            .clone(),
        base.forecast(&run).unwrap()[0].forecasts[0]
            .quantiles
            .clone(),
    );
    for (j, inner) in [(0, 1), (1, 2), (3, 2), (4, 3)] {
        let f = factors[j].as_f64().unwrap() as f32;
        let (ours, theirs) = (q[j] - q[inner], b[j] - b[inner]);
        assert!(
            (ours - f * theirs).abs() <= 0.006 * theirs.abs() + 1e-5,
            "level {j}: {ours} vs {f} x {theirs} ({q:?} vs {b:?})"
        );
    }
    // Measured: 0.006 against 0.27.
    assert!(
        ours < 0.1 * theirs,
        "adapted off by {ours}, the base model by {theirs}"
    );
}

/// Runs killed early (too short for a training row) are left out, named, and counted in the
/// manifest; the others are learned from.
#[test]
fn leaves_out_runs_too_short_to_learn_from() {
    let dir = scratch_dir("adapt-short");
    let curves = dir.join("sweep.csv");
    std::fs::write(&curves, sweep_csv(0..6, 8) + &rows(6..8, 3)).unwrap();
    let out = dir.join("adapted.nnb");
    let stdout = adapt(&curves, &out, &[]);
    assert!(
        stdout
            .contains("left out 2 run(s) with no curve long enough to learn from (toy/r6, toy/r7)"),
        "{stdout}"
    );
    let facts = Engine::from_path(&out)
        .unwrap()
        .manifest()
        .training
        .facts
        .clone();
    assert_eq!(facts["adapt_runs_left_out"], 2);
    let used = facts["adapt_runs_fitted"].as_u64().unwrap()
        + facts["adapt_runs_held_out"].as_u64().unwrap();
    assert_eq!(used, 6);
}

#[test]
fn refuses_what_it_cannot_adapt_to_with_a_clear_message() {
    let dir = scratch_dir("adapt-refusals");
    let out = dir.join("never.nnb");
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let misspelt = write(
        "misspelt.csv",
        &sweep_csv(0..6, 8).replacen("tokens", "token", 1),
    );
    let extra = write(
        "extra.csv",
        &sweep_csv(0..6, 8).replacen("acc\n", "acc,lr\n", 1),
    );
    let one_run = write("one.csv", &sweep_csv(0..1, 8));
    // Rows of runs `runs` with `points` points, without the header line.
    let rows = |runs, points| {
        sweep_csv(runs, points)
            .split_once('\n')
            .unwrap()
            .1
            .to_string()
    };
    let one_point = write("one-point.csv", &(sweep_csv(0..6, 8) + &rows(6..7, 1)));
    let few_long = write("few-long.csv", &(sweep_csv(0..4, 8) + &rows(4..6, 3)));
    let good = write("good.csv", &sweep_csv(0..6, 8));
    for (args, want) in [
        (vec![misspelt.as_str()], "unknown column(s) `token`"),
        (vec![extra.as_str()], "unknown column(s) `lr`"),
        (
            vec![one_run.as_str()],
            "1 run(s) to learn from; adapting needs the curves of at least 5",
        ),
        (
            vec![one_point.as_str()],
            "1 run(s) shorter than the model's minimum context of 2 points in every curve (toy/r6)",
        ),
        (
            vec![few_long.as_str()],
            "4 run(s) to learn from (2 more too short to learn from",
        ),
        (
            vec![good.as_str(), "--holdout", "1"],
            "holdout: 1 is not in [0, 1)",
        ),
        (
            vec![good.as_str(), "--context", "0"],
            "context: 0 is not in (0, 1)",
        ),
        (
            vec![good.as_str(), "--from", "/nonexistent.nnb"],
            "/nonexistent.nnb",
        ),
    ] {
        let mut all = vec!["adapt"];
        all.extend(args);
        all.extend(["-o", out.to_str().unwrap()]);
        let (code, _, err) = cli_run(&all, "");
        assert_ne!(code, 0, "{all:?} was accepted");
        assert!(err.contains(want), "{all:?}: {err}");
        assert!(!out.exists(), "{all:?} wrote a bundle");
    }
}
