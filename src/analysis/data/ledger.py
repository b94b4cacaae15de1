"""The data-quality ledger: every row that is excluded, counted with its reason.

Money is counted exactly, in integer millionths of the currency unit ("micros"):
each line is rounded to a millionth (half away from zero) and the lines are summed as
integers without overflow, so ``revenue in = revenue kept + revenue excluded`` holds
exactly, lines worth a fraction of a cent add up to what the file says (a file totalling
193.50 shows 193.50), and totals are rounded to cents only when shown.

Steps of a ledger row:

- ``input``: rows received after the mapping (one row per table);
- ``excluded``: rows excluded by a rule, with the reason;
- ``kept``: rows kept for analysis (transactions: sales lines and returns on two rows);
- ``source``: rows in each file (or engine table) the mapping read, so rows that a query
  dropped are visible next to the rows it returned;
- ``source total``: the revenue total the source computed itself, exactly (where it can);
  the ledger reconciles only if the input total equals it.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

LEDGER_COLUMNS = ["table", "step", "reason", "rows", "revenue_micros"]
MICROS = 1_000_000
#: |value| * MICROS below this fits int64 with room for chunked sums (values beyond are
#: contract errors: the contract's money limit is far below)
_SAFE = 2**62
_CHUNK = 1_000  # lines per int64 partial sum: 1,000 x 9e15 < 2**63


def to_micros(values: pd.Series | np.ndarray) -> np.ndarray:
    """Money as integer millionths (half away from zero). Missing values count 0; values
    that are not finite or too large to count (contract errors, reported by the contract
    check, which fails the load) count 0 too, so the ledger never overflows."""
    x = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype="float64",
                                                                   na_value=np.nan)
    scaled = np.abs(x) * MICROS
    countable = np.isfinite(scaled) & (scaled < _SAFE)
    out = np.zeros(len(x), dtype="int64")
    out[countable] = (np.sign(x[countable]) * np.floor(scaled[countable] + 0.5)).astype("int64")
    return out


def exact_sum(micros: np.ndarray) -> int:
    """Sum of int64 micros as a Python int: int64 partial sums over chunks small enough that
    none can overflow, then the partial sums added as Python integers."""
    micros = np.asarray(micros, dtype="int64")
    if len(micros) == 0:
        return 0
    if int(np.abs(micros).max()) < 9 * 10**15:
        starts = np.arange(0, len(micros), _CHUNK)
        return sum(int(v) for v in np.add.reduceat(micros, starts))
    return sum(int(v) for v in micros)


def money_text(micros: int) -> str:
    """A micros total as a reader reads it: 1,234.50 (rounded to the cent, half away)."""
    cents = (abs(micros) + MICROS // 200) // (MICROS // 100)
    sign = "-" if micros < 0 and cents else ""
    return f"{sign}{cents // 100:,}.{cents % 100:02d}"


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

    def record_kept(self, table: str, frame: pd.DataFrame, revenue: str | None = None,
                    reason: str = "rows kept for analysis") -> None:
        self._add(table, "kept", reason, frame, revenue)

    def record_source(self, table: str, origin: str, rows: int) -> None:
        """Rows in a file or engine table that the mapping of ``table`` read."""
        self.rows.append({"table": table, "step": "source", "reason": origin,
                          "rows": int(rows), "revenue_micros": 0})

    def record_source_total(self, table: str, micros: int, rows: int) -> None:
        """The revenue total the source computed itself (exactly, over ``rows`` rows)."""
        self.rows.append({"table": table, "step": "source total",
                          "reason": "revenue total computed by the source",
                          "rows": int(rows), "revenue_micros": int(micros)})

    def _add(self, table, step, reason, frame, revenue) -> None:
        micros = exact_sum(to_micros(frame[revenue])) if revenue and revenue in frame else 0
        self.rows.append({"table": table, "step": step, "reason": reason, "rows": len(frame),
                          "revenue_micros": micros})

    def to_frame(self) -> pd.DataFrame:
        frame = pd.DataFrame(self.rows, columns=LEDGER_COLUMNS)
        frame["revenue"] = [m / MICROS for m in frame["revenue_micros"]]
        return frame

    def reconciliation(self) -> pd.DataFrame:
        """Per table: rows and revenue in, kept and excluded; the source files' rows and the
        source's own revenue total (as text, "-" where there is none); and whether they
        reconcile exactly."""
        out = []
        tables = dict.fromkeys(r["table"] for r in self.rows)
        for table in tables:
            part = [r for r in self.rows if r["table"] == table]

            def total(step: str, col: str, part: list[dict] = part) -> int:
                return sum(int(r[col]) for r in part if r["step"] == step)

            sources = [r for r in part if r["step"] == "source"]
            checks = [r for r in part if r["step"] == "source total"]
            rows = {s: total(s, "rows") for s in ("input", "kept", "excluded")}
            money = {s: total(s, "revenue_micros") for s in ("input", "kept", "excluded")}
            matches = all(r["revenue_micros"] == money["input"] for r in checks)
            out.append({
                "table": table,
                "rows_in": rows["input"],
                "rows_kept": rows["kept"],
                "rows_excluded": rows["excluded"],
                "revenue_in": money["input"] / MICROS,
                "revenue_kept": money["kept"] / MICROS,
                "revenue_excluded": money["excluded"] / MICROS,
                "source_rows": "; ".join(f"{r['reason']}: {r['rows']:,}" for r in sources)
                or "-",
                "source_total": "; ".join(
                    money_text(r["revenue_micros"])
                    + ("" if r["revenue_micros"] == money["input"] else " (differs)")
                    for r in checks) or "-",
                "reconciles": rows["input"] == rows["kept"] + rows["excluded"]
                and money["input"] == money["kept"] + money["excluded"] and matches,
            })
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
        excluded = self.excluded()
        return {
            "reconciles": self.reconciles,
            "tables": self.reconciliation().to_dict(orient="records"),
            "excluded": [
                {"table": r.table, "reason": r.reason, "rows": int(r.rows),
                 "revenue": r.revenue_micros / MICROS}
                for r in excluded.itertuples()
            ],
        }

    def _repr_html_(self) -> str:
        return self.reconciliation().to_html(index=False)
