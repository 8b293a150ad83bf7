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

/// `neuneu ARGS` must fail with `want` in its message and write nothing at `out`.
fn assert_refused(args: &[&str], want: &str, out: &std::path::Path) {
    let (code, _, err) = cli_run(args, "");
    assert_ne!(code, 0, "{args:?} was accepted");
    assert!(err.contains(want), "{args:?}: {err}");
    assert!(!out.exists(), "{args:?} wrote a bundle");
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

    // `neuneu heldout` gives the runs adapt held out; with none held out, it says so.
    let (code, rows, err) = cli_run(
        &[
            "heldout",
            curves.to_str().unwrap(),
            "--model",
            out.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(code, 0, "{err}");
    let held_runs: std::collections::BTreeSet<&str> = rows
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap())
        .collect();
    assert_eq!(held_runs.len() as u64, held, "{rows}");
    let (code, _, err) = cli_run(
        &[
            "heldout",
            curves.to_str().unwrap(),
            "--model",
            all.to_str().unwrap(),
        ],
        "",
    );
    assert_ne!(code, 0);
    assert!(err.contains("adapted with --holdout 0"), "{err}");

    // Adapted again from the adapted bundle, on other runs and with no hold-out: the first
    // adaptation's trees are gone and its band factors stay in the bands, which its data line
    // now says; none of its facts is read as the second's.
    let others = dir.join("others.csv");
    std::fs::write(&others, sweep_csv(12..20, 10)).unwrap();
    let again = dir.join("again.nnb");
    adapt(
        &others,
        &again,
        &["--holdout", "0", "--from", out.to_str().unwrap()],
    );
    let second = neuneu::model::bundle::Bundle::from_bytes(&std::fs::read(&again).unwrap())
        .unwrap()
        .manifest;
    assert_eq!(
        second.training.facts["adapted_from"],
        "neuneu-default-adapted"
    );
    assert_eq!(second.training.facts["adapt_runs_fitted"], 8);
    assert!(!second.training.facts.contains_key("adapt_band_factors"));
    let line = |prefix: &str| {
        second
            .training
            .data
            .iter()
            .find(|d| d.starts_with(prefix))
            .cloned()
            .unwrap_or_else(|| panic!("no line {prefix}: {:?}", second.training.data))
    };
    let first = line("sweep.csv ");
    assert!(
        first.contains("learned from by an earlier adapt (neuneu-default-adapted): its trees were replaced; the band factors it fitted, [")
            && first.ends_with("stay in the bands"),
        "{first}"
    );
    assert!(line("others.csv ").contains("learned from by adapt"));
    assert_eq!(
        graph(&std::fs::read(&again).unwrap()),
        graph(&std::fs::read(&out).unwrap()),
        "no hold-out: the bands are the first adaptation's"
    );

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

    // A suite of one run beside them is learned from, never held out (its share rounds to 0).
    let mixed = dir.join("mixed.csv");
    std::fs::write(
        &mixed,
        sweep_csv(0..6, 8) + &rows(0..1, 8).replace("toy,", "other,"),
    )
    .unwrap();
    adapt(&mixed, &out, &[]);
    let facts = Engine::from_path(&out)
        .unwrap()
        .manifest()
        .training
        .facts
        .clone();
    assert_eq!(
        facts["adapt_runs_fitted"].as_u64().unwrap()
            + facts["adapt_runs_held_out"].as_u64().unwrap(),
        7
    );
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
            vec![good.as_str(), "--holdout", "0.5"],
            "holding out 3 of the 6 runs to learn from leaves 3 to fit the trees on; at least 4",
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
        assert_refused(&all, want, &out);
    }
}

/// A sweep whose runs jump at their 7th checkpoint by an amount that only their token losses
/// announce (the mean of p = exp(-loss) at every checkpoint is the run's `quality`); the
/// accuracy before the jump does not depend on it.
fn quality(run: usize) -> f64 {
    0.3 + 0.1 * (run % 5) as f64
}

/// 64 token losses whose p = exp(-loss) average `quality(run)`: half at p = q + 0.2, half at
/// p = q - 0.2.
fn token_losses(run: usize) -> Vec<f32> {
    let q = quality(run) as f32;
    (0..64)
        .map(|i| -(q + if i % 2 == 0 { 0.2 } else { -0.2 }).ln())
        .collect()
}

fn hidden_jump(run: usize, k: usize) -> f64 {
    let base = 0.2 + 0.01 * k as f64 + 0.02 * (run % 3) as f64;
    if k >= 7 {
        base + 0.5 * quality(run)
    } else {
        base
    }
}

/// The curves of `runs` (10 checkpoints, one task) and a JSON loss index of their checkpoints
/// (float16 `.npy` files, as `shakespeare-lm-dev` ships them), in `dir`.
fn sweep_with_losses(
    dir: &std::path::Path,
    runs: std::ops::Range<usize>,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let mut csv = String::from("suite,run,shots,task,step,tokens,acc\n");
    let mut index = serde_json::Map::new();
    for r in runs {
        let mut files = serde_json::Map::new();
        for k in 1..=10 {
            let compute = k * 1000;
            csv.push_str(&format!(
                "toy,r{r},0,t,{k},{compute},{:.4}\n",
                hidden_jump(r, k)
            ));
            let losses = token_losses(r);
            let file = format!("r{r}_{compute}.npy");
            neuneu::io::npy::write_npy_f16(dir.join(&file), &losses).unwrap();
            files.insert(compute.to_string(), file.into());
        }
        index.insert(format!("r{r}"), files.into());
    }
    let (curves, index_path) = (dir.join("sweep.csv"), dir.join("index.json"));
    std::fs::write(&curves, csv).unwrap();
    std::fs::write(&index_path, serde_json::Value::from(index).to_string()).unwrap();
    (curves, index_path)
}

/// With `--losses`, the adapted bundle learns what the losses announce, uses it for requests
/// that give losses and keeps the plain trees for the others; `neuneu eval --losses` scores it
/// with them.
#[test]
fn adapts_to_what_token_losses_announce() {
    let dir = scratch_dir("adapt-losses");
    let (curves, index) = sweep_with_losses(&dir, 0..20);
    let (plain, with_losses) = (dir.join("plain.nnb"), dir.join("losses.nnb"));
    adapt(&curves, &plain, &[]);
    let stdout = adapt(
        &curves,
        &with_losses,
        &["--losses", index.to_str().unwrap()],
    );
    assert!(
        stdout.contains("losses of 200 checkpoints") && stdout.contains("loss trees (mean-p)"),
        "{stdout}"
    );
    let (plain, adapted) = (
        Engine::from_path(&plain).unwrap(),
        Engine::from_path(&with_losses).unwrap(),
    );
    let m = adapted.manifest();
    assert!(m.training.facts["trees_losses_rows"].as_u64().unwrap() > 0);
    assert!(
        m.training.facts["trees_losses"]
            .as_str()
            .unwrap()
            .starts_with("mean-p: fitted on real token losses")
    );
    // Adapted again without losses, the loss trees and what described them are gone.
    let again = dir.join("again.nnb");
    adapt(&curves, &again, &["--from", with_losses.to_str().unwrap()]);
    let bundle =
        neuneu::model::bundle::Bundle::from_bytes(&std::fs::read(&again).unwrap()).unwrap();
    assert!(bundle.loss_trees().unwrap().is_none());
    let facts = &bundle.manifest.training.facts;
    assert!(!facts.contains_key("trees_losses") && !facts.contains_key("trees_losses_rows"));
    assert!(
        m.training
            .data
            .iter()
            .any(|d| d.starts_with("index.json: token losses of 200 checkpoints: learned from")),
        "{:?}",
        m.training.data
    );

    // New runs, six points in, forecast at the 9th checkpoint.
    let steps: Vec<f64> = (1..=6).map(|k| (k * 1000) as f64).collect();
    let targets = [9000.0];
    let (mut off_plain, mut off_losses) = (0.0, 0.0);
    for r in 40..50 {
        let acc: Vec<f64> = (1..=6).map(|k| hidden_jump(r, k)).collect();
        let losses = token_losses(r);
        let bare = [RunInput::new(&steps, &acc, &targets)];
        let given =
            [RunInput::new(&steps, &acc, &targets).with_losses(neuneu::Losses::Tokens(&losses))];
        let median = |e: &Engine, run: &[RunInput]| {
            f64::from(e.forecast(run).unwrap()[0].forecasts[0].quantiles[2])
        };
        let truth = hidden_jump(r, 9);
        off_plain += (median(&plain, &bare) - truth).abs();
        off_losses += (median(&adapted, &given) - truth).abs();
        // Without losses the loss-adapted bundle's median is the plain trees' (the same runs
        // fitted, the same hold-out).
        assert_eq!(median(&adapted, &bare), median(&plain, &bare), "run {r}");
    }
    // Measured: 0.017 against 0.61 over the ten runs.
    assert!(
        off_losses < 0.3 * off_plain,
        "with losses off by {off_losses} in all, without {off_plain}"
    );

    // `neuneu eval --losses` gives each forecast its context's last losses.
    let (new_curves, new_index) = {
        let sub = dir.join("new");
        std::fs::create_dir_all(&sub).unwrap();
        sweep_with_losses(&sub, 40..50)
    };
    let mae = |extra: &[&str]| {
        let mut args = vec![
            "eval",
            new_curves.to_str().unwrap(),
            "--model",
            with_losses.to_str().unwrap(),
            "--context",
            "0.6",
        ];
        args.extend(extra);
        let (code, out, err) = cli_run(&args, "");
        assert_eq!(code, 0, "{args:?}: {err}");
        let row = out
            .lines()
            .find(|l| l.contains("neuneu"))
            .unwrap_or_else(|| panic!("{out}"))
            .to_string();
        row.split_whitespace()
            .filter_map(|w| w.parse::<f64>().ok())
            .nth(1)
            .unwrap_or_else(|| panic!("{row}"))
    };
    let (bare, given) = (mae(&[]), mae(&["--losses", new_index.to_str().unwrap()]));
    // Measured: 0.024 against 0.062.
    assert!(
        given < 0.5 * bare,
        "eval MAE {given} with losses, {bare} without"
    );

    // `neuneu replay --losses` plans with them (what its pruners are shown: `eval::replay`'s
    // tests).
    let (code, out, err) = cli_run(
        &[
            "replay",
            new_curves.to_str().unwrap(),
            "--model",
            with_losses.to_str().unwrap(),
            "--losses",
            new_index.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("neuneu stop P(top-3) < 0.05") && err.contains("losses of 100 checkpoints"),
        "{out}{err}"
    );
}

#[test]
fn refuses_losses_that_name_no_checkpoint_of_the_curves() {
    let dir = scratch_dir("adapt-losses-refusals");
    let (curves, _) = sweep_with_losses(&dir, 0..8);
    let stranger = dir.join("stranger.json");
    std::fs::write(&stranger, r#"{"r0": {"123": "r0_1000.npy"}}"#).unwrap();
    let out = dir.join("never.nnb");
    for (extra, want) in [
        (
            vec!["--losses", stranger.to_str().unwrap()],
            "losses: no loss vector of the index (0 read)",
        ),
        (vec!["--loss-summary", "p-histogram"], "--losses"),
        (
            vec!["--losses", "/nonexistent/index.json"],
            "/nonexistent/index.json",
        ),
    ] {
        let mut args = vec![
            "adapt",
            curves.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ];
        args.extend(extra);
        assert_refused(&args, want, &out);
    }
}

/// A sweep handle fed the hidden-jump runs: 20 finished (10 points each, with their losses),
/// one finished after its first point, one stopped, one live at six points.
fn fed_sweep(engine: std::sync::Arc<Engine>) -> neuneu::sweep::Sweep {
    use neuneu::decisions::killplan::Policy;
    use neuneu::sweep::{Sweep, SweepOptions};
    let mut options = SweepOptions::new(Policy::KeepTopK { k: 3 });
    options.end_step = Some(10_000.0);
    let mut sweep = Sweep::new(engine, options).unwrap();
    let feed = |sweep: &mut Sweep, r: usize, points: usize| {
        let arm = format!("r{r}");
        for k in 1..=points {
            let step = (k * 1000) as f64;
            sweep.observe(&arm, step, hidden_jump(r, k)).unwrap();
            sweep.observe_losses(&arm, step, &token_losses(r)).unwrap();
        }
        arm
    };
    for r in 0..20 {
        let arm = feed(&mut sweep, r, 10);
        sweep.finish(&arm).unwrap();
    }
    let early = feed(&mut sweep, 20, 1);
    sweep.finish(&early).unwrap();
    let cut = feed(&mut sweep, 21, 4);
    sweep.stop(&cut).unwrap();
    feed(&mut sweep, 44, 6);
    sweep
}

/// `adapt::sweep`: a sweep's finished arms teach a model in process (their losses too), which
/// the same sweep then goes on with; arms that cannot teach are named, and too few finished
/// arms are refused with how many there are.
#[test]
fn adapts_to_a_sweeps_finished_arms_and_the_sweep_goes_on_with_it() {
    use neuneu::adapt::sweep::{FinishedArms, adapt_to_sweep};
    use neuneu::adapt::{AdaptOptions, MIN_RUNS};
    use neuneu::model::bundle::Bundle;
    use neuneu::model::inputs::LossSummary;
    use std::sync::Arc;
    let base = || Bundle::from_bytes(neuneu::inference::engine::DEFAULT_BUNDLE).unwrap();
    let mut sweep = fed_sweep(Arc::new(Engine::embedded().unwrap()));
    // The finished arms only: 20 full ones and the early one.
    assert_eq!(FinishedArms::of(&sweep).len(), 21);
    let adapted =
        adapt_to_sweep(base(), &sweep, LossSummary::MeanP, &AdaptOptions::default()).unwrap();
    assert_eq!(adapted.runs_fitted + adapted.runs_held_out, 20);
    assert!(adapted.runs_held_out > 0 && adapted.rows.with_losses > 0);
    assert!(
        adapted.left_out.contains(&"sweep/r20".to_string()),
        "{:?}",
        adapted.left_out
    );
    let data = &adapted.bundle.manifest.training.data;
    assert!(
        data.iter()
            .any(|d| d.contains("20 runs of sweep/bounded:maximize given in memory"))
            && data
                .iter()
                .any(|d| d.contains("token losses of 200 checkpoints")),
        "{data:?}"
    );
    assert_eq!(
        adapted.bundle.manifest.training.facts["adapt_command"],
        "adapt to a sweep's finished arms: holdout 0.2, seed 17, loss summary mean-p"
    );

    // The same model as `neuneu adapt` (Python `neuneu.adapt`) fits to the same runs given in
    // memory, in another order (r0, r1, r2, ... against the sweep's by id, r0, r1, r10, ...): the
    // trees, the loss trees and the recalibrated forecaster are byte for byte equal.
    {
        use neuneu::adapt::input::{AdaptInput, RunCurve};
        let ids: Vec<String> = (0..20).map(|r| format!("r{r}")).collect();
        let runs: Vec<RunCurve<'_>> = ids
            .iter()
            .map(|id| {
                let (steps, values) = sweep.points(id).unwrap();
                RunCurve {
                    run: id,
                    steps,
                    values,
                }
            })
            .collect();
        let mut input = AdaptInput::default();
        input
            .add_runs("runs", "metric", &runs, sweep.options().metric)
            .unwrap();
        let losses = ids
            .iter()
            .flat_map(|id| {
                sweep
                    .losses(id)
                    .into_iter()
                    .map(|(s, l)| (id.clone(), s, l.to_vec()))
            })
            .collect();
        input.add_run_losses("runs", losses).unwrap();
        let direct = input
            .adapt(base(), LossSummary::MeanP, "test", &AdaptOptions::default())
            .unwrap();
        assert_eq!(direct.bundle.graphs, adapted.bundle.graphs);
    }

    // The live arm (run 44, six points) jumps at its 7th point by what its losses announce:
    // the default model cannot know, the adapted one learned it from the finished arms.
    let truth = hidden_jump(44, 10);
    let median_at_end =
        |sweep: &neuneu::sweep::Sweep| sweep.forecast("r44", &[10_000.0]).unwrap()[0][2];
    let before = (median_at_end(&sweep) - truth).abs();
    let engine = Arc::new(Engine::from_bundle(adapted.bundle).unwrap());
    sweep.set_engine(engine.clone());
    let after = (median_at_end(&sweep) - truth).abs();
    // Measured: 0.38 off before, 0.002 after.
    assert!(
        after < 0.3 * before,
        "off by {after} adapted, {before} before"
    );
    // Its decisions, and a saved copy, go on with the adapted model.
    sweep.decide(None).unwrap();
    let saved = sweep.save();
    assert!(neuneu::sweep::Sweep::load(engine, &saved).is_ok());
    // A model adapted from the same base to other arms has the same name, not the same
    // weights: the saved sweep refuses it. A save without `model_sha256` is checked by name.
    let other_options = AdaptOptions {
        seed: 3,
        ..AdaptOptions::default()
    };
    let other = adapt_to_sweep(base(), &sweep, LossSummary::MeanP, &other_options).unwrap();
    let other = Arc::new(Engine::from_bundle(other.bundle).unwrap());
    let refused = neuneu::sweep::Sweep::load(other.clone(), &saved)
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("saved with other weights of the model \"neuneu-default-adapted\""),
        "{refused}"
    );
    let mut by_name: serde_json::Value = serde_json::from_slice(&saved).unwrap();
    by_name
        .as_object_mut()
        .unwrap()
        .remove("model_sha256")
        .unwrap();
    assert!(neuneu::sweep::Sweep::load(other, by_name.to_string().as_bytes()).is_ok());

    // Too few finished arms: refused, with the count and what is needed.
    let mut few = neuneu::sweep::Sweep::new(
        Arc::new(Engine::embedded().unwrap()),
        sweep.options().clone(),
    )
    .unwrap();
    for r in 0..3 {
        for k in 1..=10 {
            few.observe(&format!("r{r}"), (k * 1000) as f64, hidden_jump(r, k))
                .unwrap();
        }
        few.finish(&format!("r{r}")).unwrap();
    }
    let min_points = few.engine().manifest().preparation.min_context;
    assert!(min_points > 1);
    few.observe("young", 1000.0, 0.2).unwrap();
    few.finish("young").unwrap();
    let err = adapt_to_sweep(base(), &few, LossSummary::MeanP, &AdaptOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!(
            "3 finished arm(s) with at least {min_points} points"
        )) && err.contains("1 more finished with fewer")
            && err.contains(&format!("at least {MIN_RUNS}")),
        "{err}"
    );
}
