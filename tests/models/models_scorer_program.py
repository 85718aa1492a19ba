"""A tiny external scorer for the adapter tests: ``python models_scorer_program.py MODE INPUT OUTPUT``.

It reads the raw rows (CSV or Parquet, by extension), scores them with a fixed formula
(score = 1 / (1 + exp(-(price / 100 - position / 10)))) and writes ``row_id,score``. The other modes are
the ways a real legacy scorer goes wrong.
"""
import math
import sys
import time

import pandas as pd


def main() -> int:
    mode, inp, out = sys.argv[1], sys.argv[2], sys.argv[3]
    frame = pd.read_parquet(inp) if inp.endswith(".parquet") else pd.read_csv(inp)
    scores = [1.0 / (1.0 + math.exp(-(p / 100.0 - k / 10.0))) for p, k in zip(frame["price"], frame["position"])]
    result = pd.DataFrame({"row_id": frame["row_id"], "score": scores})
    if mode == "crash":
        print("loading model weights from /opt/legacy/model.bin", file=sys.stderr)
        print("RuntimeError: legacy model file is corrupt", file=sys.stderr)
        print(f"(read {inp})", file=sys.stderr)  # a program that names its input file
        return 3
    if mode == "hang":
        time.sleep(60)
    if mode == "garbage":
        result["score"] = result["score"].astype(str)
        result.loc[1, "score"] = "not-a-number"
    if mode == "nan":
        result.loc[2, "score"] = float("nan")
    if mode == "no_score_column":
        result = result.rename(columns={"score": "prob"})
    if mode == "drop_first":
        result = result.iloc[1:]
    if mode == "no_output":
        return 0
    if out.endswith(".parquet"):
        result.to_parquet(out, index=False)
    else:
        result.to_csv(out, index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
