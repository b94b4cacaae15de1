"""Where a notebook finds the business kind and the subscriptions table.

The data contract's optional ``subscriptions`` table (``ctx.data.subscriptions``, None when
absent): ``customer_id`` (str), ``start`` (datetime), ``end`` (datetime, NaT while active),
``plan`` (str, optional), ``recurring_charge`` (float a month, optional),
``cancellation_reason`` (str, optional). A snapshot export (tenure, churn flag, as-of date)
is mapped onto it by the company config (``config/examples/subscription_snapshot.toml``);
:func:`from_snapshot` does the same mapping for a frame (tests, notebooks).
"""

from __future__ import annotations

import pandas as pd

BUSINESS_KINDS = ("shop", "subscription")
COLUMNS = ("customer_id", "start", "end")


def business_kind(ctx) -> str:
    """"shop" (customers leave without telling: purchase models) or "subscription"
    (leaving is observed: contract-duration models), from the config's ``business``."""
    kind = getattr(ctx.settings, "business", "shop") or "shop"
    if kind not in BUSINESS_KINDS:
        raise ValueError(f"config: business = {kind!r}; use one of {', '.join(BUSINESS_KINDS)}")
    return kind


def subscriptions_of(ctx) -> pd.DataFrame | None:
    """The company's subscriptions table in contract columns, or None when it has none."""
    table = getattr(ctx.data, "subscriptions", None)
    if table is None or len(table) == 0:
        return None
    return checked(table)


def checked(frame: pd.DataFrame, where: str = "subscriptions") -> pd.DataFrame:
    """The table in contract types; a clear error naming the missing columns."""
    missing = [c for c in COLUMNS if c not in frame]
    if missing:
        raise ValueError(f"{where}: missing column(s) {', '.join(missing)}; the subscriptions "
                         f"table needs {', '.join(COLUMNS)} (plan, recurring_charge and "
                         "cancellation_reason are optional)")
    out = frame.copy()
    out["customer_id"] = out["customer_id"].astype(str)
    out["start"] = pd.to_datetime(out["start"])
    out["end"] = pd.to_datetime(out["end"])
    # plan and charge are optional in the contract: one plan for all, charge unknown
    out["plan"] = (out["plan"].astype("string").fillna("not recorded").astype(str)
                   if "plan" in out else "all subscribers")
    out["recurring_charge"] = (pd.to_numeric(out["recurring_charge"], errors="coerce")
                               if "recurring_charge" in out else float("nan"))
    bad = out["end"].notna() & (out["end"] < out["start"])
    if bad.any():
        rows = ", ".join(str(i) for i in out.index[bad][:5])
        raise ValueError(f"{where}: {int(bad.sum())} subscription(s) end before they start "
                         f"(rows {rows}); fix start/end in the export")
    return out


def from_snapshot(frame: pd.DataFrame, as_of, customer_id: str = "customerID",
                  tenure: str = "tenure", churned: str = "Churn", plan: str = "Contract",
                  charge: str = "MonthlyCharges", reason: str | None = "Churn Reason",
                  churn_values=("yes", "1", "true", "churned")) -> pd.DataFrame:
    """A snapshot export (one row per customer: tenure in months, a churn flag, the plan and
    the monthly charge, taken on ``as_of``) as a subscriptions table.

    A customer starts ``tenure`` months (of 365.25 / 12 days) before the snapshot, tenure
    counting the month in progress; a churned customer is taken to have left in the
    snapshot's last month (the convention of telecom churn samples), so ``end`` = ``as_of``
    for them and NaT for the others. Only customers still active a month before the
    snapshot are in it: the analyses treat the data as left-truncated there.
    """
    missing = [c for c in (customer_id, tenure, churned, plan, charge) if c not in frame]
    if missing:
        raise ValueError(f"snapshot: missing column(s) {', '.join(missing)}; map them in the "
                         "config's [subscriptions_interim.columns]")
    as_of = pd.Timestamp(as_of)
    months = pd.to_numeric(frame[tenure], errors="coerce")
    if months.isna().any() or (months < 0).any():
        rows = ", ".join(str(i) for i in frame.index[months.isna() | (months < 0)][:5])
        raise ValueError(f"snapshot: column {tenure!r} must be months >= 0 (rows {rows})")
    flag = frame[churned].astype(str).str.strip().str.lower().isin(churn_values)
    start = as_of - pd.to_timedelta(months.to_numpy() * 365.25 / 12, unit="D")
    out = pd.DataFrame({
        "customer_id": frame[customer_id].astype(str).to_numpy(),
        "start": start,
        "end": pd.Series(as_of, index=frame.index).where(flag).to_numpy(),
        "plan": frame[plan].astype(str).to_numpy(),
        "recurring_charge": pd.to_numeric(frame[charge], errors="coerce").to_numpy(),
    })
    out["end"] = pd.to_datetime(out["end"])
    if reason is not None and reason in frame:
        out["cancellation_reason"] = frame[reason].where(flag).to_numpy()
    return out
