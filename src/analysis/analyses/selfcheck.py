"""``analysis selfcheck``: do the installed models reproduce published results on this machine?

Each check refits a model to a public data set and compares every parameter (and the
log-likelihood) with the value its authors published:

- CDNOW 1/10 sample (2,357 customers), the standard set-up: weekly time unit, 39-week
  calibration period to 1997-09-30, same-day purchases merged.
  - BG/NBD: Fader, Hardie and Lee (2005), "Counting your customers the easy way",
    Marketing Science 24(2), 275-284.
  - Pareto/NBD: Fader and Hardie (2005), "A note on deriving the Pareto/NBD model and
    related expressions".
  - Gamma-Gamma: Fader and Hardie (2013), "The Gamma-Gamma model of monetary value"; its
    log-likelihood as given by the CLVTools reference implementation (its test suite).
  - BG/NBD conditional expectation at the published parameters: E[X(39) | x = 2,
    t_x = 30.43, T = 38.86] = 1.226 (Fader, Hardie and Lee 2005 and their spreadsheet).
- The two retention series of Fader and Hardie (2007), "How to project customer
  retention", years 1-7, 1,000 customers each: the sBG's alpha and beta.

The data sets ship with the project (``data/external/cdnow`` and ``data/external/sbg``);
reading those reference files is the one place outside ``analysis.data`` that opens a file.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from analysis.analyses.clv.btyd import (
    bgnbd_expected,
    fit_bgnbd,
    fit_gamma_gamma,
    fit_paretonbd,
)
from analysis.analyses.subscriptions.sbg import cohort_durations, fit_sbg, relative_difference
from analysis.core.paths import PROJECT_ROOT

TOLERANCE = 0.005  # the reproduced value is within 0.5% of the published one

CDNOW = "CDNOW 1/10 sample, 39-week calibration"
PUBLISHED = {
    ("BG/NBD", CDNOW): {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426,
                        "log-likelihood": -9582.4},
    ("Pareto/NBD", CDNOW): {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669,
                            "log-likelihood": -9595.0},
    ("Gamma-Gamma", CDNOW): {"p": 6.25, "q": 3.74, "gamma": 15.44,
                             "log-likelihood": -4055.92},
    ("BG/NBD conditional expectation", "x = 2, t_x = 30.43, T = 38.86, 39 weeks ahead"):
        {"expected purchases": 1.226},
    ("sBG", "regular, years 1-7"): {"alpha": 0.704, "beta": 1.182},
    ("sBG", "high end, years 1-7"): {"alpha": 0.668, "beta": 3.806},
}
SBG_SERIES = {"regular, years 1-7": "regular", "high end, years 1-7": "high_end"}
SBG_YEARS = 7


@dataclasses.dataclass(frozen=True)
class SelfCheck:
    """Published and reproduced values, one row per model and parameter."""

    table: pd.DataFrame  # model, data, parameter, published, reproduced, relative_difference

    @property
    def passed(self) -> bool:
        return bool((self.table["relative_difference"] <= TOLERANCE).all())

    def summary(self) -> pd.DataFrame:
        return self.table

    def records(self) -> list[dict]:
        """The ``--json`` form: model, parameter, published, reproduced."""
        return [{"model": f"{row.model} ({row.data})", "parameter": row.parameter,
                 "published": float(row.published), "reproduced": float(row.reproduced)}
                for row in self.table.itertuples()]

    def text(self) -> str:
        shown = self.table.assign(
            published=self.table["published"].map("{:,.4g}".format),
            reproduced=self.table["reproduced"].map("{:,.6g}".format),
            relative_difference=self.table["relative_difference"].map("{:.3%}".format),
            ok=np.where(self.table["relative_difference"] <= TOLERANCE, "ok", "DIFFERS"))
        verdict = ("All values reproduced within 0.5%." if self.passed else
                   "Some values differ by more than 0.5%: the installation does not reproduce "
                   "the published models.")
        return shown.to_string(index=False) + "\n\n" + verdict


def sbg_series() -> pd.DataFrame:
    """The two published survival series (years 0-12, cohorts of 1,000)."""
    return pd.read_csv(PROJECT_ROOT / "data" / "external" / "sbg" / "survival.csv")


def reproduced_values() -> dict[tuple[str, str], dict[str, float]]:
    from analysis.data.sources import load_cdnow
    from analysis.engine.rfm import rfm_summary

    summary = rfm_summary(load_cdnow("sample").transactions, "1997-10-01")
    out: dict[tuple[str, str], dict[str, float]] = {}
    for name, fit in (("BG/NBD", fit_bgnbd), ("Pareto/NBD", fit_paretonbd),
                      ("Gamma-Gamma", fit_gamma_gamma)):
        model = fit(summary)
        out[(name, CDNOW)] = {**model.params.to_dict(), "log-likelihood": model.loglik}
    published = PUBLISHED[("BG/NBD", CDNOW)]
    params = np.array([published[k] for k in ("r", "alpha", "a", "b")])
    out[("BG/NBD conditional expectation", "x = 2, t_x = 30.43, T = 38.86, 39 weeks ahead")] = {
        "expected purchases": float(bgnbd_expected(params, 39.0, np.array([2.0]),
                                                   np.array([30.43]), np.array([38.86]))[0])}
    series = sbg_series()
    for label, column in SBG_SERIES.items():
        cohort = cohort_durations(series[column].to_numpy()[:SBG_YEARS + 1])
        model = fit_sbg(cohort["duration"], cohort["churned"], cohort["customers"])
        out[("sBG", label)] = model.params.to_dict()
    return out


def selfcheck() -> SelfCheck:
    """Refit every published model and compare (a few seconds)."""
    reproduced = reproduced_values()
    rows = []
    for (model, data), values in PUBLISHED.items():
        for parameter, published in values.items():
            ours = float(reproduced[(model, data)][parameter])
            rows.append({"model": model, "data": data, "parameter": parameter,
                         "published": published, "reproduced": ours,
                         "relative_difference": relative_difference(published, ours)})
    return SelfCheck(pd.DataFrame(rows))
