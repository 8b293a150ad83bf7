#!/usr/bin/env python3
"""Probe of in-sweep forecasts (docs/results/in-sweep-2026-12-06.md): at each rung, every arm's
final forecast from the model, from persistence, and from blends learned on the sweep's own
backtests; pairwise ranking accuracy of the finals and MAE, pooled over sweeps.

  PYTHONPATH=ffi/python/python python tools/in_sweep_probe.py CURVES.csv [--bundle B.nnb]
"""
import sys, csv, collections, itertools, numpy as np, neuneu, argparse
ap = argparse.ArgumentParser()
ap.add_argument("csv"); ap.add_argument("--bundle"); ap.add_argument("--runs")
ap.add_argument("--rungs", default="0.2,0.4,0.6,0.8"); ap.add_argument("--c", type=float, default=0.5)
a = ap.parse_args()
eng = neuneu.Engine.from_file(a.bundle) if a.bundle else neuneu.Engine.default()
keep = set(open(a.runs).read().split()) if a.runs else None
curves = collections.defaultdict(list)
for r in csv.DictReader(open(a.csv)):
    if keep and r["run"] not in keep: continue
    x = float(r["tokens"]) if r["tokens"] not in ("", "0") else float(r["step"])
    curves[(r["suite"], r["shots"], r["task"])].append((r["run"], x, float(r["acc"])))
mc = eng.min_context
def fc(s, v, t):
    if len(s) < mc: return None
    return float(eng.forecast(s, v, [t])[0][len(eng.levels)//2])
stats = collections.defaultdict(lambda: [0, 0])
maes = collections.defaultdict(list)
rungs = [float(x) for x in a.rungs.split(",")]
for key, rows in curves.items():
    runs = collections.defaultdict(list)
    for run, x, y in rows: runs[run].append((x, y))
    arms = {}
    for run, pts in runs.items():
        pts.sort(); s = np.array([p[0] for p in pts]); v = np.array([p[1] for p in pts])
        if s[0] == 0: s, v = s[1:], v[1:]
        if len(s) >= 4: arms[run] = (s, v)
    if len(arms) < 4: continue
    for f in rungs:
        rec = []
        for run, (s, v) in arms.items():
            end, final = s[-1], v[-1]
            n = np.searchsorted(s, f * end, side="right")
            if n < 1 or n >= len(s): continue
            ps, pv = s[:n], v[:n]
            m = fc(ps, pv, end)
            # backtest: cut at c of the observed prefix's last step
            nb = np.searchsorted(ps, a.c * ps[-1], side="right")
            b = fc(ps[:nb], pv[:nb], ps[-1]) if nb < n else None
            rec.append(dict(final=final, last=pv[-1], m=m, b=b, obs=pv[-1], lastb=pv[nb-1] if nb>0 else None))
        if len(rec) < 4: continue
        rec = [r for r in rec if r["m"] is not None]
        if len(rec) < 4: continue
        bt = [r for r in rec if r["b"] is not None]
        cands = {"persist": [r["last"] for r in rec], "model": [r["m"] for r in rec]}
        for beta in (0.5, 1.0):
            cands[f"resid{beta}"] = [r["m"] + beta * ((r["obs"] - r["b"]) if r["b"] is not None else 0) for r in rec]
        # selection by backtest ranking of obs
        if len(bt) >= 4:
            def rk(pred):
                c = t = 0
                for i, j in itertools.combinations(range(len(bt)), 2):
                    if bt[i]["obs"] == bt[j]["obs"]: continue
                    t += 1; c += (pred[i] - pred[j]) * (bt[i]["obs"] - bt[j]["obs"]) > 0
                return c / max(t, 1)
            rm = rk([r["b"] for r in bt]); rp = rk([r["lastb"] for r in bt])
            cands["select"] = cands["model"] if rm >= rp else cands["persist"]
            # stacking: obs ~ w*b + (1-w)*lastb  least squares w in [0,1]
            B = np.array([r["b"] for r in bt]); L = np.array([r["lastb"] for r in bt]); O = np.array([r["obs"] for r in bt])
            d = B - L; w = float(np.clip((d @ (O - L)) / max(d @ d, 1e-12), 0, 1))
            cands["stack"] = [w * r["m"] + (1 - w) * r["last"] for r in rec]
        else:
            cands["select"] = cands["model"]; cands["stack"] = cands["model"]
        fin = [r["final"] for r in rec]
        for name, pred in cands.items():
            for i, j in itertools.combinations(range(len(rec)), 2):
                if fin[i] == fin[j]: continue
                st = stats[(name, f)]; st[1] += 1; st[0] += (pred[i] - pred[j]) * (fin[i] - fin[j]) > 0
                st = stats[(name, "all")]; st[1] += 1; st[0] += (pred[i] - pred[j]) * (fin[i] - fin[j]) > 0
            maes[name] += [abs(p - y) for p, y in zip(pred, fin)]
names = sorted({k[0] for k in stats})
print("cand      " + " ".join(f"{f:>7}" for f in rungs) + "     all    MAE")
for n in names:
    print(f"{n:9} " + " ".join(f"{stats[(n,f)][0]/max(stats[(n,f)][1],1):7.3f}" for f in rungs) + f" {stats[(n,'all')][0]/stats[(n,'all')][1]:7.3f} {np.mean(maes[n]):.4f}")
