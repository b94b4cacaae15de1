"""Holm's step-down adjustment of p-values (family-wise error rate).

The same computation as statsmodels' ``multipletests(p, method="holm")``, without the
full garbage collection that function runs on every Holm call (statsmodels PR #8671,
closed unmerged; still in 0.15). In a kernel that holds a million-row panel each of
those collections took 0.2-0.4 s, eight times per report pack. A test checks that the
results equal statsmodels' own.
"""

from __future__ import annotations

import numpy as np


def holm(pvalues, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Which hypotheses Holm's procedure rejects at family-wise level ``alpha``, and the
    adjusted p-values (capped at 1), both in the order of ``pvalues``."""
    p = np.asarray(pvalues, dtype=float)
    order = np.argsort(p)
    p_sorted = p[order]
    steps = np.arange(len(p), 0, -1)
    not_rejected = p_sorted > alpha / steps
    first_kept = np.flatnonzero(not_rejected)
    reject_sorted = np.ones(len(p), dtype=bool)
    reject_sorted[first_kept[0] if len(first_kept) else len(p):] = False
    adjusted_sorted = np.minimum(np.maximum.accumulate(p_sorted * steps), 1.0)
    reject, adjusted = np.empty_like(reject_sorted), np.empty_like(adjusted_sorted)
    reject[order], adjusted[order] = reject_sorted, adjusted_sorted
    return reject, adjusted
