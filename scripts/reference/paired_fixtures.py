"""Paired comparisons by SciPy, for report.Compare: for generated score pairs (no third-party data), the paired
t-test (scipy.stats.ttest_rel) and the exact sign-flip permutation test of the mean difference
(scipy.stats.permutation_test, permutation_type="samples", n_resamples=inf). Writes report/testdata/paired.json.

    PYTHON scripts/reference/paired_fixtures.py report/testdata/paired.json
"""
import json
import sys

import numpy as np
import scipy
from scipy import stats

rng = np.random.default_rng(3)
cases = []
for n, shift, spread in [(3, 0.02, 0.01), (5, 0.0, 0.05), (8, 0.03, 0.02), (12, -0.01, 0.03), (16, 0.004, 0.02), (24, 0.01, 0.04)]:
    a = np.round(rng.uniform(0.4, 0.9, n), 4)
    b = np.round(a + shift + rng.normal(0, spread, n), 4)
    t = stats.ttest_rel(b, a)
    exact = n <= 16
    p = stats.permutation_test((b, a), lambda x, y, axis: np.mean(x - y, axis=axis), permutation_type="samples",
                               n_resamples=np.inf if exact else 0, alternative="two-sided").pvalue if exact else None
    cases.append({"a": a.tolist(), "b": b.tolist(), "t": float(t.statistic), "p_t": float(t.pvalue), "p_sign_flip": p})
with open(sys.argv[1], "w") as f:
    json.dump({"scipy": scipy.__version__, "cases": cases}, f, indent=1)
    f.write("\n")
