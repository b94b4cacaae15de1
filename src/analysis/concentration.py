"""How concentrated are revenue and profit? The 80/20 claim (C1), the whale curve (C2) and
the cost of small customers (C6).

Shares are computed on customer-level values (one row per customer who bought in the
window). Intervals come from a customer-level bootstrap: resampling customers with
replacement is a multinomial count vector over customers, so every statistic of a
replicate is a weighted statistic of the original, sorted values. That keeps the
bootstrap vectorised (replicates in chunks of a count matrix) and exact.

Shares of a *fraction* k of customers use fractional customers at the cut (k*n need
not be whole), which makes the share a continuous, monotone function of k.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd

from analysis import plots
from analysis.results import ClaimResult, Estimate, Verdict

TOP_FRACTIONS = (0.01, 0.05, 0.10, 0.20, 0.50)
PROFIT_FRACTIONS = (0.01, 0.05, 0.10, 0.20, 0.28, 0.50)  # 28%: claim C2
# Pareto (survival) index for which the top 20% hold exactly 80%: 0.2 ** (1 - 1/a) = 0.8.
EXACT_8020_INDEX = math.log(5) / math.log(4)
FOLK_TOLERANCE = 0.05  # "80%" read as 75-85%: folk laws are stated in round numbers
MIN_CUSTOMERS = 50


# -- point statistics on weighted, sorted values -------------------------------------------


def _as_values(values: Sequence[float] | np.ndarray | pd.Series, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1:
        raise ValueError(f"{name}: expected one value per customer (a 1-d array)")
    if np.isnan(array).any():
        raise ValueError(f"{name}: {int(np.isnan(array).sum())} missing values; drop or fill "
                         "them before measuring concentration")
    return array


def top_shares(values, fractions: Sequence[float] = TOP_FRACTIONS, weights=None) -> np.ndarray:
    """Share of the total held by the top ``fractions`` of customers (by value).

    ``weights`` (customer counts, for the bootstrap) may be a matrix, one row per replicate;
    the result then has one row per replicate.
    """
    v = _as_values(values, "values")
    if v.sum() <= 0:
        raise ValueError("top_shares: the values must have a positive total")
    shares = _run_statistics(*_descending(v, weights), fractions).shares
    return shares[0] if weights is None else shares


def customers_for_share(values, share: float = 0.8) -> float:
    """Fraction of customers (largest first) needed to reach ``share`` of the total."""
    v = _as_values(values, "values")
    if v.sum() <= 0:
        return float("nan")
    return float(_run_statistics(*_descending(v), (), share).customers[0])


def gini(values, weights=None) -> np.ndarray | float:
    """Gini coefficient of non-negative values (0 = all equal, 1 = one customer has all)."""
    v = _as_values(values, "values")
    if (v < 0).any():
        raise ValueError("gini: values must be non-negative (use revenue, not profit)")
    g = _run_statistics(*_descending(v, weights), (), with_gini=True).gini
    return float(g[0]) if weights is None else g


def _descending(v: np.ndarray, weights=None) -> tuple[np.ndarray, np.ndarray]:
    """Counts (one row, all ones, without weights) and values, largest value first."""
    order = np.argsort(-v, kind="stable")
    w = np.ones((1, len(v))) if weights is None else np.atleast_2d(weights)[:, order]
    return w, v[order]


class RunStatistics(NamedTuple):
    shares: np.ndarray          # replicates x fractions
    customers: np.ndarray       # share of customers needed for ``share`` of the total
    gini: np.ndarray | None


def _run_statistics(counts: np.ndarray, v_desc: np.ndarray, fractions: Sequence[float],
                    share: float = 0.8, with_gini: bool = False) -> RunStatistics:
    """Top shares, customers needed for ``share`` and Gini of samples given as counts: row r
    holds ``counts[r, i]`` copies of ``v_desc[i]``, the values largest first (a row of ones
    is the sample itself, a bootstrap row a resample). Sorted, such a sample is one run of
    copies per value, so each statistic is a sum over runs: nothing is expanded or sorted."""
    c = np.atleast_2d(np.asarray(counts, dtype=float))
    size, k = c.shape
    ends = np.cumsum(c, axis=1)             # sample positions up to the end of each run
    run_value = c * v_desc
    cum = np.cumsum(run_value, axis=1)      # value up to the end of each run
    n, total = ends[:, -1], cum[:, -1]
    rows = np.arange(size)

    def starts(i: np.ndarray) -> np.ndarray:        # per row, the position run i starts at
        return ends[rows, i] - c[rows, i]

    def value_before(i: np.ndarray) -> np.ndarray:  # per row, the value of the runs before i
        return cum[rows, i] - run_value[rows, i]

    shares = np.empty((size, len(fractions)))
    for j, fraction in enumerate(fractions):
        m = fraction * n
        whole = np.minimum(np.floor(m), n)
        # the run holding sample number `whole` (0-based; the last run for whole = n)
        i = np.minimum([np.searchsorted(ends[r], whole[r], "right") for r in rows], k - 1)
        taken = value_before(i) + (whole - starts(i)) * v_desc[i]
        shares[:, j] = (taken + np.where(whole < n, v_desc[i] * (m - whole), 0.0)) / total
    target = share * total
    threshold = target - 1e-9 * np.abs(target)
    # the first run whose end reaches the target; the cumulative value rises over the runs
    # of positive values (to at least the total), so it is found among them
    rising = int(np.searchsorted(-v_desc, 0.0))
    first = np.array([np.searchsorted(cum[r, :rising], threshold[r]) for r in rows], dtype=int)
    value = v_desc[first]
    needed = starts(first) + (target - value_before(first)) / np.where(value > 0, value, np.inf)
    gini = None
    if with_gini:
        # sum over samples of value x (n - position): a run of c copies ending at
        # position e weighs c (n - e + (c + 1) / 2)
        ranked = np.einsum("ij,ij->i", run_value, n[:, None] - ends + (c + 1) / 2)
        # in [0, 1) for non-negative values; rounding alone can step outside (equal
        # values gave -2e-16)
        gini = np.clip(2 * ranked / (n * total) - (n + 1) / n, 0.0, 1.0)
    return RunStatistics(shares, np.minimum(needed, n) / n, gini)


def pareto_top_share(index: float, fraction: float = 0.2) -> float:
    """Share held by the top ``fraction`` under a Pareto law with survival index > 1."""
    if index <= 1:
        return 1.0
    return fraction ** (1 - 1 / index)


def implied_top_share(index: Estimate, fraction: float = 0.2) -> Estimate:
    """The population top share implied by a fitted Pareto index (monotone in the index).

    Empirical top shares of very heavy tails (index near 1) converge slowly and sit below
    the population value in any finite sample; the index-based value does not.
    """
    if index.value is None:
        return Estimate(None, method="no tail fitted")
    bounds = [pareto_top_share(b, fraction) for b in (index.high, index.low)
              if b is not None]
    return Estimate(pareto_top_share(index.value, fraction), *(bounds or [None, None]),
                    n=index.n, method=f"k^(1 - 1/index) at k={fraction:g}, pure Pareto law",
                    unit="share")


def lorenz_curve(values) -> pd.DataFrame:
    """Cumulative share of customers (smallest first) vs cumulative share of value."""
    v = np.sort(_as_values(values, "values"))
    cum = np.concatenate([[0.0], np.cumsum(v)])
    return pd.DataFrame({"customers": np.linspace(0, 1, len(v) + 1), "value": cum / cum[-1]})


# -- bootstrap ------------------------------------------------------------------------------


#: cells of one bootstrap chunk: its matrices stay near 32 MB, small enough for the
#: allocator to reuse memory instead of mapping (and faulting in) fresh pages each time
CHUNK_CELLS = 4_000_000


def chunk_rows(n: int) -> int:
    """Replicates per bootstrap chunk for n customers (at most 100: fewer rows only add
    per-chunk overhead; 1.5x faster than 100 rows at 355,000 customers)."""
    return max(1, min(100, CHUNK_CELLS // max(n, 1)))


def bootstrap_counts(n: int, replicates: int, seed: int, chunk: int | None = None):
    """Customer-level resamples as multinomial count rows, yielded in chunks of ``chunk``
    rows, default :func:`chunk_rows` (the resamples do not depend on the chunk size)."""
    chunk = chunk or chunk_rows(n)
    rng = np.random.default_rng(seed)
    done = 0
    while done < replicates:
        size = min(chunk, replicates - done)
        draws = rng.integers(0, n, size=(size, n)) + (np.arange(size) * n)[:, None]
        yield np.bincount(draws.ravel(), minlength=size * n).reshape(size, n).astype(float)
        done += size


def _interval(samples: np.ndarray, level: float) -> tuple[float, float]:
    tail = (1 - level) / 2 * 100
    low, high = np.nanpercentile(samples, [tail, 100 - tail])
    return float(low), float(high)


@dataclasses.dataclass(frozen=True)
class Concentration:
    """Top-k shares of one value (revenue or profit), the share of customers needed for 80%,
    and (for non-negative values) the Gini coefficient, each with a bootstrap interval."""

    measure: str
    n: int
    total: float
    shares: Mapping[float, Estimate]
    customers_for_80: Estimate
    gini: Estimate | None

    def summary(self) -> pd.DataFrame:
        rows = [{"measure": self.measure, "statistic": f"share of top {k:.0%}",
                 "value": e.value, "low": e.low, "high": e.high, "n": e.n}
                for k, e in self.shares.items()]
        rows.append({"measure": self.measure, "statistic": "customers needed for 80%",
                     "value": self.customers_for_80.value, "low": self.customers_for_80.low,
                     "high": self.customers_for_80.high, "n": self.n})
        if self.gini is not None:
            rows.append({"measure": self.measure, "statistic": "Gini", "value": self.gini.value,
                         "low": self.gini.low, "high": self.gini.high, "n": self.n})
        return pd.DataFrame(rows)

    def _repr_html_(self) -> str:
        return self.summary().to_html(index=False, float_format=lambda x: f"{x:.3f}")


def concentration(values, measure: str = "revenue", fractions=TOP_FRACTIONS,
                  replicates: int = 2000, seed: int = 0, level: float = 0.95,
                  chunk: int | None = None) -> Concentration:
    """Top shares, customers for 80% and Gini with customer-bootstrap percentile intervals.

    A replicate draws n customers with replacement. Drawn as indices into the values in
    descending order, a replicate is fully described by how often each index was drawn
    (a bincount), and the statistics of the sorted resample follow from those counts.
    """
    v = _as_values(values, measure)
    n = len(v)
    if n < 2 or v.sum() <= 0:
        raise ValueError(f"{measure}: need at least 2 customers and a positive total "
                         f"(got n={n}, total={v.sum():.2f})")
    v_desc = np.sort(v)[::-1]
    nonneg = bool((v >= 0).all())
    point = _run_statistics(np.ones((1, n)), v_desc, fractions, with_gini=nonneg)
    replicas = [_run_statistics(w, v_desc, fractions, with_gini=nonneg)
                for w in bootstrap_counts(n, replicates, seed, chunk)]
    shares_b = np.vstack([r.shares for r in replicas])
    method = f"customer bootstrap, {replicates} replicates, percentile interval"

    def estimate(value, samples):
        low, high = _interval(samples, level)
        return Estimate(float(value), low, high, n, method, level, "share")

    return Concentration(
        measure=measure, n=n, total=float(v.sum()),
        shares={k: estimate(point.shares[0, j], shares_b[:, j]) for j, k in enumerate(fractions)},
        customers_for_80=estimate(point.customers[0],
                                  np.concatenate([r.customers for r in replicas])),
        gini=(estimate(point.gini[0], np.concatenate([r.gini for r in replicas])) if nonneg
              else None),
    )


# -- whale curve and small customers ----------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class WhaleCurve:
    """Cumulative profit by customer rank (most profitable first), as a share of total profit."""

    curve: pd.DataFrame
    peak: float
    peak_at: float
    unprofitable_share: Estimate
    profit_destroyed: float
    top28_share: float
    n: int

    def summary(self) -> pd.DataFrame:
        return pd.DataFrame([
            {"statistic": "peak of the whale curve (share of total profit)", "value": self.peak},
            {"statistic": "reached with this share of customers", "value": self.peak_at},
            {"statistic": "customers with negative profit", "value": self.unprofitable_share.value},
            {"statistic": "profit they destroy (share of total profit)",
             "value": self.profit_destroyed},
            {"statistic": "profit share of the top 28%", "value": self.top28_share},
        ])


def whale_curve(profit) -> WhaleCurve:
    p = np.sort(_as_values(profit, "profit"))[::-1]
    n = len(p)
    total = p.sum()
    if n == 0 or total <= 0:
        raise ValueError(f"profit: the whale curve needs a positive total profit (got "
                         f"{total:.2f} over {n} customers)")
    cum = np.concatenate([[0.0], np.cumsum(p)]) / total
    share = np.arange(n + 1) / n
    peak_index = int(np.argmax(cum))
    losers = int((p < 0).sum())
    return WhaleCurve(
        curve=pd.DataFrame({"customers": share, "profit": cum}),
        peak=float(cum[peak_index]), peak_at=float(share[peak_index]),
        unprofitable_share=Estimate.wilson_share(
            losers, n, "share of customers with profit < 0, Wilson interval"),
        profit_destroyed=float(-p[p < 0].sum() / total),
        top28_share=float(_run_statistics(np.ones((1, n)), p, [0.28]).shares[0, 0]),
        n=n,
    )


@dataclasses.dataclass(frozen=True)
class SizeBands:
    """Profit after service cost by customer-size band (revenue quintiles)."""

    table: pd.DataFrame
    smallest_mean_profit: Estimate
    smallest_unprofitable: Estimate

    def reader_table(self) -> pd.DataFrame:
        """The band table with readable headings and number formats."""
        t = self.table
        return pd.DataFrame({
            "size band (1 = smallest)": t["size_band"].astype(str),
            "customers": t["customers"].map("{:,}".format),
            "revenue": t["revenue"].map("{:,.0f}".format),
            "service cost": t["service_cost"].map("{:,.0f}".format),
            "profit": t["profit"].map("{:,.0f}".format),
            "profit per customer": t["mean_profit"].map("{:,.2f}".format),
            "loss-making customers": t["unprofitable_share"].map("{:.0%}".format),
        })


def size_bands(features: pd.DataFrame, bands: int = 5) -> SizeBands:
    """Customers in revenue bands (1 = smallest): revenue, service cost, profit, loss makers."""
    _require(features, ("revenue", "profit", "service_cost"), "size_bands")
    buyers = features[features["revenue"] > 0]
    if len(buyers) < bands * 10:
        raise ValueError(f"size_bands: only {len(buyers)} customers with revenue; need at least "
                         f"{bands * 10}")
    band = pd.qcut(buyers["revenue"].rank(method="first"), bands, labels=range(1, bands + 1))
    grouped = buyers.groupby(band, observed=True)
    table = pd.DataFrame({
        "customers": grouped.size(),
        "revenue": grouped["revenue"].sum(),
        "service_cost": grouped["service_cost"].sum(),
        "profit": grouped["profit"].sum(),
        "mean_profit": grouped["profit"].mean(),
        "unprofitable_share": grouped["profit"].apply(lambda s: float((s < 0).mean())),
    }).rename_axis("size_band").reset_index()
    small = buyers.loc[band == 1, "profit"].to_numpy(float)
    mean, se = small.mean(), small.std(ddof=1) / math.sqrt(len(small))
    from scipy import stats

    t = stats.t.ppf(0.975, len(small) - 1)
    losers = int((small < 0).sum())
    return SizeBands(
        table=table,
        smallest_mean_profit=Estimate(float(mean), float(mean - t * se), float(mean + t * se),
                                      len(small), "mean profit of the smallest revenue band, "
                                      "t interval", unit="currency"),
        smallest_unprofitable=Estimate.wilson_share(losers, len(small),
                                                    "share with profit < 0, Wilson interval"),
    )


def _require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame]
    if missing:
        raise ValueError(f"{what}: the feature table lacks {missing}; build it with "
                         "ctx.features(...)")


# -- window length ----------------------------------------------------------------------------


def share_by_window(windows: Mapping[int, pd.DataFrame], measure: str = "revenue",
                    replicates: int = 500, seed: int = 0) -> pd.DataFrame:
    """Top-20% share of ``measure`` for windows of different length (months -> features).

    Two forces move the share with the window. Purchase noise: in a short window a
    customer's spend is a noisy sample of their value, which spreads customers apart and
    inflates the share. Selection: a short window only sees the customers who happened to
    buy, leaving out occasional small buyers, which deflates it. The chart shows which force
    wins in this company's data, so a one-month 80/20 figure is not over-read.
    """
    rows = []
    for months, features in sorted(windows.items()):
        values = features.loc[features["orders"] > 0, measure].to_numpy(float)
        if len(values) < MIN_CUSTOMERS or values.sum() <= 0:
            continue
        share = concentration(values, measure, (0.2,), replicates, seed).shares[0.2]
        rows.append({"months": months, "customers": len(values), "share": share.value,
                     "low": share.low, "high": share.high})
    return pd.DataFrame(rows, columns=["months", "customers", "share", "low", "high"])


# -- claims -----------------------------------------------------------------------------------


def claim_c1(profit: Concentration | None, reason: str | None = None) -> ClaimResult:
    """80% of profit from 20% of customers: 80% inside the top-20% share's interval (+-5 pts)."""
    if profit is None:
        return ClaimResult.not_testable("C1", reason or "profit is not available")
    share = profit.shares[0.2]
    gap = share.value - 0.8
    if share.n < MIN_CUSTOMERS or share.high - share.low > 0.2:
        verdict = Verdict.INCONCLUSIVE
    elif share.low <= 0.8 + FOLK_TOLERANCE and share.high >= 0.8 - FOLK_TOLERANCE:
        verdict = Verdict.SUPPORTED
    else:
        verdict = Verdict.NOT_SUPPORTED
    words = {Verdict.SUPPORTED: "close to the claimed 80%",
             Verdict.NOT_SUPPORTED: f"{abs(gap) * 100:.0f} points {'above' if gap > 0 else 'below'}"
                                    " the claimed 80%",
             Verdict.INCONCLUSIVE: "too uncertain to judge"}[verdict]
    return ClaimResult.from_estimate(
        "C1", share, verdict,
        f"The top 20% of customers earn {share.value:.0%} of profit ({words}).",
        claimed="80% of profit from the top 20% of customers",
        details={"gap": gap, "customers_for_80": profit.customers_for_80.value,
                 "tolerance": FOLK_TOLERANCE},
    )


def claim_c2(whale: WhaleCurve | None, profit: Concentration | None,
             reason: str | None = None) -> ClaimResult:
    """28% of customers give 72% of profit; many customers only cost."""
    if whale is None or profit is None:
        return ClaimResult.not_testable("C2", reason or "profit is not available")
    top28 = concentration_share(profit, whale)
    inside = top28.low <= 0.72 + FOLK_TOLERANCE and top28.high >= 0.72 - FOLK_TOLERANCE
    verdict = Verdict.SUPPORTED if inside else Verdict.NOT_SUPPORTED
    loss = whale.unprofitable_share
    return ClaimResult.from_estimate(
        "C2", top28, verdict,
        f"The top 28% of customers earn {top28.value:.0%} of profit (claim: 72%); "
        f"{loss.value:.0%} of customers lose money (claim: 78% only cost); the whale curve "
        f"peaks at {whale.peak:.0%} of profit.",
        claimed="28% of customers generate 72% of profit",
        details={"whale_peak": whale.peak, "peak_at": whale.peak_at,
                 "unprofitable_share": loss.value, "unprofitable_low": loss.low,
                 "unprofitable_high": loss.high, "profit_destroyed": whale.profit_destroyed},
    )


def concentration_share(profit: Concentration, whale: WhaleCurve) -> Estimate:
    """Top-28% profit share with the interval of the bootstrap at 28% if present."""
    if 0.28 in profit.shares:
        return profit.shares[0.28]
    return Estimate(whale.top28_share, None, None, whale.n, "point estimate", unit="share")


def claim_c6(bands: SizeBands | None, reason: str | None = None) -> ClaimResult:
    """Small customers cost more than they bring: mean profit of the smallest band < 0."""
    if bands is None:
        return ClaimResult.not_testable("C6", reason or "service costs are not available")
    e = bands.smallest_mean_profit
    if e.high < 0:
        verdict, words = Verdict.SUPPORTED, "lose money on average"
    elif e.low > 0:
        verdict, words = Verdict.NOT_SUPPORTED, "still earn a profit on average"
    else:
        verdict, words = Verdict.INCONCLUSIVE, "break even within the uncertainty"
    return ClaimResult.from_estimate(
        "C6", e, verdict,
        f"The smallest fifth of customers {words} after service costs "
        f"(mean {e.value:,.2f}); {bands.smallest_unprofitable.value:.0%} of them are "
        "unprofitable.",
        claimed="small customers consume more cost than they bring",
        details={"unprofitable_share": bands.smallest_unprofitable.value},
    )


# -- core customers -----------------------------------------------------------------------


def core_customers(current: pd.DataFrame, previous: pd.DataFrame | None = None,
                   share: float = 0.2, by: str = "profit") -> pd.DataFrame:
    """The top ``share`` of customers by ``by`` with tier, revenue, profit and trend."""
    _require(current, ("customer_id", "revenue", "profit"), "core_customers")
    buyers = current[current["orders"] > 0] if "orders" in current else current
    ranked = buyers.sort_values(by, ascending=False, kind="stable").reset_index(drop=True)
    n = len(ranked)
    top = ranked.head(max(1, math.ceil(share * n))).copy()
    rank_share = (np.arange(len(top)) + 1) / n
    top["tier"] = np.select([rank_share <= 0.01, rank_share <= 0.05, rank_share <= 0.10],
                            ["top 1%", "top 5%", "top 10%"], f"top {share:.0%}")
    columns = ["customer_id", "tier", "revenue", "profit"]
    if previous is not None:
        before = previous.set_index("customer_id")[by]
        top[f"{by}_previous"] = top["customer_id"].map(before).fillna(0.0)
        change = top[by] - top[f"{by}_previous"]
        top["trend"] = np.select([change > 0.1 * top[f"{by}_previous"].abs(),
                                  change < -0.1 * top[f"{by}_previous"].abs()],
                                 ["growing", "shrinking"], "stable")
        columns += [f"{by}_previous", "trend"]
    return top[columns]


def core_summary(core: pd.DataFrame) -> pd.DataFrame:
    """Customers, revenue and profit per tier of the core list (and growth where known)."""
    grouped = core.groupby("tier", sort=False)
    out = pd.DataFrame({"customers": grouped.size(), "revenue": grouped["revenue"].sum(),
                        "profit": grouped["profit"].sum()})
    if "trend" in core:
        out["growing"] = grouped["trend"].apply(lambda s: int((s == "growing").sum()))
        out["shrinking"] = grouped["trend"].apply(lambda s: int((s == "shrinking").sum()))
    return out.reset_index()


# -- figures --------------------------------------------------------------------------------


def plot_lorenz(values, conc: Concentration, ax=None):
    if ax is None:
        _, ax = plots.new_figure()
    curve = lorenz_curve(values)
    ax.plot(curve["customers"], curve["value"], label=f"{conc.measure} (Lorenz curve)")
    ax.plot([0, 1], [0, 1], color=plots.NEUTRAL, linestyle=":", label="perfect equality")
    ax.scatter([0.8], [0.2], color=plots.HIGHLIGHT, zorder=3, label="exact 80/20")
    share = conc.shares.get(0.2)
    gini_text = f"; Gini {conc.gini.value:.2f}" if conc.gini else ""
    plots.finding(ax, f"The top 20% of customers bring {share.value:.0%} of {conc.measure}",
                  f"n={conc.n:,} customers{gini_text}; smallest customers on the left")
    plots.percent_axis(ax, "x")
    plots.percent_axis(ax, "y")
    ax.set_xlabel("share of customers (smallest first)")
    ax.set_ylabel(f"share of {conc.measure}")
    ax.legend(loc="upper left")
    return ax


def plot_whale(whale: WhaleCurve, ax=None):
    if ax is None:
        _, ax = plots.new_figure()
    ax.plot(whale.curve["customers"], whale.curve["profit"])
    ax.axhline(1.0, color=plots.NEUTRAL, linestyle=":")
    ax.scatter([whale.peak_at], [whale.peak], color=plots.HIGHLIGHT, zorder=3)
    ax.annotate(f"peak {whale.peak:.0%}", (whale.peak_at, whale.peak), textcoords="offset points",
                xytext=(5, 5))
    plots.finding(ax, f"Profit peaks at {whale.peak:.0%} of the total before loss-making "
                      "customers pull it back",
                  f"n={whale.n:,}; {whale.unprofitable_share.value:.0%} of customers lose money")
    plots.percent_axis(ax, "x")
    plots.percent_axis(ax, "y")
    ax.set_xlabel("share of customers (most profitable first)")
    ax.set_ylabel("cumulative share of total profit")
    return ax


def plot_share_by_window(table: pd.DataFrame, ax=None):
    if ax is None:
        _, ax = plots.new_figure()
    err = [table["share"] - table["low"], table["high"] - table["share"]]
    ax.errorbar(table["months"].astype(str), table["share"], yerr=err, marker="o", capsize=4)
    ax.axhline(0.8, color=plots.HIGHLIGHT, linestyle="--", label="claimed 80%")
    if len(table):
        first, last = table.iloc[0], table.iloc[-1]
        title = (f"Measured over {int(first['months'])} month(s) the top 20% hold "
                 f"{first['share']:.0%}; over {int(last['months'])} months {last['share']:.0%}")
    else:
        title = "Not enough customers to compare windows"
    plots.finding(ax, title, "the same measure over trailing windows of 1 to 12 months")
    plots.percent_axis(ax)
    ax.set_xlabel("window length (months)")
    ax.set_ylabel("share of the top 20%")
    ax.legend()
    return ax


def plot_tail(values, fit, ax=None):
    """Log-log complementary CDF with the fitted Pareto tail."""
    if ax is None:
        _, ax = plots.new_figure()
    x = np.sort(_as_values(values, "values"))
    x = x[x >= 0.01]
    ccdf = 1 - np.arange(len(x)) / len(x)
    ax.loglog(x, ccdf, marker=".", linestyle="none", markersize=2, alpha=0.5, label="customers")
    if fit is not None and fit.xmin is not None:
        grid = np.geomspace(fit.xmin, x.max(), 50)
        tail_share = fit.n_tail / len(x)
        ax.loglog(grid, tail_share * (grid / fit.xmin) ** (-fit.index.value), color=plots.HIGHLIGHT,
                  label=f"Pareto tail, index {fit.index.value:.2f}")
        title = (f"Above {plots.fmt_money(fit.xmin)} spend falls off with Pareto index "
                 f"{fit.index.value:.2f} (exact 80/20 needs {EXACT_8020_INDEX:.2f})")
    else:
        title = "No Pareto tail could be fitted"
    plots.finding(ax, title, "share of customers spending at least x, log-log scale")
    ax.set_xlabel("value per customer")
    ax.set_ylabel("share of customers with at least this value")
    ax.legend()
    return ax


# -- the section in one call ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ConcentrationReport:
    """Everything the concentration section shows, for one window ending at the period end."""

    window_months: int
    revenue: Concentration
    profit: Concentration | None
    whale: WhaleCurve | None
    bands: SizeBands | None
    tail: object  # concentration_tail.TailFit
    by_window: pd.DataFrame
    core: pd.DataFrame
    claims: tuple[ClaimResult, ...]
    profit_reason: str | None

    def headlines(self) -> dict[str, Estimate]:
        out = {"top20_revenue_share": self.revenue.shares[0.2],
               "revenue_gini": self.revenue.gini,
               "customers_for_80pct_revenue": self.revenue.customers_for_80}
        if self.profit is not None:
            out["top20_profit_share"] = self.profit.shares[0.2]
            out["customers_for_80pct_profit"] = self.profit.customers_for_80
        if self.whale is not None:
            out["unprofitable_customers"] = self.whale.unprofitable_share
        if self.tail.index.value is not None:
            out["pareto_tail_index"] = self.tail.index
        return {k: v for k, v in out.items() if v is not None}


def profit_missing_reason(features: pd.DataFrame) -> str | None:
    if "profit" not in features or features["profit"].isna().any():
        return "cost of goods is not supplied, so profit per customer is unknown"
    if features["profit"].sum() <= 0:
        return "total profit in the window is not positive"
    return None


def service_missing_reason(features: pd.DataFrame) -> str | None:
    if "service_cost" not in features or features["service_cost"].isna().all():
        return "service costs are not recorded (no interactions table with service_cost)"
    return None


def concentration_report(features: pd.DataFrame, previous: pd.DataFrame | None,
                         windows: Mapping[int, pd.DataFrame], window_months: int = 12,
                         replicates: int = 1000, gof_replicates: int = 100,
                         seed: int = 0) -> ConcentrationReport:
    """The 80/20 section: shares with intervals, whale curve, size bands, tail, windows, core."""
    from analysis.concentration_tail import fit_tail

    buyers = features[features["orders"] > 0]
    if len(buyers) < 2:
        raise ValueError(f"concentration: only {len(buyers)} customers bought in the window")
    revenue = concentration(buyers["revenue"].clip(lower=0), "revenue", TOP_FRACTIONS,
                            replicates, seed)
    reason = profit_missing_reason(buyers)
    profit = whale = None
    if reason is None:
        profit = concentration(buyers["profit"], "profit", PROFIT_FRACTIONS, replicates, seed)
        whale = whale_curve(buyers["profit"])
    service_reason = reason or service_missing_reason(buyers)
    bands = size_bands(buyers) if service_reason is None else None
    tail = fit_tail(buyers["revenue"], gof_replicates, seed=seed)
    measure = "profit" if profit is not None else "revenue"
    by_window = share_by_window(windows, measure, max(200, replicates // 4), seed)
    core = core_customers(buyers, previous, by=measure)
    claims = (claim_c1(profit, reason), claim_c2(whale, profit, reason),
              claim_c6(bands, service_reason))
    return ConcentrationReport(window_months, revenue, profit, whale, bands, tail, by_window,
                               core, claims, reason)
