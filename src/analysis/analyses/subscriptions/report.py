"""The subscriptions section in one call, with its reader tables and figures."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from analysis.analyses.churn.report import ratio_table
from analysis.analyses.churn.survival import RetentionCurves, _p_text
from analysis.analyses.clv.report import interval_text
from analysis.analyses.subscriptions.observed import (
    MONTH_DAYS,
    PlanHazards,
    care_share,
    claim_c10_reasons,
    claim_c11_observed,
    customer_spells,
    logrank_by_plan,
    observed_annual_churn,
    plan_hazards,
    reasons_table,
    retention_by_plan,
    rmst_by_plan,
)
from analysis.analyses.subscriptions.sbg import (
    DurationFit,
    _shape,
    draw_values,
    fit_durations,
    log_survival,
    residual_periods,
)
from analysis.core import plots
from analysis.core.results import ClaimResult, Estimate
from analysis.core.text import count, has_interval, interval, number, pct


@dataclasses.dataclass(frozen=True)
class PlanForecast:
    """The contract-duration model of one plan and what it projects for its active
    customers: retention after ``months`` and the residual lifetime value."""

    plan: str
    fit: DurationFit
    active: int
    retention: Estimate
    residual_value: Estimate


@dataclasses.dataclass(frozen=True)
class SubscriptionReport:
    as_of: pd.Timestamp
    spells: pd.DataFrame          # one row per customer (see customer_spells)
    annual_churn: Estimate        # observed: C11
    retention: RetentionCurves | None
    rmst: pd.DataFrame
    hazards: PlanHazards | None
    plans: tuple[PlanForecast, ...]
    projected_retention: Estimate  # all active customers, next ``months``
    residual_value: Estimate       # total, all active customers
    reasons: pd.DataFrame | None
    care: Estimate
    claims: tuple[ClaimResult, ...]
    notes: tuple[str, ...]
    months: int = 12

    def headlines(self) -> dict[str, Estimate]:
        return {"observed_annual_churn": self.annual_churn,
                "projected_retention_12m": self.projected_retention,
                "residual_lifetime_value": self.residual_value}

    def summary(self) -> pd.DataFrame:
        return plan_table(self)

    def extra(self) -> dict:
        return {"as_of": self.as_of, "rmst": self.rmst,
                "hazards": None if self.hazards is None else {
                    "table": self.hazards.table, "reference": self.hazards.reference,
                    "stratified": self.hazards.stratified, "note": self.hazards.note},
                "plans": [{"plan": p.plan, "model": p.fit.chosen.name,
                           "parameters": p.fit.summary(), "duration_dependence_p": p.fit.lr_p,
                           "active": p.active, "retention": p.retention,
                           "residual_value": p.residual_value} for p in self.plans],
                "retention_1y": None if self.retention is None else self.retention.at_one_year,
                "reasons": self.reasons, "notes": list(self.notes)}


def subscription_report(subscriptions: pd.DataFrame, as_of, months: int = 12,
                        annual_discount: float = 0.10, draws: int = 400, seed: int = 0,
                        min_group: int = 30, rules=None, snapshot: str = "auto"
                        ) -> SubscriptionReport:
    """Observed churn, curves and hazards by plan, the sBG/BdW per plan and its projections.
    ``snapshot``: how a snapshot export is read (see ``observed.snapshot_reading``)."""
    as_of = pd.Timestamp(as_of)
    spells = customer_spells(subscriptions, as_of, snapshot)
    if spells.empty:
        raise ValueError(f"subscriptions: no subscription started before {as_of.date()}")
    notes: list[str] = []
    annual = observed_annual_churn(spells, as_of)
    curves = None
    try:
        curves = retention_by_plan(spells, min_group)
    except ValueError as error:
        notes.append(str(error))
    reading = spells.attrs.get("reading")
    if reading == "last month":
        notes.append("a snapshot export, read as the last month's departures: only customers "
                     "still active a month before it are listed, so every curve and model "
                     "counts each customer from the tenure they had then (left truncation); "
                     "customers who left earlier are unseen")
    elif reading == "durations":
        notes.append(f"a snapshot export whose churned rows ({spells['churned'].mean():.0%}) are "
                     "too many for one month: tenure and churn flag are read as complete "
                     "durations (right-censored), so churn is given by tenure, not by "
                     "calendar year")
    hazards = None
    try:
        hazards = plan_hazards(spells, min_group)
        if hazards.stratified:
            notes.append(hazards.note)
    except (ValueError, np.linalg.LinAlgError) as error:
        notes.append(str(error))
    monthly_discount = (1 + annual_discount) ** (1 / 12) - 1
    plans, retained_draws, value_draws = [], [], []
    kept_total, value_total, active_total = 0.0, 0.0, 0
    for plan, part in spells.groupby("plan", sort=True):
        if len(part) < min_group or int(part["churned"].sum()) < 5:
            notes.append(f"plan {plan}: {len(part)} customers and {int(part['churned'].sum())} "
                         "cancellations are too few for a duration model")
            continue
        fit = fit_durations(part["months"].to_numpy(), part["churned"].to_numpy(),
                            entry=part["entry"].to_numpy())
        active = part[~part["churned"]]
        tenure = active["months"].to_numpy(float)
        charge = active["recurring_charge"].fillna(0).to_numpy(float)

        def kept(p, c, tenure=tenure):
            return float(np.exp(log_survival(p, tenure + months, c)
                                - log_survival(p, tenure, c)).sum())

        def value(p, c, tenure=tenure, charge=charge):
            return float(charge @ residual_periods(p, tenure, 600, monthly_discount, c))

        model = fit.chosen
        point_kept, point_value = kept(model.params.to_numpy(), _shape(model)), \
            value(model.params.to_numpy(), _shape(model))
        kept_draws = draw_values(model, kept, draws, seed)
        val_draws = draw_values(model, value, min(draws, 200), seed)
        plans.append(PlanForecast(
            str(plan), fit, len(active),
            _estimate(point_kept / max(len(active), 1),
                      None if kept_draws is None else kept_draws / max(len(active), 1),
                      len(active), f"{model.name}: active customers of plan {plan} still "
                      f"active in {months} months", "share", model.problem),
            _estimate(point_value, val_draws, len(active),
                      f"{model.name}: recurring charge x expected further months "
                      f"(discounted {annual_discount:.0%} a year)", "currency", model.problem)))
        kept_total += point_kept
        value_total += point_value
        active_total += len(active)
        retained_draws.append(kept_draws)
        value_draws.append(val_draws)
    complete = plans and all(d is not None for d in retained_draws + value_draws)
    projected = _estimate(
        kept_total / active_total if active_total else None,
        (sum(d[: min(len(x) for x in retained_draws)] for d in retained_draws) / active_total
         if complete and active_total else None),
        active_total, f"share of today's active subscribers still active in {months} months "
        "(duration model per plan)", "share", None if complete else "no interval for every plan")
    charged = "recurring_charge" in spells and spells["recurring_charge"].notna().any()
    if not charged:
        notes.append("no recurring charge is recorded, so the remaining payments cannot be "
                     "valued")
    residual = _estimate(
        value_total if plans and charged else None,
        (sum(d[: min(len(x) for x in value_draws)] for d in value_draws) if complete else None),
        active_total, f"expected residual lifetime value of today's active subscribers "
        f"(recurring charge x expected further months, discounted {annual_discount:.0%} a year)",
        "currency", None if complete else "no interval for every plan")
    if not charged:
        residual = Estimate(None, n=active_total, unit="currency",
                            method="not available: no recurring charge is recorded")
    reasons = reasons_table(spells)
    care = care_share(reasons)
    claims = (claim_c11_observed(annual, rules), claim_c10_reasons(care, rules))
    return SubscriptionReport(as_of, spells, annual, curves, rmst_by_plan(spells), hazards,
                              tuple(plans), projected, residual, reasons, care, claims,
                              tuple(notes), months)


def _estimate(value, samples, n, method, unit, problem) -> Estimate:
    if value is None:
        return Estimate(None, n=n, method=method, unit=unit)
    if samples is None or len(samples) < 2:
        return Estimate(value, None, None, n, f"{method}; " + (problem or "no interval"),
                        unit=unit)
    low, high = np.percentile(samples, [2.5, 97.5])
    return Estimate(value, float(min(low, value)), float(max(high, value)), n,
                    f"{method}; 95% interval from parameter draws (parametric bootstrap on the "
                    "log scale)", unit=unit)


# -- reader tables and figures ----------------------------------------------------------------


def churn_text(report: SubscriptionReport) -> str:
    """The observed annual churn in one sentence, or why it cannot be measured."""
    e = report.annual_churn
    if e.value is None:
        return f"Churn cannot be measured: {e.method}."
    return (f"**{pct(e.value)}** of subscribers cancelled over the year "
            f"({interval(e.low, e.high, pct) or 'no interval'}; "
            f"{count(e.n)} subscribers at risk). {e.method}.")


def projection_text(report: SubscriptionReport, annual_discount: float = 0.10) -> str:
    """Projected retention and residual value of today's active subscribers, or why not."""
    r, v = report.projected_retention, report.residual_value
    if r.value is None:
        return ("No projection: " + ("; ".join(report.notes) if report.notes else
                                     "no plan has enough customers and cancellations for a "
                                     "duration model") + ".")

    def span(e: Estimate, fmt) -> str:
        return (f"{fmt(e.value)} ({interval(e.low, e.high, fmt)})"
                if has_interval(e.low, e.high) else f"{fmt(e.value)} (no interval)")

    worth = (f"are worth {span(v, plots.fmt_money)}" if v.value is not None
             else f"cannot be valued ({v.method})")
    return (f"Of the {count(r.n)} active subscribers, {span(r, lambda x: pct(x, 0))} are "
            f"expected to still be active in {report.months} months. Their expected remaining "
            f"payments, discounted at {pct(annual_discount, 0)} a year, {worth}.")


def _pct(e: Estimate) -> str:
    return interval_text(e, "{:.0%}".format)


def _money(e: Estimate) -> str:
    return interval_text(e, plots.fmt_money)


def plan_table(report: SubscriptionReport) -> pd.DataFrame:
    """Per plan: customers, cancellations, months kept in the first two years (restricted
    mean), the duration model and its projections."""
    rmst = report.rmst.set_index("plan")
    rows = []
    for plan, r in rmst.iterrows():
        forecast = next((p for p in report.plans if p.plan == plan), None)

        def months(h, r=r):
            value, low, high = r[f"rmst_{h}"], r[f"rmst_{h}_low"], r[f"rmst_{h}_high"]
            if value is None or not np.isfinite(value):
                return "n/a"
            if low is None or high is None or not (np.isfinite(low) and np.isfinite(high)):
                return f"{value:.1f}"
            return f"{value:.1f} ({low:.1f} to {high:.1f})"

        rows.append({
            "plan": plan, "customers": f"{int(r['customers']):,}",
            "cancelled": f"{int(r['cancelled']):,}",
            "months kept of the first 12": months(12), "of the first 24": months(24),
            "model": "" if forecast is None else forecast.fit.chosen.name,
            f"still active in {report.months} months": ("n/a" if forecast is None
                                                       else _pct(forecast.retention)),
            "residual value": "n/a" if forecast is None else _money(forecast.residual_value),
        })
    return pd.DataFrame(rows)


def hazard_table(hazards: PlanHazards) -> pd.DataFrame:
    return ratio_table(hazards.table)


def parameter_table(report: SubscriptionReport) -> pd.DataFrame:
    frames = []
    for p in report.plans:
        table = p.fit.summary().assign(plan=p.plan)
        frames.append(table)
    if not frames:
        return pd.DataFrame()
    out = pd.concat(frames, ignore_index=True)
    return pd.DataFrame({
        "plan": out["plan"], "model": out["model"], "parameter": out["parameter"],
        "estimate": out["estimate"].map(number),
        "95% interval": [("no interval" if lo is None or hi is None or not np.isfinite(lo)
                          else f"{lo:.3g} to {hi:.3g}")
                         for lo, hi in zip(out["low"], out["high"], strict=True)],
        "used": out["used"]})


def reasons_view(report: SubscriptionReport) -> pd.DataFrame | None:
    if report.reasons is None:
        return None
    r = report.reasons
    return pd.DataFrame({"reason": r["reason"], "cancellations": r["cancellations"].map(
        count), "share": r["share"].map(lambda v: pct(v, 0)),
        "counted as lack of care": np.where(r["lack of care"], "yes", "")})


def plot_retention_by_plan(report: SubscriptionReport, ax=None):
    if ax is None:
        _, ax = plots.new_figure()
    curves = report.retention
    if curves is None:
        ax.text(0.5, 0.5, "Too few customers per plan for retention curves", ha="center",
                transform=ax.transAxes)
        ax.set_axis_off()
        return ax
    for plan in curves.at_one_year["plan"]:
        part = curves.curves[curves.curves["plan"] == plan]
        months = part["days"] / MONTH_DAYS
        line, = ax.step(months, part["retention"], where="post", label=plots_label(plan))
        ax.fill_between(months, part["low"].clip(0, 1), part["high"].clip(0, 1), step="post",
                        alpha=0.12, color=line.get_color())
    year = curves.at_one_year.sort_values("retention_1y")
    best, worst = year.iloc[-1], year.iloc[0]
    plots.finding(ax, f"{plots_label(best['plan'])} keeps {pct(best['retention_1y'], 0)} of "
                      f"subscribers for a year, {plots_label(worst['plan'])} "
                      f"{pct(worst['retention_1y'], 0)}",
                  f"Kaplan-Meier by plan with 95% bands; log-rank p "
                  f"{_p_text(logrank_by_plan(report.spells))}")
    plots.percent_axis(ax)
    ax.set_xlabel("months since the subscription started")
    ax.set_ylabel("subscribers still active")
    ax.legend(title="plan", fontsize=8)
    return ax


def plots_label(text) -> str:
    """Data text made safe for matplotlib (no math text from a '$')."""
    return str(text).replace("$", r"\$")


def plot_model_fit(report: SubscriptionReport, ax=None):
    """Observed (Kaplan-Meier) and fitted survival per plan, projected a year beyond the
    data."""
    if ax is None:
        _, ax = plots.new_figure()
    if not report.plans:
        ax.text(0.5, 0.5, "No plan has enough subscribers and cancellations for a duration "
                "model", ha="center", transform=ax.transAxes)
        ax.set_axis_off()
        return ax
    for forecast in report.plans:
        part = report.spells[report.spells["plan"] == forecast.plan]
        horizon = int(part["months"].max()) + report.months
        t = np.arange(0, horizon + 1)
        model = forecast.fit.chosen
        fitted = np.exp(log_survival(model.params.to_numpy(), t, _shape(model)))
        line, = ax.plot(t, fitted, label=f"{plots_label(forecast.plan)} ({model.name})")
        if report.retention is not None:
            km = report.retention.curves[report.retention.curves["plan"] == forecast.plan]
            ax.step(km["days"] / MONTH_DAYS, km["retention"], where="post", linestyle=":",
                    color=line.get_color())
    plots.finding(ax, "The duration models follow the observed curves and project them",
                  "solid: fitted and projected; dotted: observed (Kaplan-Meier)")
    plots.percent_axis(ax)
    ax.set_xlabel("months since the subscription started")
    ax.set_ylabel("subscribers still active")
    ax.legend(fontsize=8)
    return ax


def subscriptions_section(ctx, months: int = 12, annual_discount: float = 0.10,
                          seed: int = 0) -> tuple[SubscriptionReport | None, str | None]:
    """The section for a notebook: (report, None), or (None, why it does not apply)."""
    from analysis.analyses.subscriptions.source import business_kind, subscriptions_of

    if business_kind(ctx) != "subscription":
        return None, ("Not applicable to this company: the configuration declares a shop "
                      "(customers leave without telling), so churn comes from the purchase "
                      "models in the churn and lifetime-value sections.")
    table = subscriptions_of(ctx)
    if table is None:
        return None, ("The configuration declares a subscription business but no "
                      "subscriptions table was supplied: contract churn cannot be measured.")
    try:
        from analysis.analyses.claims import claim_rules

        return subscription_report(table, ctx.period.end, months, annual_discount,
                                   seed=seed, rules=claim_rules(ctx.settings)), None
    except ValueError as error:
        return None, f"The subscriptions cannot be analysed: {error}."
