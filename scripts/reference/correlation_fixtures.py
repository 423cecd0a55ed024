"""One-sided tests of a Pearson correlation by SciPy, for report.CorrelationAbove: for generated pairs — no
third-party data — their correlation r and the p-value of r or more under no correlation
(scipy.stats.pearsonr(x, y, alternative="greater")). Writes report/testdata/correlation.json.

    PYTHON scripts/reference/correlation_fixtures.py report/testdata/correlation.json
"""
import json
import sys

import numpy as np
import scipy
from scipy import stats

rng = np.random.default_rng(7)
cases = []
for n in [3, 4, 5, 10, 30, 50, 247, 1000]:
    for rho in [-0.9, -0.3, 0.0, 0.05, 0.2, 0.5, 0.95]:
        for _ in range(2):
            x = rng.standard_normal(n)
            y = rho * x + np.sqrt(1 - rho * rho) * rng.standard_normal(n)
            res = stats.pearsonr(x, y, alternative="greater")
            cases.append({"r": float(res.statistic), "n": n, "p_value": float(res.pvalue)})
with open(sys.argv[1], "w") as f:
    json.dump({"scipy": scipy.__version__, "cases": cases}, f, indent=1)
    f.write("\n")
