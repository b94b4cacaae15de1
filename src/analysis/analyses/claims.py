"""The claims C1-C12: how each is read and judged, and the scorecard of one period.

:data:`RULES` holds one :class:`~analysis.core.verdicts.ClaimRule` per claim: the source's
words, the reading tested, the quantity estimated, the claimed value, band or direction.
The practical-equivalence margins and their reasons come from configuration
(``config/claims.default.toml``; a company may override any of them under
``[claims.Cn]``): :func:`claim_rules` gives the rules with a company's margins.

Each notebook answers the claims it can with :func:`analysis.core.verdicts.answer` and
writes them with ``write_section``. :func:`build_scorecard` reads those answers
(``results.read_sections(output_dir)``), makes sure every claim has a row (a claim no
section answered is "not testable", with the reason "no analysis produced this claim"),
and corrects the verdicts for testing many claims at once (Holm).
"""

from __future__ import annotations

import dataclasses
import html
import math
import tomllib
from collections.abc import Mapping
from typing import Any

import pandas as pd

from analysis.core.paths import CONFIG_DIR
from analysis.core.results import ClaimResult, Verdict, claim_from_dict, to_jsonable
from analysis.core.verdicts import (
    ClaimRule,
    Direction,
    Scale,
    adjust_for_family,
    judgement_of,
    with_family_verdict,
)

NO_ANALYSIS = "no analysis produced this claim"
DEFAULTS_FILE = CONFIG_DIR / "claims.default.toml"

#: the claims as the sources put them, and how this project reads them (margins: config)
RULES: tuple[ClaimRule, ...] = (
    ClaimRule(
        "C1", "80/20 rule", "80% of profits come from 20% of customers",
        "the most profitable fifth of customers earns about 80% of the profit",
        "share of window profit earned by the top 20% of customers",
        Direction.HIGHER, claimed=0.80, unit="share"),
    ClaimRule(
        "C2", "Whale curve", "28% of customers generate 72% of profits; 78% only cost",
        "the most profitable 28% of customers earn about 72% of the profit",
        "share of window profit earned by the top 28% of customers",
        Direction.HIGHER, claimed=0.72, unit="share"),
    ClaimRule(
        "C3", "Referred customers are more loyal",
        "customers who came on a recommendation are more loyal than those won by advertising",
        "customers who came on a recommendation leave at a materially lower rate than "
        "customers won by advertising, with the same early behaviour",
        "churn hazard ratio, referral vs advertising (Cox model)",
        Direction.LOWER, null=1.0, scale=Scale.LOG, unit="ratio"),
    ClaimRule(
        "C4", "Full-price buyers are more loyal",
        "those who buy at the normal price rather than on promotion are more loyal",
        "customers who buy on promotion leave at a materially higher rate than full-price "
        "buyers",
        "churn hazard ratio for half of early spend on promotion vs none (Cox model)",
        Direction.HIGHER, null=1.0, scale=Scale.LOG, unit="ratio"),
    ClaimRule(
        "C5", "Frequency and breadth mark loyalty",
        "loyal customers buy again often and across several product lines",
        "customers who buy more often and across more product lines early on leave at a "
        "materially lower rate (both must hold)",
        "churn hazard ratios per extra early order and per extra early product category",
        Direction.LOWER, null=1.0, scale=Scale.LOG, unit="ratio"),
    ClaimRule(
        "C6", "Small customers cost more than they bring",
        "worse customers buy little but consume far more cost than they bring",
        "the smallest fifth of customers by revenue lose money on average after cost of "
        "goods and service cost",
        "mean profit after service cost per customer in the smallest revenue fifth",
        Direction.LOWER, null=0.0, unit="money"),
    ClaimRule(
        "C7", "+5 points of satisfaction doubles profit",
        "raising satisfaction by five percentage points doubles profit",
        "five percentage points more customers in the top box of satisfaction go with about "
        "twice the profit per customer (also shown: +5% of the scale, and the company over "
        "time)",
        "relative change in profit per customer for +5 percentage points of top-box customers",
        Direction.HIGHER, claimed=1.0, null=0.0, unit="relative"),
    ClaimRule(
        "C8", "Very satisfied customers are 6x more likely to buy again",
        "a very satisfied customer is six times more likely to buy again than a satisfied one",
        "top-box customers buy again about six times as often as customers in the box below "
        "(the base rate of the box below caps what is possible; the odds ratio is shown too)",
        "risk ratio of buying again in the next window, top box vs the box below",
        Direction.HIGHER, claimed=6.0, null=1.0, scale=Scale.LOG, unit="ratio"),
    ClaimRule(
        "C9", "Fast response builds loyalty",
        "the speed of the company's response is in direct proportion to loyalty",
        "customers whose complaints are answered more slowly stay materially less often",
        "odds ratio of staying per doubling of complaint response time",
        Direction.LOWER, null=1.0, scale=Scale.LOG, unit="ratio"),
    ClaimRule(
        "C10", "2/3 leave for lack of care",
        "two thirds of customers leave because the care is not enough",
        "about two thirds of churn is linked to customers who got too little care (no "
        "contact initiated by the company, or an unresolved complaint)",
        "share of churn attributable to low care (population attributable fraction)",
        Direction.HIGHER, claimed=2 / 3, null=0.0, unit="share"),
    ClaimRule(
        "C11", "Churn is 5-30%", "the customer churn rate is 5-30%",
        "between 5% and 30% of customers are lost in a year",
        "share of customers lost in twelve months",
        Direction.INSIDE, claimed=(0.05, 0.30), unit="share"),
    ClaimRule(
        "C12", "Satisfaction indicators move with profit",
        "complaint rate, return rate, purchase amount and price sensitivity move with profit",
        "satisfaction indicators (one survey counted once, response time, price "
        "sensitivity) are linked to profit, each in its expected direction; parts of profit "
        "(order value, returns, costly complaints) are shown apart",
        "median partial correlation of the satisfaction indicators with profit (controls: "
        "tenure and size), signed so that positive means the expected direction",
        Direction.HIGHER, null=0.0, unit="r"),
)
CLAIM_IDS = tuple(r.claim_id for r in RULES)
VERDICT_ORDER = (Verdict.STRONGER, Verdict.HOLDS, Verdict.WEAKER, Verdict.INCONCLUSIVE,
                 Verdict.NOT_TESTABLE)
VERDICT_COLOURS = {
    Verdict.STRONGER: "#1b5e20",
    Verdict.HOLDS: "#2e7d32",
    Verdict.WEAKER: "#c00000",
    Verdict.INCONCLUSIVE: "#b26a00",
    Verdict.NOT_TESTABLE: "#7f7f7f",
}


class ClaimConfigError(ValueError):
    """A ``[claims]`` table in a config that cannot be used; the message says the fix."""


def _margins(raw: Mapping[str, Any], where: str) -> dict[str, tuple[float, str]]:
    out = {}
    for claim_id, entry in raw.items():
        if claim_id not in CLAIM_IDS:
            raise ClaimConfigError(f"{where}: [claims.{claim_id}] is not a claim; the claims "
                                   f"are {', '.join(CLAIM_IDS)}")
        if not isinstance(entry, Mapping) or set(entry) - {"margin", "reason"}:
            raise ClaimConfigError(f"{where}: [claims.{claim_id}] takes exactly 'margin' (a "
                                   "number >= 0) and 'reason' (why that margin)")
        margin, reason = entry.get("margin"), entry.get("reason")
        if isinstance(margin, bool) or not isinstance(margin, int | float) or \
                not math.isfinite(margin) or margin < 0:
            raise ClaimConfigError(f"{where}: [claims.{claim_id}] margin must be a number "
                                   f">= 0, not {margin!r}")
        if not isinstance(reason, str) or not reason.strip():
            raise ClaimConfigError(f"{where}: [claims.{claim_id}] needs a 'reason' saying why "
                                   "this margin (it is shown in the report)")
        out[claim_id] = (float(margin), reason.strip())
    return out


def default_margins() -> dict[str, tuple[float, str]]:
    raw = tomllib.loads(DEFAULTS_FILE.read_text()).get("claims", {})
    return _margins(raw, str(DEFAULTS_FILE))


def claim_rules(settings=None) -> dict[str, ClaimRule]:
    """The twelve rules with the default margins, overridden by ``settings.raw['claims']``
    (a company's ``[claims.Cn]`` tables) where given."""
    margins = default_margins()
    raw = getattr(settings, "raw", None) or {}
    if raw.get("claims"):
        where = f"config {getattr(settings, 'path', None) or getattr(settings, 'name', '')}"
        margins.update(_margins(raw["claims"], where))
    return {r.claim_id: r.with_margin(*margins[r.claim_id]) for r in RULES}


def rule(claim_id: str, rules: Mapping[str, ClaimRule] | None = None) -> ClaimRule:
    """One claim's rule, from ``rules`` (a :func:`claim_rules` result) or the defaults."""
    return (rules or claim_rules())[claim_id]


@dataclasses.dataclass(frozen=True)
class ScorecardRow:
    claim: ClaimRule
    result: ClaimResult
    section: str | None


@dataclasses.dataclass(frozen=True)
class Scorecard:
    """Every claim C1-C12 with its answer for one period, verdicts corrected across claims."""

    period: str | None
    rows: tuple[ScorecardRow, ...]
    conflicts: tuple[str, ...] = ()

    def counts(self) -> dict[str, int]:
        found = [row.result.verdict for row in self.rows]
        return {v.value: found.count(v) for v in VERDICT_ORDER}

    def result(self, claim_id: str) -> ClaimResult:
        for row in self.rows:
            if row.claim.claim_id == claim_id:
                return row.result
        raise KeyError(f"unknown claim {claim_id!r}; claims are {', '.join(CLAIM_IDS)}")

    def tested(self) -> int:
        return sum(row.result.verdict is not Verdict.NOT_TESTABLE for row in self.rows)

    def summary(self) -> pd.DataFrame:
        """The scorecard as a small table for display (plain text cells)."""
        return pd.DataFrame([
            {
                "claim": row.claim.claim_id,
                "folk law": row.claim.title,
                "estimate": format_estimate(row.result),
                "95% interval": format_interval(row.result),
                "n": "" if row.result.n is None else f"{row.result.n:,}",
                "verdict": row.result.verdict.value,
                "in plain words": row.result.summary,
            }
            for row in self.rows
        ])

    def to_records(self) -> list[dict[str, Any]]:
        """One JSON-ready record per claim for results.json."""
        out = []
        for row in self.rows:
            record = to_jsonable(row.result)
            record.update(title=row.claim.title,
                          claimed=record.get("claimed") or row.claim.source_words,
                          section=row.section)
            out.append(record)
        return out

    def _repr_html_(self) -> str:
        table = self.summary()
        head = "".join(f"<th>{html.escape(c)}</th>" for c in table.columns)
        body = []
        for row, (_, cells) in zip(self.rows, table.iterrows(), strict=True):
            colour = VERDICT_COLOURS[row.result.verdict]
            tds = []
            for col, value in cells.items():
                text = html.escape(str(value))
                if col == "verdict":
                    text = (f"<span class='verdict' style='color:{colour};font-weight:bold'>"
                            f"{text}</span>")
                tds.append(f"<td>{text}</td>")
            body.append("<tr>" + "".join(tds) + "</tr>")
        return (f"<table class='scorecard'><thead><tr>{head}</tr></thead><tbody>"
                + "".join(body) + "</tbody></table>")


def format_estimate(result: ClaimResult) -> str:
    if result.estimate is None:
        return ""
    unit = (result.rule or {}).get("unit", "")
    return _format(result.estimate, unit)


def format_interval(result: ClaimResult) -> str:
    if result.low is None or result.high is None:
        return ""
    unit = (result.rule or {}).get("unit", "")
    return f"{_format(result.low, unit)} to {_format(result.high, unit)}"


def _format(x: float, unit: str) -> str:
    from analysis.core.verdicts import FORMATS

    return FORMATS.get(unit, FORMATS[""])(x)


def claims_from_sections(
    sections: Mapping[str, Mapping[str, Any]],
) -> dict[str, list[tuple[str, ClaimResult]]]:
    """Every claim answer found in the sections, by claim id, as (section, result)."""
    found: dict[str, list[tuple[str, ClaimResult]]] = {}
    for name in sorted(sections):
        for payload in sections[name].get("claims", []) or []:
            try:
                result = claim_from_dict(payload)
            except (KeyError, TypeError, ValueError) as error:
                raise ValueError(
                    f"section {name!r}: a claim in results/{name}.json is malformed ({error}); "
                    "write claims with results.write_section(claims=[ClaimResult(...)])"
                ) from error
            found.setdefault(result.claim_id, []).append((name, result))
    return found


def choose(answers: list[tuple[str, ClaimResult]]) -> tuple[str, ClaimResult]:
    """One answer per claim: the first testable one (sections in name order)."""
    for section, result in answers:
        if result.verdict is not Verdict.NOT_TESTABLE:
            return section, result
    return answers[0]


def build_scorecard(sections: Mapping[str, Mapping[str, Any]],
                    period: str | None = None) -> Scorecard:
    """The scorecard C1-C12 from ``results.read_sections(output_dir)``.

    A claim answered by several sections keeps the first testable answer (sections in
    name order) and is listed in ``conflicts`` when their verdicts disagree. Unknown claim
    ids are ignored here (they stay in their section). The verdicts are then corrected for
    testing all testable claims at once (Holm, :func:`~analysis.core.verdicts.
    adjust_for_family`); a verdict changed by the correction says so in its summary.
    """
    found = claims_from_sections(sections)
    chosen, conflicts = [], []
    for claim in RULES:
        answers = found.get(claim.claim_id)
        if not answers:
            chosen.append((claim, ClaimResult.not_testable(
                claim.claim_id, NO_ANALYSIS, reading=claim.reading, quantity=claim.quantity,
                claimed=claim.source_words), None))
            continue
        section, result = choose(answers)
        testable = {r.verdict for _, r in answers if r.verdict is not Verdict.NOT_TESTABLE}
        if len(testable) > 1:
            names = ", ".join(f"{s}: {r.verdict.value}" for s, r in answers)
            conflicts.append(f"{claim.claim_id} answered differently by {names}")
        chosen.append((claim, result, section))
    adjusted = adjust_for_family([judgement_of(result) for _, result, _ in chosen])
    rows = tuple(ScorecardRow(claim, with_family_verdict(result, judgement), section)
                 for (claim, result, section), judgement in zip(chosen, adjusted, strict=True))
    return Scorecard(period, rows, tuple(conflicts))
