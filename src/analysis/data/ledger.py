"""The data-quality ledger: every row that is excluded, counted with its reason.

Revenue is counted in integer cents so that ``revenue in = revenue kept +
revenue excluded`` holds exactly, to the cent, whatever the float noise.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

LEDGER_COLUMNS = ["table", "step", "reason", "rows", "revenue_cents"]


def to_cents(values: pd.Series) -> np.ndarray:
    """Revenue as integer cents (half away from zero), NaN counted as 0."""
    x = pd.to_numeric(values, errors="coerce").fillna(0.0).to_numpy(dtype="float64")
    return (np.sign(x) * np.floor(np.abs(x) * 100 + 0.5)).astype("int64")


@dataclasses.dataclass
class Ledger:
    """Rows in, rows kept, rows excluded by reason, per table."""

    rows: list[dict] = dataclasses.field(default_factory=list)

    def record_input(self, table: str, frame: pd.DataFrame, revenue: str | None = None) -> None:
        self._add(table, "input", "rows received", frame, revenue)

    def record_excluded(
        self, table: str, reason: str, frame: pd.DataFrame, revenue: str | None = None
    ) -> None:
        if len(frame):
            self._add(table, "excluded", reason, frame, revenue)

    def record_kept(self, table: str, frame: pd.DataFrame, revenue: str | None = None) -> None:
        self._add(table, "kept", "rows kept for analysis", frame, revenue)

    def _add(self, table, step, reason, frame, revenue) -> None:
        cents = int(to_cents(frame[revenue]).sum()) if revenue and revenue in frame else 0
        self.rows.append(
            {
                "table": table,
                "step": step,
                "reason": reason,
                "rows": len(frame),
                "revenue_cents": cents,
            }
        )

    def to_frame(self) -> pd.DataFrame:
        frame = pd.DataFrame(self.rows, columns=LEDGER_COLUMNS)
        frame["revenue"] = frame["revenue_cents"] / 100
        return frame

    def reconciliation(self) -> pd.DataFrame:
        """Per table: rows and cents in, kept, excluded, and whether they reconcile exactly."""
        frame = pd.DataFrame(self.rows, columns=LEDGER_COLUMNS)
        out = []
        for table, part in frame.groupby("table", sort=False):
            by_step = part.groupby("step")[["rows", "revenue_cents"]].sum()

            def get(step: str, col: str, by_step: pd.DataFrame = by_step) -> int:
                return int(by_step[col].get(step, 0))

            row = {
                "table": table,
                "rows_in": get("input", "rows"),
                "rows_kept": get("kept", "rows"),
                "rows_excluded": get("excluded", "rows"),
                "revenue_in": get("input", "revenue_cents") / 100,
                "revenue_kept": get("kept", "revenue_cents") / 100,
                "revenue_excluded": get("excluded", "revenue_cents") / 100,
            }
            row["reconciles"] = get("input", "rows") == get("kept", "rows") + get(
                "excluded", "rows"
            ) and get("input", "revenue_cents") == get("kept", "revenue_cents") + get(
                "excluded", "revenue_cents"
            )
            out.append(row)
        return pd.DataFrame(out)

    @property
    def reconciles(self) -> bool:
        rec = self.reconciliation()
        return bool(rec["reconciles"].all()) if len(rec) else True

    def excluded(self) -> pd.DataFrame:
        frame = self.to_frame()
        return frame[frame["step"] == "excluded"].reset_index(drop=True)

    def summary(self) -> dict:
        """Plain dict for results.json."""
        return {
            "reconciles": self.reconciles,
            "tables": self.reconciliation().to_dict(orient="records"),
            "excluded": self.excluded()[["table", "reason", "rows", "revenue"]].to_dict(
                orient="records"
            ),
        }

    def _repr_html_(self) -> str:
        return self.reconciliation().to_html(index=False)
