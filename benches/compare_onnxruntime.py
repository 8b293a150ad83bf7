#!/usr/bin/env python3
"""Runs the very same ONNX graphs through onnxruntime and through neuneu (tract), on the same
inputs, with the same thread count, in one run; prints a ratio table and checks that outputs
agree to 1e-4.

    pip install onnxruntime numpy
    cargo build --release
    python3 benches/compare_onnxruntime.py --random reference --threads 1
    python3 benches/compare_onnxruntime.py --threads 1 --scheduler      # embedded default model

neuneu's side is `neuneu bench --workload forecaster|encoder|scheduler --json --dump DIR`: it
times the engine and writes the inputs it used and its outputs as .npy; this script feeds those
inputs to onnxruntime. The graphs come out of the bundle itself (format: src/model/bundle.rs, a
52-byte header, the manifest JSON whose `graphs` list gives each graph's length, then the
graphs back to back).

Threads: neuneu runs T concurrent callers, each on one core (tract runs a plan on one thread).
onnxruntime is timed both ways, T concurrent callers with intra_op_num_threads=1 and one
caller with intra_op_num_threads=T, and its better p50 is the one compared.

The scheduler workload (64 arms x 66 tasks x 3 targets) is compared against a plain
per-request onnxruntime loop: for each (arm, task) request, prepare that request's token losses
into the encoder's input (numpy, the same arithmetic as neuneu's `features::prepare_losses`),
encode them, then run the forecaster on its 3 rows. neuneu prepares and encodes each arm's
losses once and shares the embedding across its tasks. `--loss-len N` gives every arm N token
losses (default: the encoder's input length, 512 for the small and default models; the
reference model's validation set is 256,000 tokens). The loop is handed neuneu's prepared
forecaster rows (context features, power-law fits) for free, which favours onnxruntime.

Context length: `--context N` points per run (default 30). The forecaster graph of today's
exporter takes any context length up to `max_context`; neuneu runs each row at the shortest of
its plan lengths (powers of two, then max_context) that holds it, so a 30-point row of a 64-point
model runs at 32. onnxruntime is fed the rows as neuneu dumped them (padded to max_context, what
a plain caller of the graph does) and, for such graphs, also trimmed to the batch's longest
context (the same trick by hand): both rows are printed.
"""
import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
import onnxruntime as ort

HEADER = 52


def read_bundle(path):
    data = open(path, "rb").read()
    assert data[:8] == b"\x89NNB\r\n\x1a\n", "not a neuneu bundle"
    mlen = struct.unpack("<Q", data[12:20])[0]
    manifest = json.loads(data[HEADER : HEADER + mlen])
    graphs, off = {}, HEADER + mlen
    for g in manifest["graphs"]:
        graphs[g["name"]] = data[off : off + g["length"]]
        off += g["length"]
    assert off == len(data), "trailing bytes"
    return manifest, graphs


def session(graph, intra):
    so = ort.SessionOptions()
    so.intra_op_num_threads = intra
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(graph, so, providers=["CPUExecutionProvider"])


def percentiles(lat):
    lat = np.sort(np.asarray(lat)) * 1e3
    pick = lambda p: float(lat[int(round((len(lat) - 1) * p))])
    return {"p50_ms": pick(0.5), "p90_ms": pick(0.9), "p99_ms": pick(0.99), "calls": len(lat)}


def time_calls(fn, callers, seconds, warmup=3, iters=None):
    for _ in range(warmup):
        fn()
    lat, lock = [], threading.Lock()
    begin = time.perf_counter()

    def worker():
        mine = []
        while True:
            if iters is not None:
                with lock:
                    if worker.count >= iters:
                        break
                    worker.count += 1
            elif time.perf_counter() - begin > seconds and mine:
                break
            t = time.perf_counter()
            fn()
            mine.append(time.perf_counter() - t)
        with lock:
            lat.extend(mine)

    worker.count = 0
    ts = [threading.Thread(target=worker) for _ in range(callers)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    wall = time.perf_counter() - begin
    r = percentiles(lat)
    r["calls_per_s"] = len(lat) / wall
    return r


def neuneu(exe, model_args, workload, batch, threads, seconds, dump, iters=None, context=30,
           row_batching="exact"):
    cmd = [exe, "bench", *model_args, "--workload", workload, "--batch", str(batch),
           "--threads", str(threads), "--context", str(context), "--row-batching", row_batching,
           "--json", "--dump", dump]
    cmd += ["--iters", str(iters)] if iters else ["--seconds", str(seconds)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1]), " ".join(cmd)


def load(dump, name, shape):
    return np.load(os.path.join(dump, name + ".npy")).astype(np.float32).reshape(shape)


def finalize(q, median):
    q = np.clip(q, 0.0, 1.0)
    for j in range(median + 1, q.shape[-1]):
        q[..., j] = np.maximum(q[..., j], q[..., j - 1])
    for j in range(median - 1, -1, -1):
        q[..., j] = np.minimum(q[..., j], q[..., j + 1])
    return q


def prepare_losses(losses, encoder):
    """features::prepare_losses in numpy: exp(-min(loss, 20)) clamped below 1 - 1e-6, then the
    first `loss_len` values in order (zero-padded) or a sketch of `loss_len` evenly spaced
    quantiles of their distribution, interpolated."""
    n = encoder["loss_len"]
    p = np.clip(np.exp(-np.minimum(losses.astype(np.float32), np.float32(20.0))),
                np.float32(0.0), np.float32(1.0 - 1e-6)).astype(np.float32)
    if encoder["representation"] == "ordered":
        out = np.zeros(n, np.float32)
        out[: min(n, p.size)] = p[:n]
        return out
    p = np.sort(p)
    m = p.size
    pos = np.clip((np.arange(n) + 0.5) / n * m - 0.5, 0.0, m - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, m - 1)
    w = (pos - lo).astype(np.float32)
    return (p[lo] + (p[hi] - p[lo]) * w).astype(np.float32)


def variable_length(graph):
    """Whether the forecaster graph takes any context length (a symbolic second dimension)."""
    return isinstance(ort.InferenceSession(graph).get_inputs()[0].shape[1], str)


def best_ort(graph, feeds, threads, seconds):
    """onnxruntime timed as T callers x 1 thread and as 1 caller x T threads; the better p50."""
    variants = []
    for callers, intra in sorted({(threads, 1), (1, threads)}):
        s = session(graph, intra)
        out = s.run(None, feeds)[0]
        r = time_calls(lambda: s.run(None, feeds), callers, seconds)
        r["how"] = f"{callers} caller(s) x {intra} thread(s)"
        variants.append((r, out))
    return min(variants, key=lambda v: v[0]["p50_ms"])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--neuneu", default=os.environ.get("NEUNEU", "target/release/neuneu"))
    ap.add_argument("--model", help="bundle file (default: the embedded default model)")
    ap.add_argument("--random", choices=["small", "reference"], help="a random-weight model instead")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batches", default="1,64")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--encoder", action="store_true", help="also compare the loss encoder (batch 1)")
    ap.add_argument("--scheduler", action="store_true", help="also the scheduler workload")
    ap.add_argument("--loss-len", type=int, help="token losses per arm in the scheduler workload "
                    "(default: the encoder's input length)")
    ap.add_argument("--context", type=int, default=30, help="observed points per run")
    ap.add_argument("--row-batching", default="exact", choices=["exact", "throughput"],
                    help="neuneu's row batching (see `neuneu bench --help`)")
    ap.add_argument("--json", help="write the results here")
    a = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="neuneu-ort-")
    bundle = a.model or os.path.join(tmp, "model.nnb")
    model_args = ["--model", a.model] if a.model else (["--random", a.random] if a.random else [])
    if not a.model:
        # Write the model neuneu will run, so onnxruntime reads the same bytes.
        subprocess.run([a.neuneu, "bench", *model_args, "--save-model", bundle, "--workload",
                        "forecaster", "--iters", "1", "--json"], check=True, capture_output=True)
        model_args = ["--model", bundle]
    manifest, graphs = read_bundle(bundle)
    arch = manifest["architecture"]
    median = arch["quantile_levels"].index(0.5)
    print(f"model {manifest['name']}: d {arch['d_model']}, {arch['layers']} layers, FF {arch['ff']}, "
          f"max_context {arch['max_context']}; onnxruntime {ort.__version__}; threads {a.threads}; "
          f"nproc {os.cpu_count()}")

    rows, ok = [], True
    fc_inputs = ["context", "key_mask", "anchor", "loss_embedding", "has_loss"]
    for b in [int(x) for x in a.batches.split(",")]:
        dump = os.path.join(tmp, f"fc{b}")
        nn, cmd = neuneu(a.neuneu, model_args, "forecaster", b, a.threads, a.seconds, dump,
                         context=a.context, row_batching=a.row_batching)
        sh = nn["shapes"]
        feeds = {k: load(dump, k, sh[k]) for k in fc_inputs}
        ref = load(dump, "output", sh["quantiles"])
        r, out = best_ort(graphs["forecaster"], feeds, a.threads, a.seconds)
        diff = float(np.max(np.abs(out - ref)))
        rows.append((f"forecaster graph, {a.context}-point context", b, nn, r, diff, cmd))
        if variable_length(graphs["forecaster"]):
            real = feeds["key_mask"][:, 2:] != 0
            used = int(max(np.flatnonzero(m)[-1] + 1 if m.any() else 0 for m in real))
            trimmed = dict(feeds, context=feeds["context"][:, :used],
                           key_mask=feeds["key_mask"][:, :used + 2])
            r, out = best_ort(graphs["forecaster"], trimmed, a.threads, a.seconds)
            diff = float(np.max(np.abs(out - ref)))
            rows.append((f"same, onnxruntime fed rows trimmed to {used} points", b, nn, r, diff,
                         cmd))
    if a.encoder and "loss_encoder" in graphs:
        dump = os.path.join(tmp, "enc1")
        nn, cmd = neuneu(a.neuneu, model_args, "encoder", 1, a.threads, a.seconds, dump)
        feeds = {"loss_features": load(dump, "loss_features", nn["shapes"]["loss_features"])}
        ref = load(dump, "output", nn["shapes"]["loss_embedding_out"])
        r, out = best_ort(graphs["loss_encoder"], feeds, a.threads, a.seconds)
        rows.append(("encoder graph", 1, nn, r, float(np.max(np.abs(out - ref))), cmd))
    if a.scheduler:
        dump = os.path.join(tmp, "sched")
        sched_args = model_args + (["--loss-len", str(a.loss_len)] if a.loss_len else [])
        nn, cmd = neuneu(a.neuneu, sched_args, "scheduler", 64, a.threads, a.seconds, dump, iters=3,
                         context=a.context, row_batching=a.row_batching)
        sh = nn["shapes"]
        raw = load(dump, "token_losses", sh["token_losses"])
        lf = load(dump, "loss_features", sh["loss_features"])
        mine = np.stack([prepare_losses(r, arch["encoder"]) for r in raw])
        prep_diff = float(np.max(np.abs(mine - lf)))
        assert prep_diff <= 1e-6, f"numpy preparation differs from neuneu's by {prep_diff}"
        ctx, km = load(dump, "context", sh["context"]), load(dump, "key_mask", sh["key_mask"])
        anc, hl = load(dump, "anchor", sh["anchor"]), load(dump, "has_loss", sh["has_loss"])
        ref = load(dump, "output", sh["quantiles"])
        enc, fc = session(graphs["loss_encoder"], a.threads), session(graphs["forecaster"], a.threads)
        arms, tasks = lf.shape[0], ctx.shape[0] // (3 * lf.shape[0])
        out = np.zeros_like(ref)

        def plain_loop():
            for arm in range(arms):
                for task in range(tasks):
                    features = prepare_losses(raw[arm], arch["encoder"])[None, :]
                    e = enc.run(None, {"loss_features": features})[0]
                    s = slice((arm * tasks + task) * 3, (arm * tasks + task + 1) * 3)
                    out[s] = fc.run(None, {"context": ctx[s], "key_mask": km[s], "anchor": anc[s],
                                           "loss_embedding": np.repeat(e, 3, 0), "has_loss": hl[s]})[0]

        r = time_calls(plain_loop, 1, 0, warmup=1, iters=3)
        r["how"] = f"per-request loop, intra_op_num_threads={a.threads}"
        name = f"scheduler 64x66x3, {raw.shape[1]:,} losses per arm"
        if "trees" in graphs:
            # The bundle's trees set each row's median after the graph, and the engine moves the
            # row's band with it before clamping; onnxruntime runs the graph only. Move each of
            # its rows to neuneu's median the same way, so the other quantiles are compared.
            out = out + (ref[:, [median]] - out[:, [median]])
            name += " (rows moved to the trees' median)"
        rows.append((name, 64 * 66 * 3, nn, r, float(np.max(np.abs(finalize(out, median) - ref))), cmd))

    print(f"\n| workload | rows | neuneu p50 ms | p90 | p99 | onnxruntime p50 ms | p90 | p99 | ort/neuneu | max abs diff |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, b, nn, r, diff, _ in rows:
        ratio = r["p50_ms"] / nn["p50_ms"]
        ok &= diff <= 1e-4
        print(f"| {name} | {b} | {nn['p50_ms']:.3f} | {nn['p90_ms']:.3f} | {nn['p99_ms']:.3f} | "
              f"{r['p50_ms']:.3f} | {r['p90_ms']:.3f} | {r['p99_ms']:.3f} | {ratio:.2f}x | {diff:.1e} |")
    print("\nonnxruntime variants:", "; ".join(f"{n} {b}: {r['how']}" for n, b, _, r, _, _ in rows))
    print("neuneu commands:\n  " + "\n  ".join(c for *_, c in rows))
    print("outputs agree to 1e-4" if ok else "OUTPUTS DIFFER by more than 1e-4")
    if a.json:
        json.dump([{"workload": n, "rows": b, "neuneu": nn, "onnxruntime": r, "max_abs_diff": d}
                   for n, b, nn, r, d, _ in rows], open(a.json, "w"), indent=1)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
