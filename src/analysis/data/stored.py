"""Validated data read back from the validated-data cache, the raw lines only when used.

A report pack runs each notebook in its own kernel. When every kernel read the validated
transactions into pandas, a 10-million-line company cost each kernel about 5 GB before it
did anything, although most notebooks work only on customer features and the customer x
month panel (themselves cached). :class:`StoredData` is the validated data of the cache
with the transactions left in their Parquet file: what the pack needs to know about them
(how many rows, which columns hold values, the first and last timestamp) is kept with the
cache, the engine reads the file itself (:class:`analysis.engine.features.FeatureEngine`),
and the frame is read only when an analysis asks for ``data.transactions``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.data.contract import CustomerData


@dataclasses.dataclass(frozen=True)
class TableFacts:
    """What the pack needs to know of a table without reading it."""

    rows: int
    filled: tuple[str, ...]            # columns with at least one value
    customers: int = 0                 # distinct customer ids
    first: pd.Timestamp | None = None  # first and last timestamp (transactions)
    last: pd.Timestamp | None = None

    @classmethod
    def of(cls, frame: pd.DataFrame, time_column: str = "timestamp") -> TableFacts:
        filled = tuple(c for c in frame.columns if frame[c].notna().any())
        customers = int(frame["customer_id"].nunique()) if "customer_id" in frame else 0
        first, last = CustomerData.date_range(frame, time_column)
        return cls(len(frame), filled, customers, first, last)

    def to_json(self) -> dict[str, Any]:
        return {"rows": self.rows, "filled": list(self.filled), "customers": self.customers,
                "first": None if self.first is None else self.first.isoformat(),
                "last": None if self.last is None else self.last.isoformat()}

    @classmethod
    def from_json(cls, values: Mapping[str, Any]) -> TableFacts:
        def when(text):
            return None if text is None else pd.Timestamp(text)
        return cls(int(values["rows"]), tuple(values["filled"]), int(values["customers"]),
                   when(values["first"]), when(values["last"]))


class StoredData(CustomerData):
    """:class:`CustomerData` whose transactions stay in ``transactions_file`` until an
    analysis reads ``transactions`` (then they are read once and kept). ``has``,
    ``missing`` and ``time_span`` answer from the stored facts without reading them.
    ``dataclasses.replace(data, transactions=frame)`` gives data held in memory."""

    def __init__(self, transactions: pd.DataFrame | None = None, *,
                 transactions_file: Path | None = None, facts: TableFacts | None = None,
                 **tables):
        if transactions is None and (transactions_file is None or facts is None):
            raise ValueError("StoredData needs the transactions or their file and facts")
        self.transactions_file = None if transactions_file is None else Path(transactions_file)
        self.transactions_facts = facts
        super().__init__(transactions=transactions, **tables)

    @property
    def transactions(self) -> pd.DataFrame:
        if self._transactions is None:
            self._transactions = pd.read_parquet(self.transactions_file)
        return self._transactions

    @transactions.setter
    def transactions(self, frame: pd.DataFrame | None) -> None:
        self._transactions = frame

    @property
    def transactions_stored(self) -> bool:
        """Whether the transactions are only on disk (not read, not replaced)."""
        return self._transactions is None

    def has(self, table: str, column: str | None = None) -> bool:
        if table != "transactions" or not self.transactions_stored:
            return super().has(table, column)
        facts = self.transactions_facts
        return facts.rows > 0 and (column is None or column in facts.filled)

    def overview(self, table: str, date_column: str) -> tuple[int, int, pd.Timestamp | None,
                                                             pd.Timestamp | None]:
        if table != "transactions" or not self.transactions_stored \
                or date_column != "timestamp":
            return super().overview(table, date_column)
        facts = self.transactions_facts
        return facts.rows, facts.customers, facts.first, facts.last

    def time_span(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        facts = self.transactions_facts
        if not self.transactions_stored or facts.rows == 0 or facts.first is None:
            return super().time_span()
        return facts.first, facts.last

    def without_pii(self) -> StoredData:
        return self  # the cache never holds personal columns

    def __repr__(self) -> str:
        facts = self.transactions_facts
        others = [t for t in ("customers", "surveys", "interactions", "subscriptions")
                  if getattr(self, t) is not None]
        where = ("in memory" if self.transactions_file is None
                 else f"in {self.transactions_file.name}"
                 f"{', not read' if self.transactions_stored else ', read'}")
        rows = len(self._transactions) if facts is None else facts.rows
        return (f"StoredData({rows:,} transactions {where}; "
                f"{', '.join(others) or 'no other tables'})")
