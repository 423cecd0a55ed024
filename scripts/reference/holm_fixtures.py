"""Holm's step-down adjustment by statsmodels, for report.HolmAdjust: for generated families of p-values — no
third-party data — the adjusted p-values (statsmodels.stats.multitest.multipletests(p, method="holm")).
Writes report/testdata/holm.json.

    PYTHON scripts/reference/holm_fixtures.py report/testdata/holm.json
"""
import json
import sys

import numpy as np
import statsmodels
from statsmodels.stats.multitest import multipletests

rng = np.random.default_rng(11)
cases = []
for m in [1, 2, 3, 6, 10]:
    for _ in range(6):
        p = rng.uniform(0, 1, m) ** rng.choice([1, 3, 6])
        if m > 2 and rng.uniform() < 0.5:
            p[1] = p[0]  # a tie
        cases.append({"p": [float(v) for v in p], "holm": [float(v) for v in multipletests(p, method="holm")[1]]})
with open(sys.argv[1], "w") as f:
    json.dump({"statsmodels": statsmodels.__version__, "cases": cases}, f, indent=1)
    f.write("\n")
