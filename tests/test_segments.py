"""Segments: tiers and pyramids on hand-made data, settings validation, stages, transitions,
the profit-share bootstrap on simulated data, manager's questions against direct computation
on the demo company, and the pseudonymised export."""

from __future__ import annotations

import tomllib

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.analyses import segments
from analysis.data.config import SECTION_DEFAULTS_DIR

DEFAULTS = tomllib.loads((SECTION_DEFAULTS_DIR / "segments.default.toml").read_text())["segments"]
KNOWN = ["revenue", "profit", "orders", "gross_margin", "tenure_days", "categories_total",
         "referrals_made", "satisfaction_mean", "complaints_total", "service_cost"]
FOUR = segments.Tiering((0.5, 0.8, 0.95), ("small", "general", "core", "key"))


def test_default_settings_parse():
    settings = segments.parse_settings(DEFAULTS, KNOWN)
    assert settings.tiers.labels == ("small", "general", "core", "key")
    assert set(settings.pyramids) == {"profit_value", "potential_value"}
    assert sum(settings.aspect_weights.values()) == pytest.approx(1)


@pytest.mark.parametrize(("change", "message"), [
    ({"pyramids": {"p": {"weights": {"revenue": 0.5, "profit": 0.4}}}}, "sum to 0.9"),
    ({"pyramids": {"p": {"weights": {"revenue": 0.5, "turnover": 0.5}}}}, "unknown indicators"),
    ({"pyramids": {"p": {"weights": {"revenue": 1.0}, "cuts": [0.8, 0.5]}}}, "increasing"),
    ({"pyramids": {"p": {"weights": {"revenue": 1.0}, "cuts": [50.0]}}}, "between 0 and 1"),
    ({"pyramids": {"p": {"weights": {"revenue": 1.0}, "cut_by": "rank"}}}, "cut_by"),
    ({"pyramids": {"p": {"weights": {"revenue": 1.2, "profit": -0.2}}}}, ">= 0"),
    ({"tiers": {"indicators": ["revenue"], "cuts": [0.5], "labels": ["a", "b", "c"]}},
     "one label more"),
    ({"tiers": {"indicators": ["revenue", "margin_pct"]}}, "unknown indicators"),
    ({"tiers": {"indicators": ["revenue", "profit", "orders", "tenure_days"]}}, "1 to 3"),
    ({"scorecard": {"aspects": {"financial": {"profit": 1.0}},
                    "weights": {"financial": 1.0}}}, "needs exactly"),
    ({"scorecard": {**DEFAULTS["scorecard"], "weights": {"financial": 0.5, "sales": 0.5,
                                                         "customer": 0.5, "service": 0.5}}},
     "sum to 2"),
])
def test_bad_settings_get_a_clear_error(change, message):
    raw = {**DEFAULTS, **change}
    with pytest.raises(segments.SegmentConfigError, match=message):
        segments.parse_settings(raw, KNOWN)


def test_tiers_and_pyramid_on_hand_made_data():
    frame = pd.DataFrame({"revenue": np.arange(1, 21, dtype=float),
                          "profit": np.arange(1, 21, dtype=float) / 10})
    tiers = segments.assign_tiers(frame["revenue"], FOUR)
    assert tiers.value_counts().to_dict() == {"small": 10, "general": 6, "core": 3, "key": 1}
    assert tiers.iloc[-1] == "key" and tiers.iloc[0] == "small"
    table = segments.pyramid(frame, tiers, "test").table
    assert list(table["tier"]) == ["key", "core", "general", "small"]
    assert table["customers"].sum() == 20
    assert table.loc[0, "revenue"] == 20 and table["revenue_share"].sum() == pytest.approx(1)
    # small tier: revenue 1..10 = 55 of 210
    assert table.loc[3, "revenue_share"] == pytest.approx(55 / 210)


def test_value_cut_points_and_missing_values():
    tiering = segments.Tiering((100.0, 1000.0), ("small", "mid", "big"), by="value")
    values = pd.Series([0.0, 99.9, 100.0, 999.0, 1000.0, 5e4, np.nan])
    tiers = segments.assign_tiers(values, tiering)
    assert list(tiers.iloc[:6]) == ["small", "small", "mid", "mid", "big", "big"]
    assert pd.isna(tiers.iloc[6])
    share_tiers = segments.assign_tiers(values, FOUR)
    assert pd.isna(share_tiers.iloc[6]) and share_tiers.iloc[5] == "key"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=300))
def test_share_tiers_are_monotone_and_sized_by_the_cuts(values):
    series = pd.Series(values)
    codes = segments.assign_tiers(series, FOUR).cat.codes.to_numpy()
    order = np.argsort(series.to_numpy(), kind="stable")
    assert np.all(np.diff(codes[order]) >= 0)            # more value never means a lower tier
    n = len(values)
    below = np.searchsorted(np.array(FOUR.cuts), np.arange(1, n + 1) / n, side="left")
    assert np.bincount(codes, minlength=4).tolist() == np.bincount(below, minlength=4).tolist()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.floats(0, 1e4, allow_nan=False), st.just(np.nan)), min_size=1,
                max_size=200))
def test_percentile_scores_lie_in_0_100_and_keep_order(values):
    frame = pd.DataFrame({"x": values, "y": values})
    scores = segments.percentile_scores(frame, ["x", "y"], lower_is_better=["y"])
    assert scores.to_numpy().min() >= 0 and scores.to_numpy().max() <= 100
    known = frame["x"].notna()
    if known.sum() >= 2:
        x, s = frame.loc[known, "x"].to_numpy(), scores.loc[known, "x"].to_numpy()
        i, j = np.argmax(x), np.argmin(x)
        assert s[i] >= s[j] and scores.loc[known, "y"].to_numpy()[i] <= \
            scores.loc[known, "y"].to_numpy()[j]
    assert (scores.loc[~known] == 50).all().all()


def test_percentile_scores_reverse_lower_is_better():
    frame = pd.DataFrame({"complaints_total": [0, 1, 2, 3], "revenue": [1, 2, 3, 4]})
    scores = segments.percentile_scores(frame, ["complaints_total", "revenue"],
                                        ["complaints_total"])
    assert list(scores["revenue"]) == [25, 50, 75, 100]
    assert list(scores["complaints_total"]) == [100, 75, 50, 25]


def test_scorecard_blends_aspects_with_their_weights():
    settings = segments.parse_settings(DEFAULTS, KNOWN)
    scores = pd.DataFrame({c: [10.0, 90.0] for c in KNOWN})
    scores.loc[0, "profit"] = 100.0      # financial = 0.6 * 100 + 0.4 * 10 = 64 for customer 0
    card = segments.scorecard(scores, settings)
    assert card.scores.loc[0, "financial"] == pytest.approx(64)
    w = settings.aspect_weights
    expected_actual = (64 * w["financial"] + 10 * w["sales"]) / (w["financial"] + w["sales"])
    assert card.scores.loc[0, "actual"] == pytest.approx(expected_actual)
    assert card.scores.loc[1, "total"] == pytest.approx(90)
    assert card.quadrants["customers"].sum() == 2


def _stage_frame(**columns):
    base = {"active": True, "orders_total": 1, "tenure_days": 30.0, "referrals_made": 0,
            "would_recommend": np.nan, "top_box": pd.NA, "market_type": "consumer"}
    base.update(columns)
    return pd.DataFrame({k: [v] for k, v in base.items()})


@pytest.mark.parametrize(("columns", "top", "stage"), [
    ({}, False, "first purchase"),
    ({"referrals_made": 2}, False, "first purchase"),      # supporters need 2+ purchases
    ({"orders_total": 3}, False, "repeat"),
    ({"orders_total": 3, "tenure_days": 400.0}, False, "long-term"),
    ({"orders_total": 3, "referrals_made": 1}, False, "supporter"),
    ({"orders_total": 3, "would_recommend": 9.0}, False, "supporter"),
    ({"orders_total": 3, "top_box": True}, False, "supporter"),
    ({"orders_total": 3, "tenure_days": 800.0}, True, "strategic"),
    ({"orders_total": 3, "tenure_days": 800.0}, False, "long-term"),
    ({"orders_total": 3, "tenure_days": 400.0, "market_type": "intermediary"}, True, "partner"),
    ({"orders_total": 3, "tenure_days": 400.0, "market_type": "consumer"}, True, "long-term"),
    ({"orders_total": 3, "active": False}, True, "lapsed"),
])
def test_stage_rules(columns, top, stage):
    frame = _stage_frame(**columns)
    tier = pd.Series(["key" if top else "small"], index=frame.index)
    assert segments.lifecycle_stage(frame, tier).iloc[0] == stage


def test_stage_rules_name_missing_columns():
    with pytest.raises(ValueError, match="would_recommend"):
        segments.lifecycle_stage(_stage_frame().drop(columns="would_recommend"))


def test_transitions_conserve_customers_with_entries_and_exits():
    before = pd.Series({"a": "first purchase", "b": "repeat", "c": "lapsed", "e": "repeat"})
    after = pd.Series({"a": "repeat", "b": "repeat", "c": "long-term", "d": "first purchase"})
    table = segments.transitions(before, after)
    assert table.to_numpy().sum() == 5
    assert table.loc["(new)", "first purchase"] == 1
    assert table.loc["repeat", "(left the data)"] == 1
    assert table.sum(axis=1).drop("(new)").to_dict() == before.value_counts().to_dict()
    assert table.sum(axis=0).drop("(left the data)").to_dict() == after.value_counts().to_dict()
    moves = segments.stage_moves(table)
    assert moves.to_dict() == {"new": 1, "moved up": 1, "stayed": 1, "moved back": 0,
                               "lapsed": 0, "won back": 1, "left the data": 1}


def test_top_tier_profit_share_hand_made():
    profit = pd.Series([10.0, 20.0, 30.0, 40.0])
    top = pd.Series([False, False, False, True])
    estimate = segments.top_tier_profit_share(profit, top, replicates=0)
    assert estimate.value == pytest.approx(0.4) and estimate.n == 4 and estimate.low is None


def test_top_tier_profit_share_interval_covers_the_truth():
    """Superpopulation: 5% top customers with lognormal profit of mean 20, the rest mean 1;
    true share = 0.05 * 20 / (0.05 * 20 + 0.95 * 1). The percentile-t interval
    (concentration.group_share) covers it in about 94% of simulated companies (1,000
    simulations; the plain percentile interval it replaced covered 92-93%): at least 178 of
    200, about three standard deviations below the expected 189."""
    rng = np.random.default_rng(7)
    sigma = 1.0
    truth = 0.05 * 20 / (0.05 * 20 + 0.95)
    covered = 0
    for _ in range(200):
        top = rng.random(2000) < 0.05
        mean = np.where(top, 20.0, 1.0)
        profit = rng.lognormal(np.log(mean) - sigma**2 / 2, sigma)
        e = segments.top_tier_profit_share(pd.Series(profit), pd.Series(top), 300,
                                           seed=int(rng.integers(1e9)))
        assert e.low <= e.value <= e.high
        covered += e.covers(truth)
    assert covered >= 178


@pytest.fixture(scope="module")
def demo_report(small_demo_config):
    from analysis.engine.context import open_period

    ctx = open_period(small_demo_config)
    return ctx, segments.segment_report(ctx, seed=3)


def test_manager_questions_match_direct_computation(demo_report):
    ctx, report = demo_report
    churn_days = pd.Timedelta(days=ctx.settings.churn_days)
    start, end = ctx.period.start, ctx.period.end
    tx = ctx.data.transactions
    sales = tx[~tx["is_return"] & (tx["timestamp"] < end)]
    in_period = sales[sales["timestamp"] >= start]
    answers = dict(zip(report.questions["question"], report.questions["customers"], strict=True))
    assert answers["How many customers bought this period?"] == in_period["customer_id"].nunique()
    days = sales.assign(day=sales["timestamp"].dt.normalize()).groupby("customer_id")["day"]
    n_days = days.nunique()
    assert answers["How many have bought two times or more?"] == int((n_days >= 2).sum())
    last = days.max()
    once_gone = (n_days == 1) & (last <= end - churn_days)
    assert answers["How many bought once and never again?"] == int(once_gone.sum())
    # contacted: by the company (type "contact"), not the customer's complaints or requests
    contacted = set(ctx.data.interactions.loc[
        (ctx.data.interactions["opened_at"] < end)
        & (ctx.data.interactions["type"] == "contact"), "customer_id"])
    never = sum(1 for c in n_days.index if c not in contacted)
    assert answers["How many have never been contacted?"] == never
    # churned this month: last purchase before the start was within churn_days of the start,
    # no purchase in the month, and the inactivity line crossed by the end
    before = sales[sales["timestamp"] < start]
    last_before = before.groupby("customer_id")["timestamp"].max()
    days_before = before.assign(day=before["timestamp"].dt.normalize()).groupby(
        "customer_id")["day"].nunique()
    churned = ((start - last_before <= churn_days) & (end - last_before > churn_days)
               & ~last_before.index.isin(in_period["customer_id"]))
    new_left = churned & (days_before == 1)
    assert answers["How many new customers left after their first purchase?"] == new_left.sum()
    customers = ctx.data.customers.set_index("customer_id")
    first = sales.groupby("customer_id")["timestamp"].min()
    signup = customers["signup_date"].reindex(first.index).fillna(first)
    complained = set(ctx.data.interactions.loc[
        (ctx.data.interactions["type"] == "complaint")
        & (ctx.data.interactions["opened_at"] < end), "customer_id"])
    tenure = (end - signup).dt.total_seconds() / 86400
    silent = (churned.reindex(first.index, fill_value=False)
              & (days_before.reindex(first.index) >= 2)
              & (tenure >= 365 + ctx.settings.churn_days)
              & ~first.index.isin(list(complained)))
    assert answers["How many long-standing customers left without notice?"] == silent.sum()
    shares = report.questions.dropna(subset=["share"])
    assert ((shares["low"] <= shares["share"]) & (shares["share"] <= shares["high"])).all()


def test_segment_report_tables_are_consistent(demo_report):
    _, report = demo_report
    n = len(report.customers)
    assert report.strategies["customers"].sum() == n + report.prospects
    assert report.stages["customers"].sum() == n + report.prospects
    assert report.transitions.to_numpy().sum() == n + report.transitions.get(
        "(left the data)", pd.Series(dtype=int)).sum()
    assert report.moves.sum() == report.transitions.to_numpy().sum()
    assert report.customers["customer_id"].is_unique
    buyers = report.customers["actual"].notna()
    assert buyers.sum() == report.buyers == len(report.scorecard.scores)
    assert report.customers.loc[~buyers, "profit_value_tier"].isna().all()
    for p in report.pyramids:
        assert p.table["customers"].sum() == report.buyers
    e = report.headlines()["top_tier_profit_share"]
    assert e.low <= e.value <= e.high and e.n == report.buyers
    assert set(report.findings()) == {"questions", "strategies", "scorecard", "stages",
                                      "pyramid"}


def test_hand_offs_are_merged_by_customer_id(demo_report, small_demo_config):
    from analysis.engine.context import open_period

    ctx, _ = demo_report
    ids = ctx.features()["customer_id"]
    value = pd.DataFrame({"customer_id": ids, "clv": np.linspace(0, 100, len(ids)),
                          "p_alive": 0.5})
    risk = pd.DataFrame({"customer_id": ids.iloc[::-1], "churn_risk": np.linspace(0, 1, len(ids))})
    report = segments.segment_report(open_period(small_demo_config), value=value, risk=risk)
    merged = report.customers.set_index("customer_id")
    assert merged.loc[ids.iloc[-1], "clv"] == pytest.approx(100)
    assert merged.loc[ids.iloc[-1], "churn_risk"] == pytest.approx(0)
    with pytest.raises(ValueError, match="customer_id"):
        segments.segment_report(ctx, risk=risk.rename(columns={"customer_id": "id"}))


def test_export_is_pseudonymised(demo_report, tmp_path):
    from analysis.report.exports import write_export

    ctx, report = demo_report
    path = write_export(report.customers, tmp_path, "customer_segments", ctx.settings)
    exported = pd.read_csv(path)
    assert len(exported) == len(report.customers)
    assert not set(exported["customer_id"]) & set(report.customers["customer_id"])
    assert not {"name", "email"} & set(exported.columns)
    assert (tmp_path / "exports" / "customer_segments.parquet").exists()


def test_partial_company_settings_are_completed_from_defaults():
    raw = segments.with_defaults({"scorecard": {"weights": {"financial": 0.4, "sales": 0.4,
                                                            "customer": 0.1, "service": 0.1}},
                                  "tiers": {"indicators": ["revenue"]}})
    settings = segments.parse_settings(raw, KNOWN)
    assert settings.aspect_weights["financial"] == 0.4
    assert set(settings.aspects) == {"financial", "sales", "customer", "service"}
    assert settings.tier_indicators == ("revenue",) and settings.tiers.labels[-1] == "key"
    assert set(settings.pyramids) == {"profit_value", "potential_value"}


def test_display_tables(demo_report):
    _, report = demo_report
    q = report.questions_table()
    assert len(q) == 6 and q["share (plausible range)"].str.contains("%|not known").all()
    t = report.tiers_table()
    assert set(t["measure"]) == {"Revenue", "Profit"}
    assert t.groupby("measure")["customers"].sum().eq(report.buyers).all()


def test_pyramid_without_cost_says_profit_is_unknown_not_zero():
    """No cost of goods: profit is unknown, not 0; the chart and the tables say so."""
    import matplotlib

    from analysis.core.text import reader_text_problems

    matplotlib.use("Agg")
    frame = pd.DataFrame({"revenue": np.arange(1, 21, dtype=float), "profit": np.nan})
    tiers = segments.assign_tiers(frame["revenue"], FOUR)
    p = segments.pyramid(frame, tiers, "profit_value")
    assert p.table["profit"].isna().all() and p.table["profit_share"].isna().all()
    ax = segments.plot_pyramid(p)
    texts = [t.get_text() for t in ax.figure.findobj(matplotlib.text.Text) if t.get_text()]
    assert not [bad for t in texts for bad in reader_text_problems(t)], texts
    assert any("profit not known" in t for t in texts)
    estimate = segments.top_tier_profit_share(frame["profit"], tiers == "key", replicates=0)
    assert estimate.value is None and "not known" in estimate.method
    table = segments.strategies(frame.assign(orders=1), pd.Series("loyal customers",
                                                                  index=frame.index), 0)
    assert "profit" not in table


def test_tiers_table_prints_no_nan_percent():
    frame = pd.DataFrame({"revenue": [5.0], "profit": [np.nan]})
    p = segments.pyramid(frame, segments.assign_tiers(frame["revenue"], FOUR), "t")
    text = segments.tier_shares_table({"revenue": p.table}).to_string()
    from analysis.core.text import reader_text_problems

    assert not reader_text_problems(text), text
    # no profit anywhere (no cost supplied): no profit column, not a column of "not known"
    assert "profit share" not in segments.tier_shares_table({"revenue": p.table})
    known = segments.pyramid(frame.assign(profit=[2.0]), segments.assign_tiers(
        frame["revenue"], FOUR), "t")
    mixed = segments.tier_shares_table({"revenue": p.table, "profit": known.table})
    assert "not known" in mixed.to_string() and not reader_text_problems(mixed.to_string())
