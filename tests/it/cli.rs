//! The `neuneu` command line: forecast (JSON Lines in, JSON Lines out), inspect, and errors.

use crate::common::{cli_run as neuneu, scratch_dir};

#[test]
fn forecasts_the_example_file() {
    let (code, out, err) = neuneu(&["forecast", "examples/requests.jsonl"], "");
    assert_eq!(code, 0, "{err}");
    let requests = std::fs::read_to_string("examples/requests.jsonl").unwrap();
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), requests.lines().count());
    for (resp, req) in lines.iter().zip(requests.lines()) {
        let req: serde_json::Value = serde_json::from_str(req).unwrap();
        assert_eq!(resp["id"], req["id"]);
        assert_eq!(
            resp["levels"],
            serde_json::json!([0.1, 0.25, 0.5, 0.75, 0.9])
        );
        let f = resp["forecasts"].as_array().unwrap();
        assert_eq!(f.len(), req["target_steps"].as_array().unwrap().len());
        let q: Vec<f64> = f[0]["quantiles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert!(q.windows(2).all(|w| w[0] <= w[1]));
    }
}

#[test]
fn a_bad_line_gets_its_own_error_and_the_exit_status_says_so() {
    let input = concat!(
        r#"{"id": "ok", "steps": [1, 2, 4], "accuracy": [0.3, 0.35, 0.4], "target_steps": [16]}"#,
        "\n",
        r#"{"id": "bad", "steps": [1, 2, 4], "accuracy": [0.3, 0.35, 1.4], "target_steps": [16]}"#,
        "\n",
        "not json\n",
        r#"{"id": 7, "steps": [1, 2], "accuracy": [0.3, 0.35], "target_steps": [8], "token_losses": [0.5, 1.0, 2.0]}"#,
        "\n",
    );
    let (code, out, _) = neuneu(&["forecast", "-"], input);
    assert_eq!(code, 1);
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    assert!(lines[0]["forecasts"].is_array());
    assert!(
        lines[1]["error"].as_str().unwrap().contains("accuracy"),
        "{}",
        lines[1]
    );
    assert!(
        lines[2]["error"]
            .as_str()
            .unwrap()
            .contains("invalid request")
    );
    assert_eq!(lines[3]["id"], 7);
    assert!(lines[3]["forecasts"].is_array());
}

#[test]
fn answers_a_thousand_runs_in_one_process() {
    let mut input = String::new();
    for i in 0..1000 {
        let n = 2 + i % 20;
        let steps: Vec<f64> = (1..=n).map(|k| (k * 1000) as f64).collect();
        let acc: Vec<f64> = (1..=n)
            .map(|k| 0.25 + 0.3 * (k as f64 / n as f64) * ((i % 5) as f64 / 5.0))
            .collect();
        let line = serde_json::json!({"id": i, "steps": steps, "accuracy": acc, "target_steps": [(n * 2000) as f64]});
        input.push_str(&line.to_string());
        input.push('\n');
    }
    let (code, out, err) = neuneu(&["forecast", "-"], &input);
    assert_eq!(code, 0, "{err}");
    let ids: Vec<i64> = out
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert_eq!(ids, (0..1000).collect::<Vec<_>>());
}

#[test]
fn inspect_shows_the_manifest_and_a_missing_model_is_an_error() {
    let (code, out, _) = neuneu(&["inspect"], "");
    assert_eq!(code, 0);
    assert!(
        out.contains("forecaster") && out.contains("levels"),
        "{out}"
    );
    let (code, _, err) = neuneu(&["forecast", "--model", "/nonexistent.nnb", "-"], "");
    assert_eq!(code, 2);
    assert!(err.contains("/nonexistent.nnb"), "{err}");
}

#[test]
fn rank_orders_each_group_with_complementary_pair_probabilities() {
    let (code, out, err) = neuneu(&["rank", "examples/requests.jsonl"], "");
    assert_eq!(code, 0, "{err}");
    let groups: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(groups.len(), 3);
    for g in &groups {
        assert_eq!(g["order"].as_array().unwrap().len(), 5);
        let pairs = g["pairs"].as_array().unwrap();
        assert_eq!(pairs.len(), 10);
        assert!(
            pairs
                .iter()
                .all(|p| (0.0..=1.0).contains(&p["p_a_above_b"].as_f64().unwrap()))
        );
    }
}

#[test]
fn plan_keeps_k_arms_with_reasons_and_probabilities_summing_to_k() {
    let (code, out, err) = neuneu(&["plan", "examples/sweep.json"], "");
    assert_eq!(code, 0, "{err}");
    let plan: serde_json::Value = serde_json::from_str(&out).unwrap();
    let d = plan["decisions"].as_array().unwrap();
    assert_eq!(d.iter().filter(|a| a["keep"].as_bool().unwrap()).count(), 3);
    let total: f64 = d.iter().map(|a| a["p_top_k"].as_f64().unwrap()).sum();
    assert!((total - 3.0).abs() < 1e-9, "{total}");
    assert!(
        d.iter()
            .all(|a| a["reason"].as_str().unwrap().contains("top 3"))
    );
    let (again, _, _) = neuneu(&["plan", "examples/sweep.json"], "");
    assert_eq!(again, 0);
    assert_eq!(
        neuneu(&["plan", "examples/sweep.json"], "").1,
        out,
        "plans are deterministic"
    );
}

#[test]
fn plan_takes_per_arm_end_steps_and_values() {
    // Two arms, each with its own end and no sweep-wide one; `values` for `accuracy`.
    let sweep = r#"{"policy": {"kind": "keep_top_k", "k": 1}, "arms": [
        {"id": "a", "steps": [1, 2, 4], "values": [0.3, 0.35, 0.38], "end_step": 64},
        {"id": "b", "steps": [1, 2, 4], "values": [0.2, 0.22, 0.23], "end_step": 8}]}"#;
    let (code, out, err) = neuneu(&["plan", "-"], sweep);
    assert_eq!(code, 0, "{err}");
    let plan: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(plan["decisions"][0]["keep"], true);
    // Without an end for arm b anywhere, the arm is named.
    let no_end = sweep.replace(r#", "end_step": 8"#, "");
    let (code, _, err) = neuneu(&["plan", "-"], &no_end);
    assert_eq!(code, 2);
    assert!(err.contains("run b: end_step: no end step"), "{err}");
}

#[test]
fn forecast_rank_and_plan_take_a_loss_in_its_own_units() {
    let loss = r#""metric": {"kind": "loss", "direction": "minimize"}"#;
    let line = |id: &str, values: &str| {
        format!(
            r#"{{"id": "{id}", "steps": [1, 2, 4, 8], "values": {values}, "target_steps": [64], {loss}}}"#
        )
    };
    let (good, bad) = (
        line("good", "[3.2, 2.6, 2.3, 2.1]"),
        line("bad", "[3.3, 3.0, 2.9, 2.85]"),
    );
    let (code, out, err) = neuneu(&["forecast", "-"], &format!("{good}\n"));
    assert_eq!(code, 0, "{err}");
    let answer: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let q: Vec<f64> = answer["forecasts"][0]["quantiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    // Loss units: increasing with the level, below the last loss at the median, far above 1.
    assert!(q.windows(2).all(|w| w[0] <= w[1]), "{q:?}");
    assert!(q[2] < 2.1 && q[2] > 1.0, "{q:?}");
    // The run whose loss falls lower ranks first, its median in loss units.
    let (code, out, err) = neuneu(&["rank", "-"], &format!("{bad}\n{good}\n"));
    assert_eq!(code, 0, "{err}");
    let ranking: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(ranking["order"][0], "good");
    assert!(ranking["runs"][0]["median"].as_f64().unwrap() > 1.0);
    // A bounded metric's value out of range names the line's field and index.
    let (code, out, _) = neuneu(
        &["forecast", "-"],
        r#"{"id": "x", "steps": [1, 2], "values": [0.2, -0.1], "target_steps": [4], "metric": {"direction": "minimize"}}"#,
    );
    assert_eq!(code, 1);
    assert!(out.contains("accuracy[1]: -0.1 is outside [0, 1]"), "{out}");
    // A plan of a minimized loss stops the arm heading higher, and reports in loss units.
    let sweep = format!(
        r#"{{"end_step": 64, "policy": {{"kind": "keep_top_k", "k": 1}}, {loss}, "arms": [
            {{"id": "bad", "steps": [1, 2, 4, 8], "values": [3.3, 3.0, 2.9, 2.85]}},
            {{"id": "good", "steps": [1, 2, 4, 8], "values": [3.2, 2.6, 2.3, 2.1]}}]}}"#
    );
    let (code, out, err) = neuneu(&["plan", "-"], &sweep);
    assert_eq!(code, 0, "{err}");
    let plan: serde_json::Value = serde_json::from_str(&out).unwrap();
    let d = &plan["decisions"];
    assert_eq!(
        (d[0]["keep"].as_bool(), d[1]["keep"].as_bool()),
        (Some(false), Some(true))
    );
    let (q10, m, q90) = (
        d[1]["q10"].as_f64().unwrap(),
        d[1]["median"].as_f64().unwrap(),
        d[1]["q90"].as_f64().unwrap(),
    );
    assert!(q10 <= m && m <= q90 && m < 2.1 && m > 1.0, "{}", d[1]);
    assert!(
        d[1]["reason"].as_str().unwrap().contains("(now 2.100)"),
        "{}",
        d[1]
    );
}

#[test]
fn sweep_answers_each_question_of_an_event_stream() {
    let (code, out, err) = neuneu(&["sweep", "examples/sweep-events.jsonl"], "");
    assert_eq!(code, 0, "{err}");
    let answers: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let decides: Vec<&serde_json::Value> = answers
        .iter()
        .filter(|a| a.get("decide").is_some())
        .collect();
    assert_eq!(decides.len(), 3);
    assert_eq!(answers.len(), 4, "three decisions and one forecast");
    for d in &decides {
        let arms = d["decide"]["arms"].as_array().unwrap();
        assert_eq!(arms.len(), 6);
        // A loss sweep: forecasts in loss units (nats per character), q10 <= median <= q90.
        for a in arms {
            let (q10, m, q90) = (
                a["q10"].as_f64().unwrap(),
                a["median"].as_f64().unwrap(),
                a["q90"].as_f64().unwrap(),
            );
            assert!(q10 <= m && m <= q90 && m > 1.0 && m < 5.0, "{a}");
        }
    }
    // The stream goes on past a refused event, and the exit status says one was refused.
    let events = "{\"create\": {\"policy\": {\"kind\": \"keep_top_k\", \"k\": 2}}}\n\
                  {\"observe\": {\"arm\": \"a\", \"step\": 1, \"value\": 1.5}}\n\
                  {\"decide\": {}}\n";
    let (code, out, _) = neuneu(&["sweep", "-"], events);
    assert_eq!(code, 1);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].contains(r#""line":2"#) && lines[0].contains("outside [0, 1]"));
    assert!(lines[1].contains(r#""decide""#));

    // `calibrate` in the create event: five finished arms judge a one-point arm from their
    // gains; without it that arm is kept as too young.
    let stream = |calibrate: bool| {
        let mut events = format!(
            "{{\"create\": {{\"policy\": {{\"kind\": \"stop_within_budget\", \"k\": 1, \
             \"budget\": 0.1}}, \"end_step\": 8, \"calibrate\": {calibrate}}}}}\n"
        );
        for a in 0..5 {
            for t in 1..=8 {
                let v = 0.3 + 0.05 * a as f64 + 0.3 * (1.0 - 1.0 / t as f64);
                events += &format!(
                    "{{\"observe\": {{\"arm\": \"done-{a}\", \"step\": {t}, \"value\": {v}}}}}\n"
                );
            }
            events += &format!("{{\"finish\": {{\"arm\": \"done-{a}\"}}}}\n");
        }
        events += "{\"observe\": {\"arm\": \"young\", \"step\": 1, \"value\": 0.1}}\n\
                   {\"decide\": {\"arms\": [\"young\"]}}\n";
        let (code, out, err) = neuneu(&["sweep", "-"], &events);
        assert_eq!(code, 0, "{err}");
        let answer: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        answer["decide"]["arms"][0]["reason"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let calibrated = stream(true);
    assert!(
        calibrated.contains("gains of 5 finished arms"),
        "{calibrated}"
    );
    assert!(calibrated.starts_with("stop:"), "{calibrated}");
    assert!(stream(false).contains("needs 2 points"));
}

#[test]
fn upgrade_rewrites_old_and_current_graphs_and_refuses_what_it_cannot_read() {
    // tests/data/exporter-v0.nnb: a bundle written before the exporter folded RoPE into the
    // projections (the default model as first trained).
    let dir = scratch_dir("upgrade");
    let upgrade = |from: &str, to: &std::path::Path| {
        neuneu(&["upgrade", from, "-o", to.to_str().unwrap()], "")
    };
    let out = dir.join("new.nnb");
    let out_s = out.to_str().unwrap();
    let (code, stdout, err) = upgrade("tests/data/exporter-v0.nnb", &out);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("agree within"), "{stdout}");

    // Same forecasts through the CLI, old bundle and new.
    let forecast = |model: &str| {
        let (code, out, err) = neuneu(
            &["forecast", "--model", model, "examples/requests.jsonl"],
            "",
        );
        assert_eq!(code, 0, "{err}");
        out.lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .collect::<Vec<_>>()
    };
    let (old, new) = (forecast("tests/data/exporter-v0.nnb"), forecast(out_s));
    assert_eq!(old.len(), new.len());
    let mut compared = 0;
    for (a, b) in old.iter().zip(&new) {
        for (fa, fb) in a["forecasts"]
            .as_array()
            .unwrap()
            .iter()
            .zip(b["forecasts"].as_array().unwrap())
        {
            for (qa, qb) in fa["quantiles"]
                .as_array()
                .unwrap()
                .iter()
                .zip(fb["quantiles"].as_array().unwrap())
            {
                assert!((qa.as_f64().unwrap() - qb.as_f64().unwrap()).abs() < 1e-5);
                compared += 1;
            }
        }
    }
    assert!(compared > 0);

    // Today's graphs (folded query/key columns, variable context length) upgrade again to the
    // same function.
    let again = dir.join("again.nnb");
    let (code, stdout, err) = upgrade(out_s, &again);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("agree within"), "{stdout}");
    assert_eq!(forecast(again.to_str().unwrap()), new);

    // The default model's trees are no graph: an upgrade carries them over, so it still
    // forecasts what the default does (without them it would not, and nothing would be written).
    let default = dir.join("default.nnb");
    let (code, stdout, err) = upgrade("models/default.nnb", &default);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("agree within"), "{stdout}");
    let upgraded =
        neuneu::model::bundle::Bundle::from_bytes(&std::fs::read(&default).unwrap()).unwrap();
    assert!(upgraded.graphs.contains_key(neuneu::model::bundle::TREES));

    // What is not a bundle is refused, and nothing is written.
    let refused = dir.join("refused.nnb");
    let (code, _, err) = upgrade("examples/requests.jsonl", &refused);
    assert_eq!(code, 2, "{err}");
    assert!(!refused.exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn heldout_writes_the_rows_of_exactly_the_runs_eval_heldout_scores() {
    let input = std::fs::read_to_string("tests/data/replay-tiny.csv").unwrap();
    let (code, out, err) = neuneu(&["heldout", "tests/data/replay-tiny.csv"], "");
    assert_eq!(code, 0, "{err}");
    let (header, rows) = out.split_once('\n').unwrap();
    assert_eq!(header, input.lines().next().unwrap());
    let run_of = |line: &str| line.split(',').take(2).collect::<Vec<_>>().join(",");
    let held: std::collections::BTreeSet<String> = rows.lines().map(run_of).collect();
    // 9 runs in one suite: the default model's 20% split holds out 2 of them, whole.
    assert_eq!(held.len(), 2, "{out}");
    let expected: Vec<&str> = input
        .lines()
        .skip(1)
        .filter(|l| held.contains(&run_of(l)))
        .collect();
    assert_eq!(rows.lines().collect::<Vec<_>>(), expected);

    // eval --heldout on the whole file scores the curves of the written file, no more.
    let written = scratch_dir("heldout").join("heldout.csv");
    std::fs::write(&written, &out).unwrap();
    let first_line = |args: &[&str]| {
        let (code, table, err) = neuneu(args, "");
        assert_eq!(code, 0, "{err}");
        table.lines().next().unwrap_or_default().to_owned()
    };
    let from_split = first_line(&["eval", "tests/data/replay-tiny.csv", "--heldout"]);
    assert!(
        from_split.contains(" 2 curves, 2 evaluated"),
        "{from_split}"
    );
    assert_eq!(first_line(&["eval", written.to_str().unwrap()]), from_split);
    let _ = std::fs::remove_file(&written);
}

#[test]
fn eval_keep_every_scores_a_sparser_schedule_and_records_it() {
    let json = scratch_dir("keep-every").join("report.json");
    let targets = |k: &str| {
        let args = [
            "eval",
            "tests/data/pythia-sweeps.csv",
            "--keep-every",
            k,
            "--json",
        ];
        let (code, table, err) = neuneu(&[&args[..], &[json.to_str().unwrap()]].concat(), "");
        assert_eq!(code, 0, "{err}");
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        assert_eq!(report["options"]["keep_every"], k.parse::<u64>().unwrap());
        let header = table.lines().next().unwrap_or_default();
        assert_eq!(
            header.starts_with("1 checkpoint in 2 kept"),
            k == "2",
            "{header}"
        );
        report["forecasters"][0]["groups"][0]["targets"]
            .as_u64()
            .unwrap()
    };
    let (all, half) = (targets("1"), targets("2"));
    assert!(
        half > 0 && half < all,
        "{half} targets of every 2nd checkpoint, {all} of all"
    );
    let _ = std::fs::remove_file(&json);

    let (code, _, err) = neuneu(
        &["eval", "tests/data/replay-tiny.csv", "--keep-every", "0"],
        "",
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--keep-every"), "{err}");
}

#[test]
fn a_negated_loss_is_scored_and_replayed_as_the_loss_is() {
    // scikit-learn's neg_* scorers report a loss negated: `--metric neg_loss` reads such a file
    // as the loss it negates, so every number (in the file's units) is the loss's.
    let dir = scratch_dir("neg-loss");
    let (loss, negated) = (dir.join("loss.csv"), dir.join("negated.csv"));
    let mut rows = (String::new(), String::new());
    for run in 0..6 {
        for (i, step) in [1, 2, 4, 8, 16, 32, 64, 128].into_iter().enumerate() {
            let v = 1.0 + 2.5 / (1.0 + i as f64 * (0.2 + 0.1 * run as f64));
            rows.0 += &format!("s,r{run},0,val_loss,{step},{step},{v}\n");
            rows.1 += &format!("s,r{run},0,val_loss,{step},{step},{}\n", -v);
        }
    }
    let header = "suite,run,shots,task,step,tokens,acc\n";
    std::fs::write(&loss, format!("{header}{}", rows.0)).unwrap();
    std::fs::write(&negated, format!("{header}{}", rows.1)).unwrap();
    for command in ["eval", "replay"] {
        let run = |file: &std::path::Path, metric: &str| {
            let (code, out, err) =
                neuneu(&[command, file.to_str().unwrap(), "--metric", metric], "");
            assert_eq!(code, 0, "{command} {metric}: {err}");
            // The first line names the metric; eval's last column, its timing, varies from run
            // to run, and replay prints none.
            let body: Vec<String> = out
                .lines()
                .skip(1)
                .map(|l| match command {
                    "eval" => l.rsplit_once(' ').map_or(l, |(head, _)| head).to_string(),
                    _ => l.to_string(),
                })
                .collect();
            (out.lines().next().unwrap_or_default().to_string(), body)
        };
        let (loss_head, loss_body) = run(&loss, "loss");
        let (neg_head, neg_body) = run(&negated, "neg_loss");
        assert!(neg_head.contains("neg_loss:maximize"), "{neg_head}");
        assert!(loss_head.contains("loss:minimize"), "{loss_head}");
        assert!(loss_body.len() > 3, "{loss_body:?}");
        assert_eq!(neg_body, loss_body, "{command}");
    }
}
