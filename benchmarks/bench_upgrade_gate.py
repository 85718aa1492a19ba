"""Benchmark of the upgrade gate on a suite-sized probe set: record + check vs running the probes bare.

    .venv/bin/python benchmarks/bench_upgrade_gate.py [--rows 20000] [--repeat 3] [--json OUT]

The probe set mirrors a CTR suite: featurization of --rows raw rows (8 features), inference of a fixed
logistic regression and a fixed gradient-boosting model on them, learning (LogisticRegression and
HistGradientBoosting, 3 seeds each), evaluation (12 edge cases through scikit-learn's and the harness's
metrics) and configuration (get_params of three estimators).

Reported: times as the minimum over --repeat interleaved runs, ratios as the median of per-run ratios
(background load on a shared machine then inflates both sides alike): the bare cost of calling every probe function (all seeds: what record must run; first seed: what
check runs), `record_baseline` and `check_against_baseline`, their ratios to the bare cost (= the gate's
own overhead: encoding, hashing, writing/reading, comparing, fingerprinting), and the baseline's size on
disk (JSON + .npz).
"""
from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.upgrade import (  # noqa: E402
    ProbeSet,
    check_against_baseline,
    evaluation_cases,
    harness_metric_outputs,
    record_baseline,
    sklearn_config,
    sklearn_metric_outputs,
)


def make_probes(rows: int) -> ProbeSet:
    import pandas as pd
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    raw = pd.DataFrame({
        "price": rng.lognormal(3.0, 1.2, rows), "age": rng.exponential(30.0, rows),
        "position": rng.integers(1, 30, rows), "hist_ctr": np.where(rng.random(rows) < 0.15, np.nan, rng.beta(1, 20, rows)),
        "device": rng.choice(["mobile", "desktop", "tablet"], rows), "country": rng.choice([f"C{i}" for i in range(25)], rows),
    })

    def featurize(frame: pd.DataFrame) -> dict[str, np.ndarray]:
        return {
            "log_price": np.log1p(frame["price"].to_numpy()),
            "price_bucket": np.searchsorted([5.0, 20.0, 100.0, 500.0], frame["price"].to_numpy(), side="right"),
            "log_age": np.log1p(frame["age"].to_numpy()),
            "inv_position": 1.0 / frame["position"].to_numpy(),
            "hist_ctr": frame["hist_ctr"].fillna(0.03).to_numpy(),
            "hist_ctr_missing": frame["hist_ctr"].isna().to_numpy(),
            "device": pd.Categorical(frame["device"], categories=["desktop", "mobile", "tablet"]).codes.astype(np.int64),
            "country": pd.Categorical(frame["country"], categories=sorted(frame["country"].unique())).codes.astype(np.int64),
        }

    feats = featurize(raw)
    X = np.column_stack([feats[k].astype(np.float64) for k in sorted(feats)])
    y = (rng.random(rows) < 1 / (1 + np.exp(-(X[:, 0] - 2.0 + 0.5 * X[:, 3])))).astype(np.int64)
    split = int(rows * 0.8)
    Xt, yt, Xe, ye = X[:split], y[:split], X[split:], y[split:]
    fixed_lr = LogisticRegression(max_iter=300).fit(Xt, yt)
    fixed_hgb = HistGradientBoostingClassifier(max_iter=50, random_state=0).fit(Xt, yt)
    probes = ProbeSet("bench")

    @probes.featurization("legacy_featurizer")
    def _feat():
        return featurize(raw)

    @probes.inference("fixed_models")
    def _infer():
        return {"logreg": fixed_lr.predict_proba(X)[:, 1], "hgb": fixed_hgb.predict_proba(X)[:, 1]}

    @probes.learning("logreg_fit", seeds=(0, 1, 2))
    def _lr(seed):
        m = LogisticRegression(max_iter=300, random_state=seed).fit(Xt, yt)
        p = m.predict_proba(Xe)[:, 1]
        return {"coef": m.coef_, "intercept": m.intercept_, "n_iter": m.n_iter_, "scores": p, "auc": roc_auc_score(ye, p)}

    @probes.learning("hgb_fit", seeds=(0, 1, 2))
    def _hgb(seed):
        m = HistGradientBoostingClassifier(max_iter=50, early_stopping=True, validation_fraction=0.2, random_state=seed).fit(Xt, yt)
        p = m.predict_proba(Xe)[:, 1]
        return {"scores": p, "n_iter": m.n_iter_, "train_loss": m.train_score_, "auc": roc_auc_score(ye, p)}

    @probes.evaluation("metrics")
    def _metrics():
        cases = evaluation_cases(0)
        return {**sklearn_metric_outputs(cases), **harness_metric_outputs(cases)}

    @probes.configuration("defaults")
    def _cfg():
        return {"logreg": sklearn_config(LogisticRegression()), "hgb": sklearn_config(HistGradientBoostingClassifier()),
                "scaler": sklearn_config(StandardScaler())}

    return probes


def _min_time(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    probes = make_probes(args.rows)
    tmp = Path(tempfile.mkdtemp(prefix="bench-upgrade-"))
    # Interleaved: each repeat times all four in turn, so a burst of background load hits every side;
    # the ratios are the medians of the per-repeat ratios, the times the minima.
    times: dict[str, list[float]] = {"bare_all": [], "record": [], "bare_first": [], "check": []}
    results = []

    def record():
        shutil.rmtree(tmp / "bench", ignore_errors=True)
        record_baseline(probes, root=tmp)

    try:
        for _ in range(args.repeat):
            times["bare_all"].append(_min_time(lambda: [p.run(s) for p in probes for s in p.seeds], 1))
            times["record"].append(_min_time(record, 1))
            times["bare_first"].append(_min_time(lambda: [p.run(p.seeds[0]) for p in probes], 1))
            times["check"].append(_min_time(lambda: results.append(check_against_baseline("bench", probes, tmp)), 1))
        assert not results[-1].changed, "benchmark probes must be deterministic"
        size_json = (tmp / "bench" / "baseline.json").stat().st_size
        size_npz = sum(p.stat().st_size for p in (tmp / "bench").glob("arrays-*.npz"))
        n_outputs = len(results[-1].findings)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    bare_all, t_record = min(times["bare_all"]), min(times["record"])
    bare_first, t_check = min(times["bare_first"]), min(times["check"])
    rec_ratio = float(np.median(np.array(times["record"]) / np.array(times["bare_all"])))
    chk_ratio = float(np.median(np.array(times["check"]) / np.array(times["bare_first"])))

    out = {
        "rows": args.rows, "repeat": args.repeat, "probes": len(probes), "outputs_compared": n_outputs,
        "bare_all_seeds_s": round(bare_all, 3), "record_s": round(t_record, 3), "record_over_bare": round(rec_ratio, 3),
        "bare_first_seed_s": round(bare_first, 3), "check_s": round(t_check, 3), "check_over_bare": round(chk_ratio, 3),
        "baseline_json_bytes": size_json, "baseline_npz_bytes": size_npz,
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(), "python": platform.python_version(),
    }
    print(json.dumps(out, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
