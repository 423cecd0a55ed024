"""t-SNE and trustworthiness by scikit-learn, for analysis.TSNE and analysis.Trustworthiness: two point sets
generated here (Gaussian blobs in 10-D, an S-curve in 3-D; no third-party data), scikit-learn's exact t-SNE
of each (init="pca", perplexity 30, learning_rate="auto") with its KL divergence, and the trustworthiness
(k = 5) of that embedding and of a plain one (the first two coordinates). Writes
analysis/testdata/tsne/cases.json.

    PYTHON scripts/reference/tsne_fixtures.py analysis/testdata/tsne/cases.json
"""
import json
import sys

import numpy as np
import sklearn
from sklearn.datasets import make_blobs, make_s_curve
from sklearn.manifold import TSNE, trustworthiness

sets = {
    "blobs": make_blobs(n_samples=150, n_features=10, centers=5, cluster_std=2.0, random_state=7),
    "s-curve": make_s_curve(n_samples=200, noise=0.05, random_state=7),
}
cases = []
for name, (x, labels) in sets.items():
    x = np.round(x, 6)
    ts = TSNE(n_components=2, perplexity=30, init="pca", learning_rate="auto", method="exact", random_state=0, max_iter=1000)
    y = ts.fit_transform(x)
    plain = x[:, :2]
    cases.append({
        "name": name,
        "x": x.tolist(),
        "labels": [int(v) if name == "blobs" else 0 for v in labels],
        "sklearn_embedding": y.tolist(),
        "sklearn_kl": float(ts.kl_divergence_),
        "trustworthiness_sklearn_embedding": float(trustworthiness(x, y, n_neighbors=5)),
        "trustworthiness_plain": float(trustworthiness(x, plain, n_neighbors=5)),
    })
with open(sys.argv[1], "w") as f:
    json.dump({"sklearn": sklearn.__version__, "k": 5, "cases": cases}, f)
    f.write("\n")
