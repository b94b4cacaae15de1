"""C12: do satisfaction indicators move with profit? One estimate with one interval.

The claim lists complaint rate, return rate, purchase amount and price sensitivity. Some of
these are *parts of profit*: a return lowers revenue, a complaint costs service time
(subtracted from profit when service costs are recorded), and the order value is revenue.
They move with profit by accounting, so they are shown in a table of their own and kept out
of the estimate.

The estimate is the **median partial rank correlation** of the satisfaction indicators with
profit (controls: tenure and size, as in the correlation table), each signed so that a
positive value means "moves with profit in the expected direction". A survey counts once:
its latest score, mean score, top box and would-recommend answer are one indicator (the
mean score represents them). The interval comes from a customer bootstrap: customers are
resampled, every indicator's partial correlation and their median are recomputed, and the
percentile interval of the median is reported.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from analysis.analyses.satisfaction.correlations import correlation
from analysis.analyses.satisfaction.indicators import (
    DEFAULT_CONTROLS,
    as_float,
    with_derived,
)
from analysis.core.results import Estimate

#: the survey represented once (latest score, top box and would-recommend are the same survey)
SURVEY_INDICATOR = "satisfaction_mean"

#: satisfaction indicators: column -> (label, expected sign if it moves with profit)
LINK_INDICATORS: dict[str, tuple[str, int]] = {
    SURVEY_INDICATOR: ("Survey satisfaction (one survey: mean score)", +1),
    "median_response_hours": ("Median complaint response time", -1),
    "promo_share": ("Price sensitivity (promotion share)", -1),
    "complaint_rate": ("Complaint rate (per purchase day)", -1),
}

#: parts of profit: column -> (label, expected sign, why it moves with profit by accounting)
ACCOUNTING_PARTS: dict[str, tuple[str, int, str]] = {
    "avg_order_value": ("Single purchase amount", +1, "order value is revenue"),
    "return_rate": ("Return rate", -1, "returns are subtracted from revenue"),
    "complaint_rate": ("Complaint rate (per purchase day)", -1,
                       "complaints cause service cost, which is subtracted from profit"),
}

MIN_CUSTOMERS = 30


@dataclasses.dataclass(frozen=True)
class IndicatorLink:
    """The C12 estimate, the indicators behind it and the parts of profit shown apart."""

    estimate: Estimate | None      # median signed partial correlation, bootstrap interval
    indicators: pd.DataFrame       # indicator, label, expected_sign, n, r, low, high, signed_r
    accounting: pd.DataFrame       # the parts of profit: same columns plus "why apart"
    reason: str | None = None      # why there is no estimate
    replicates: int = 0

    @property
    def summary(self) -> pd.DataFrame:
        return pd.concat([self.indicators.assign(role="satisfaction indicator (in the "
                                                      "estimate)"),
                          self.accounting.assign(role="part of profit (shown apart)")],
                         ignore_index=True)


def _service_cost_known(frame: pd.DataFrame) -> bool:
    return "service_cost" in frame and np.isfinite(as_float(frame["service_cost"])).any()


def split_indicators(frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(satisfaction indicators, parts of profit) available in ``frame``: the complaint rate
    is a part of profit when service costs are recorded, else a satisfaction indicator."""
    def present(c):
        return c in frame and np.isfinite(as_float(frame[c])).any()

    complaint_cost = _service_cost_known(frame)
    satisfaction = [c for c in LINK_INDICATORS if present(c)
                    and not (c == "complaint_rate" and complaint_cost)]
    accounting = [c for c in ACCOUNTING_PARTS if present(c)
                  and (c != "complaint_rate" or complaint_cost)]
    return satisfaction, accounting


def _partial(frame: pd.DataFrame, column: str, outcome: str, controls, level: float):
    z = np.column_stack([as_float(frame[c]) for c in controls]) if controls else None
    return correlation(as_float(frame[column]), as_float(frame[outcome]), "spearman",
                       controls=z, level=level, names=(column, outcome),
                       control_names=tuple(controls))


def _row(frame, column, label, sign, outcome, controls, level) -> dict:
    c = _partial(frame, column, outcome, controls, level)
    return {"indicator": column, "label": label, "expected_sign": sign, "n": c.n, "r": c.r,
            "low": c.low, "high": c.high, "signed_r": sign * c.r}


def _signed_median(data: np.ndarray, signs: np.ndarray, controls: int) -> float:
    """Median signed partial Spearman correlation; ``data`` columns: the indicators, then
    the outcome, then ``controls`` control columns."""
    k = len(signs)
    y = data[:, k]
    z = data[:, k + 1:] if controls else None
    values = [signs[i] * correlation(data[:, i], y, "spearman", controls=z).r
              for i in range(k)]
    return float(np.median(values)) if np.isfinite(values).all() else np.nan


def indicator_link(features: pd.DataFrame, outcome: str = "profit",
                   controls=DEFAULT_CONTROLS, replicates: int = 200, seed: int = 0,
                   level: float = 0.95) -> IndicatorLink:
    """The C12 estimate: median signed partial Spearman correlation of the satisfaction
    indicators with ``outcome``, with a customer-bootstrap percentile interval.

    Never raises on data: without profit, surveys or enough customers, the estimate is
    None and ``reason`` says why.
    """
    empty = pd.DataFrame(columns=["indicator", "label", "expected_sign", "n", "r", "low",
                                  "high", "signed_r"])
    frame = with_derived(features)
    controls = [c for c in controls if c in frame]
    if outcome not in frame or not np.isfinite(as_float(frame[outcome])).any():
        return IndicatorLink(None, empty, empty, f"{outcome} is unknown (no cost of goods)")
    satisfaction, accounting = split_indicators(frame)
    indicators = pd.DataFrame([_row(frame, c, *LINK_INDICATORS[c], outcome, controls, level)
                               for c in satisfaction], columns=empty.columns)
    parts = pd.DataFrame([{**_row(frame, c, *ACCOUNTING_PARTS[c][:2], outcome, controls,
                                  level),
                           "why apart": ACCOUNTING_PARTS[c][2]} for c in accounting],
                         columns=[*empty.columns, "why apart"])
    usable = indicators[np.isfinite(indicators["signed_r"].astype(float))]
    if SURVEY_INDICATOR not in set(usable["indicator"]):
        surveyed = (int(np.isfinite(as_float(frame[SURVEY_INDICATOR])).sum())
                    if SURVEY_INDICATOR in frame else 0)
        reason = ("no customer has a satisfaction survey" if surveyed == 0 else
                  f"only {surveyed} surveyed customers, or their scores or profit do not "
                  f"vary; a correlation needs at least {MIN_CUSTOMERS} customers with both")
        return IndicatorLink(None, indicators, parts, reason)
    if int(usable["n"].min()) < MIN_CUSTOMERS:
        return IndicatorLink(None, indicators, parts,
                             f"only {int(usable['n'].min())} customers have both an indicator "
                             f"and profit; need at least {MIN_CUSTOMERS}")
    columns = list(usable["indicator"])
    value = float(np.median(usable["signed_r"]))
    rng = np.random.default_rng(seed)
    data = np.column_stack([as_float(frame[c]) for c in [*columns, outcome, *controls]])
    signs = np.array([LINK_INDICATORS[c][1] for c in columns], dtype=float)
    draws = np.array([_signed_median(data[rng.integers(0, len(data), len(data))], signs,
                                     len(controls))
                      for _ in range(replicates)])
    draws = draws[np.isfinite(draws)]
    if len(draws) < 0.9 * replicates or np.ptp(draws) == 0:
        return IndicatorLink(None, indicators, parts,
                             "the bootstrap of the median correlation did not vary or failed "
                             "in too many resamples", replicates)
    tail = (1 - level) / 2
    low, high = np.quantile(draws, [tail, 1 - tail])
    estimate = Estimate(
        value, float(low), float(high), int(usable["n"].max()),
        f"median of {len(columns)} signed partial Spearman correlations with {outcome} "
        f"(controls: {', '.join(controls) or 'none'}), customer bootstrap, {replicates} "
        "replicates, percentile interval", level, "r")
    return IndicatorLink(estimate, indicators, parts, None, replicates)


def spearman_of_normal(rho: float) -> float:
    """The Spearman correlation of a bivariate normal pair with Pearson correlation rho
    (for tests with known truth)."""
    return float(6 / np.pi * np.arcsin(rho / 2))


__all__ = ["ACCOUNTING_PARTS", "LINK_INDICATORS", "SURVEY_INDICATOR",
           "IndicatorLink", "indicator_link", "spearman_of_normal", "split_indicators"]
