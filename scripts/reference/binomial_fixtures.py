"""One-sided exact binomial tests by SciPy, for report.BinomialAbove: for generated (k, n, p) — no third-party
data — the p-value of k or more successes in n trials of probability p
(scipy.stats.binomtest(k, n, p, alternative="greater")). Writes report/testdata/binomial.json.

    PYTHON scripts/reference/binomial_fixtures.py report/testdata/binomial.json
"""
import json
import sys

import numpy as np
import scipy
from scipy import stats

rng = np.random.default_rng(5)
cases = []
for n in [1, 2, 10, 50, 100, 217, 244, 686]:
    for p in [0.25, 1 / 3, 0.5, 0.586, 0.9]:
        for k in sorted({0, n, int(rng.integers(0, n + 1)), min(n, int(round(n * p)) + 1), int(round(n * p))}):
            cases.append({"k": k, "n": n, "p": p, "p_value": float(stats.binomtest(k, n, p, alternative="greater").pvalue)})
with open(sys.argv[1], "w") as f:
    json.dump({"scipy": scipy.__version__, "cases": cases}, f, indent=1)
    f.write("\n")
