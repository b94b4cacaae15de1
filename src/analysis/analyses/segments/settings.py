"""Segment settings from the ``[segments]`` table of the company config (defaults:
``config/segments.default.toml``).
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from analysis.data.config import SECTION_DEFAULTS_DIR

EXTRA_INDICATORS = ("clv", "p_alive", "churn_risk")
GROW = "grow: move up"


# -- settings ----------------------------------------------------------------------------------


class SegmentConfigError(ValueError):
    """A [segments] setting is invalid; the message names the key and the fix."""


@dataclasses.dataclass(frozen=True)
class Tiering:
    """Tier boundaries: ``by="share"`` cuts are shares of customers below each boundary
    (0.95 = top 5% in the last tier); ``by="value"`` cuts are values of the indicator (or of
    the 0-100 composite score) at which the next tier starts."""

    cuts: tuple[float, ...]
    labels: tuple[str, ...]
    by: str = "share"


@dataclasses.dataclass(frozen=True)
class SegmentSettings:
    window_months: int
    lower_is_better: tuple[str, ...]
    tier_indicators: tuple[str, ...]
    tiers: Tiering
    pyramids: Mapping[str, tuple[Mapping[str, float], Tiering]]
    aspects: Mapping[str, Mapping[str, float]]
    aspect_weights: Mapping[str, float]
    bootstrap_replicates: int = 200


def _weights(raw: Any, where: str, known: set[str] | None) -> dict[str, float]:
    if not isinstance(raw, Mapping) or not raw:
        raise SegmentConfigError(f"[{where}] must be a table of indicator = weight")
    weights = {str(k): float(v) for k, v in raw.items()}
    if known is not None:
        unknown = sorted(set(weights) - known)
        if unknown:
            raise SegmentConfigError(
                f"[{where}] names unknown indicators {unknown}; use feature columns such as "
                f"{sorted(known)[:8]}... (see data/README.md)")
    if any(w < 0 for w in weights.values()):
        raise SegmentConfigError(f"[{where}] weights must be >= 0 (list lower-is-better "
                                 "indicators in segments.lower_is_better instead)")
    total = sum(weights.values())
    if not math.isclose(total, 1.0, abs_tol=1e-6):
        raise SegmentConfigError(f"[{where}] weights sum to {total:g}; they must sum to 1")
    return weights


def _tiering(raw: Mapping[str, Any], where: str) -> Tiering:
    by = str(raw.get("cut_by", "share"))
    if by not in ("share", "value"):
        raise SegmentConfigError(f"[{where}] cut_by must be \"share\" or \"value\", got {by!r}")
    cuts = tuple(float(c) for c in raw.get("cuts", (0.5, 0.8, 0.95)))
    labels = tuple(str(x) for x in raw.get("labels", ("small", "general", "core", "key")))
    if not cuts or any(b <= a for a, b in zip(cuts, cuts[1:], strict=False)):
        raise SegmentConfigError(f"[{where}] cuts must be strictly increasing, got {list(cuts)}")
    if by == "share" and not all(0 < c < 1 for c in cuts):
        raise SegmentConfigError(f"[{where}] share cuts must lie between 0 and 1 (use "
                                 "cut_by = \"value\" for cut points in the indicator's units)")
    if len(labels) != len(cuts) + 1:
        raise SegmentConfigError(f"[{where}] needs one label more than cuts ({len(cuts) + 1})")
    return Tiering(cuts, labels, by)


def with_defaults(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A company's [segments] table completed from ``config/segments.default.toml``.

    Missing keys come from the defaults; ``tiers`` and ``scorecard`` are completed one level
    down (e.g. only ``scorecard.weights`` given keeps the default aspects); ``pyramids``, when
    given, replace the default pyramids as a whole.
    """
    path = SECTION_DEFAULTS_DIR / "segments.default.toml"
    defaults = tomllib.loads(path.read_text())["segments"] if path.exists() else {}
    merged = {**defaults, **raw}
    for key in ("tiers", "scorecard"):
        if isinstance(raw.get(key), Mapping):
            merged[key] = {**defaults.get(key, {}), **raw[key]}
    return merged


def parse_settings(raw: Mapping[str, Any], known: Sequence[str] | None = None
                   ) -> SegmentSettings:
    """Validate a [segments] table; ``known`` lists the allowed indicator names."""
    names = None if known is None else set(known) | set(EXTRA_INDICATORS)
    tiers = raw.get("tiers", {})
    indicators = tuple(tiers.get("indicators", ("revenue", "profit")))
    if names is not None and set(indicators) - names:
        raise SegmentConfigError(f"[segments.tiers] names unknown indicators "
                                 f"{sorted(set(indicators) - names)}; use feature columns")
    if not 1 <= len(indicators) <= 3:
        raise SegmentConfigError("[segments.tiers] choose 1 to 3 indicators")
    pyramids = {
        name: (_weights(spec.get("weights"), f"segments.pyramids.{name}.weights", names),
               _tiering(spec, f"segments.pyramids.{name}"))
        for name, spec in raw.get("pyramids", {}).items()
    }
    card = raw.get("scorecard", {})
    aspects = {name: _weights(w, f"segments.scorecard.aspects.{name}", names)
               for name, w in card.get("aspects", {}).items()}
    required = {"financial", "sales", "customer", "service"}
    if set(aspects) != required:
        raise SegmentConfigError(f"[segments.scorecard.aspects] needs exactly {sorted(required)}"
                                 f", got {sorted(aspects)}")
    aspect_weights = _weights(card.get("weights"), "segments.scorecard.weights", required)
    replicates = int(raw.get("bootstrap_replicates", 200))
    if replicates < 0:
        raise SegmentConfigError("[segments] bootstrap_replicates must be >= 0")
    return SegmentSettings(int(raw.get("window_months", 12)),
                           tuple(raw.get("lower_is_better", ())), indicators,
                           _tiering(tiers, "segments.tiers"), pyramids, aspects, aspect_weights,
                           replicates)


def _require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} needs columns {missing}; pass ctx.features(...) output "
                         "(see docs/INTERFACES.md)")
