"""Small typed results that notebooks display and that serialise to ``results.json``.

Every headline number is an :class:`Estimate` (value, interval, n, method).
Every claim of ``CLAIMS.md`` is answered by a :class:`ClaimResult` with a
:class:`Verdict`; a claim the data cannot speak to is answered with
``ClaimResult.not_testable(...)`` and a reason, never dropped.

Each notebook writes its part of the pack with :func:`write_section`; the
executive summary reads the parts back with :func:`read_sections`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import html
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

SCHEMA_VERSION = "2.0"


class Verdict(enum.StrEnum):
    """The five outcomes of the one verdict rule (:mod:`analysis.core.verdicts`)."""

    HOLDS = "holds"
    STRONGER = "holds, and stronger than claimed"
    WEAKER = "weaker than claimed, or contradicted"
    INCONCLUSIVE = "inconclusive"
    NOT_TESTABLE = "not testable with this data"


@dataclasses.dataclass(frozen=True)
class Estimate:
    """A number with its interval, sample size and how it was computed."""

    value: float | None
    low: float | None = None
    high: float | None = None
    n: int | None = None
    method: str = ""
    level: float = 0.95
    unit: str = ""

    def covers(self, x: float) -> bool:
        return self.low is not None and self.high is not None and self.low <= x <= self.high

    def __str__(self) -> str:
        if self.value is None:
            return "n/a"
        text = f"{self.value:.4g}"
        if self.low is not None and self.high is not None:
            text += f" [{self.low:.4g}, {self.high:.4g}]"
        if self.n is not None:
            text += f" (n={self.n:,})"
        return text

    def _repr_html_(self) -> str:
        return f"<code>{html.escape(str(self))}</code> <small>{html.escape(self.method)}</small>"

    @classmethod
    def wilson_share(cls, count: int, n: int, method: str) -> Estimate:
        """``count / n`` as a share with its Wilson 95% interval (n must be positive)."""
        from statsmodels.stats.proportion import proportion_confint

        low, high = proportion_confint(count, n, alpha=0.05, method="wilson")
        return cls(count / n, float(low), float(high), n, method, unit="share")


@dataclasses.dataclass(frozen=True)
class ClaimResult:
    """The answer to one claim of CLAIMS.md for one period."""

    claim_id: str
    verdict: Verdict
    summary: str
    estimate: float | None = None
    low: float | None = None
    high: float | None = None
    n: int | None = None
    method: str = ""
    claimed: str = ""
    reason: str | None = None
    details: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    #: the claim's reading in plain words and the quantity estimated (from its rule)
    reading: str = ""
    quantity: str = ""
    #: the rule the verdict follows from: direction, claimed value or band, margin and its
    #: reason, scale, edges (``analysis.core.verdicts.ClaimRule``)
    rule: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    #: how the verdict was reached: the finding in words, the one-sided p-values read off
    #: the interval, and any note from the correction across claims
    test: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def not_testable(cls, claim_id: str, reason: str, method: str = "",
                     **kwargs: Any) -> ClaimResult:
        return cls(
            claim_id=claim_id,
            verdict=Verdict.NOT_TESTABLE,
            summary=f"Not testable with this data: {reason}",
            method=method,
            reason=reason,
            **kwargs,
        )

    @classmethod
    def from_estimate(
        cls, claim_id: str, estimate: Estimate, verdict: Verdict, summary: str, **kwargs: Any
    ) -> ClaimResult:
        return cls(
            claim_id=claim_id,
            verdict=verdict,
            summary=summary,
            estimate=estimate.value,
            low=estimate.low,
            high=estimate.high,
            n=estimate.n,
            method=estimate.method,
            **kwargs,
        )

    def _repr_html_(self) -> str:
        interval = (
            f"{self.estimate:.3g} [{self.low:.3g}, {self.high:.3g}]"
            if self.estimate is not None and self.low is not None and self.high is not None
            else ("" if self.estimate is None else f"{self.estimate:.3g}")
        )
        n = f"n={self.n:,}" if self.n is not None else ""
        cells = [self.claim_id, self.verdict.value, interval, n, self.summary]
        return (
            "<table class='claim'><tr>"
            + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells)
            + "</tr></table>"
        )


def to_jsonable(obj: Any) -> Any:
    """Turn results (dataclasses, enums, numpy, pandas) into plain JSON values.

    Non-finite floats become ``None`` so the output is strict JSON.
    """
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, pd.DataFrame):
        return to_jsonable(obj.to_dict(orient="records"))
    if isinstance(obj, pd.Series):
        return to_jsonable(obj.to_dict())
    if isinstance(obj, list | tuple | set | np.ndarray):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, bool | np.bool_):
        return bool(obj)
    if isinstance(obj, int | np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        value = float(obj)
        return value if math.isfinite(value) else None
    if isinstance(obj, pd.Timestamp | dt.datetime | dt.date):
        return obj.isoformat()
    if obj is None or obj is pd.NA or obj is pd.NaT:
        return None
    if isinstance(obj, str | Path):
        return str(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__} to results.json")


def write_section(
    output_dir: str | Path,
    section: str,
    period: str,
    *,
    claims: list[ClaimResult] | tuple[ClaimResult, ...] = (),
    headlines: Mapping[str, Estimate] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write one notebook's results to ``<output_dir>/results/<section>.json``."""
    folder = Path(output_dir) / "results"
    folder.mkdir(parents=True, exist_ok=True)
    payload = {
        "schema_version": SCHEMA_VERSION,
        "section": section,
        "period": period,
        "claims": to_jsonable(list(claims)),
        "headlines": to_jsonable(dict(headlines or {})),
        "extra": to_jsonable(dict(extra or {})),
    }
    path = folder / f"{section}.json"
    path.write_text(json.dumps(payload, indent=2, sort_keys=True, allow_nan=False))
    return path


def read_sections(output_dir: str | Path) -> dict[str, dict[str, Any]]:
    """Read every section written by :func:`write_section` in ``output_dir``."""
    folder = Path(output_dir) / "results"
    return {
        path.stem: json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))
    }


def claim_from_dict(payload: Mapping[str, Any]) -> ClaimResult:
    fields = {f.name for f in dataclasses.fields(ClaimResult)}
    values = {k: v for k, v in payload.items() if k in fields}
    values["verdict"] = Verdict(values["verdict"])
    return ClaimResult(**values)
