"""BG/NBD and Gamma-Gamma fit times on CDNOW master: this project vs lifetimes.

    python benchmarks/btyd_compare.py ours            # in the project venv
    python benchmarks/btyd_compare.py lifetimes CSV   # in the lifetimes venv (see run.py)

Both read the same RFM summary (39-week calibration, weeks, same-day purchases merged) and
print one JSON line with the best of 3 fit times and the fitted parameters.
"""

from __future__ import annotations

import json
import sys
import time

REPEATS = 3


def best_of(fit) -> tuple[float, object]:
    times, result = [], None
    for _ in range(REPEATS):
        t = time.perf_counter()
        result = fit()
        times.append(time.perf_counter() - t)
    return min(times), result


def ours(csv_out: str | None = None) -> dict:
    from analysis.analyses import clv as btyd
    from analysis.data.sources import load_cdnow

    summary = btyd.rfm_summary(load_cdnow("master").transactions, "1997-10-01")
    if csv_out:
        summary.to_csv(csv_out)
    bg_s, bg = best_of(lambda: btyd.fit_bgnbd(summary))
    gg_s, gg = best_of(lambda: btyd.fit_gamma_gamma(summary))
    return {"tool": "customer-value lab", "customers": len(summary), "bgnbd_seconds": bg_s,
            "gamma_gamma_seconds": gg_s, "bgnbd": bg.params.round(4).to_dict(),
            "bgnbd_loglik": round(bg.loglik, 2), "gamma_gamma": gg.params.round(4).to_dict()}


def lifetimes(csv_in: str) -> dict:
    import pandas as pd
    from lifetimes import BetaGeoFitter, GammaGammaFitter

    s = pd.read_csv(csv_in, index_col=0)
    bg_s, bg = best_of(lambda: BetaGeoFitter().fit(s["frequency"], s["recency"], s["T"]))
    rep = s[(s["frequency"] > 0) & (s["monetary_value"] > 0)]
    gg_s, gg = best_of(lambda: GammaGammaFitter().fit(rep["frequency"], rep["monetary_value"]))
    return {"tool": "lifetimes 0.11.3", "customers": len(s), "bgnbd_seconds": bg_s,
            "gamma_gamma_seconds": gg_s, "bgnbd": bg.params_.round(4).to_dict(),
            "gamma_gamma": gg.params_.round(4).to_dict()}


if __name__ == "__main__":
    which = sys.argv[1]
    result = ours(sys.argv[2] if len(sys.argv) > 2 else None) if which == "ours" else lifetimes(
        sys.argv[2])
    print(json.dumps(result))
