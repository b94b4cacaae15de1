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
    first: pd.Timestamp | None = None  # first and last timestamp (transactions)
    last: pd.Timestamp | None = None

    @classmethod
    def of(cls, frame: pd.DataFrame, time_column: str = "timestamp") -> TableFacts:
        filled = tuple(c for c in frame.columns if frame[c].notna().any())
        times = frame[time_column] if time_column in frame else None
        has_times = times is not None and times.notna().any()
        return cls(len(frame), filled, times.min() if has_times else None,
                   times.max() if has_times else None)

    def to_json(self) -> dict[str, Any]:
        return {"rows": self.rows, "filled": list(self.filled),
                "first": None if self.first is None else self.first.isoformat(),
                "last": None if self.last is None else self.last.isoformat()}

    @classmethod
    def from_json(cls, values: Mapping[str, Any]) -> TableFacts:
        def when(text):
            return None if text is None else pd.Timestamp(text)
        return cls(int(values["rows"]), tuple(values["filled"]), when(values["first"]),
                   when(values["last"]))


class StoredData(CustomerData):
    """:class:`CustomerData` whose transactions stay in ``transactions_file`` until an
    analysis reads ``transactions`` (then they are read once and kept). ``has``,
    ``missing`` and ``time_span`` answer from the stored facts without reading them."""

    def __init__(self, transactions_file: Path, facts: TableFacts, **tables):
        self.transactions_file = Path(transactions_file)
        self.transactions_facts = facts
        super().__init__(transactions=None, **tables)

    @property
    def transactions(self) -> pd.DataFrame:
        if self._transactions is None:
            self._transactions = pd.read_parquet(self.transactions_file)
        return self._transactions

    @transactions.setter
    def transactions(self, frame: pd.DataFrame | None) -> None:
        self._transactions = frame

    @property
    def transactions_read(self) -> bool:
        """Whether the transactions have been read into memory."""
        return self._transactions is not None

    def has(self, table: str, column: str | None = None) -> bool:
        if table != "transactions" or self.transactions_read:
            return super().has(table, column)
        facts = self.transactions_facts
        return facts.rows > 0 and (column is None or column in facts.filled)

    def time_span(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        facts = self.transactions_facts
        if facts.rows == 0 or facts.first is None:
            return super().time_span()
        return facts.first, facts.last

    def without_pii(self) -> StoredData:
        return self  # the cache never holds personal columns

    def __repr__(self) -> str:
        facts = self.transactions_facts
        others = [t for t in ("customers", "surveys", "interactions", "subscriptions")
                  if getattr(self, t) is not None]
        return (f"StoredData({facts.rows:,} transactions in {self.transactions_file.name}"
                f"{', read' if self.transactions_read else ', not read'}; "
                f"{', '.join(others) or 'no other tables'})")
