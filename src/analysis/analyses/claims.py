"""The claims scorecard: one row per claim C1-C12, assembled from the sections' results.

Each notebook answers the claims it can with :class:`~analysis.core.results.ClaimResult`
and writes them with ``write_section``. :func:`build_scorecard` reads those answers
(``results.read_sections(output_dir)``) and makes sure every claim has a row: a claim
no section answered is reported as not testable, with the reason
"no analysis produced this claim", never dropped.
"""

from __future__ import annotations

import dataclasses
import html
from collections.abc import Mapping
from typing import Any

import pandas as pd

from analysis.core.results import ClaimResult, Verdict, claim_from_dict

NO_ANALYSIS = "no analysis produced this claim"


@dataclasses.dataclass(frozen=True)
class Claim:
    claim_id: str
    title: str
    claimed: str


CLAIMS: tuple[Claim, ...] = (
    Claim("C1", "80/20 rule", "80% of profits come from 20% of customers"),
    Claim("C2", "Whale curve", "28% of customers generate 72% of profits; 78% only cost"),
    Claim("C3", "Referred customers are more loyal",
          "customers who came on a recommendation are more loyal than those won by advertising"),
    Claim("C4", "Full-price buyers are more loyal",
          "those who buy at the normal price rather than on promotion are more loyal"),
    Claim("C5", "Frequency and breadth mark loyalty",
          "loyal customers buy again often and across several product lines"),
    Claim("C6", "Small customers cost more than they bring",
          "worse customers buy little but consume far more cost than they bring"),
    Claim("C7", "+5 points of satisfaction doubles profit",
          "raising satisfaction by five percentage points doubles profit"),
    Claim("C8", "Very satisfied customers are 6x more likely to buy again",
          "a very satisfied customer is six times more likely to buy again than a satisfied one"),
    Claim("C9", "Fast response builds loyalty",
          "the speed of the company's response is in direct proportion to loyalty"),
    Claim("C10", "2/3 leave for lack of care",
          "two thirds of customers leave because the care is not enough"),
    Claim("C11", "Churn is 5-30%", "the customer churn rate is 5-30%"),
    Claim("C12", "Satisfaction indicators move with profit",
          "complaint rate, return rate, purchase amount and price sensitivity move with profit"),
)
CLAIM_IDS = tuple(c.claim_id for c in CLAIMS)
VERDICT_ORDER = (Verdict.SUPPORTED, Verdict.NOT_SUPPORTED, Verdict.INCONCLUSIVE,
                 Verdict.NOT_TESTABLE)
VERDICT_COLOURS = {
    Verdict.SUPPORTED: "#2e7d32",
    Verdict.NOT_SUPPORTED: "#c00000",
    Verdict.INCONCLUSIVE: "#b26a00",
    Verdict.NOT_TESTABLE: "#7f7f7f",
}


@dataclasses.dataclass(frozen=True)
class ScorecardRow:
    claim: Claim
    result: ClaimResult
    section: str | None


@dataclasses.dataclass(frozen=True)
class Scorecard:
    """Every claim C1-C12 with its answer for one period."""

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
        from analysis.core.results import to_jsonable

        out = []
        for row in self.rows:
            record = to_jsonable(row.result)
            record.update(title=row.claim.title, claimed=record.get("claimed") or row.claim.claimed,
                          section=row.section)
            out.append(record)
        return out

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in self.summary().columns)
        body = []
        for row, (_, cells) in zip(self.rows, self.summary().iterrows(), strict=True):
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
    return "" if result.estimate is None else f"{result.estimate:.3g}"


def format_interval(result: ClaimResult) -> str:
    if result.low is None or result.high is None:
        return ""
    return f"{result.low:.3g} to {result.high:.3g}"


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

    A claim answered by several sections keeps the first testable answer (sections
    in name order) and is listed in ``conflicts`` when their verdicts disagree.
    Unknown claim ids are ignored here (they stay in their section).
    """
    found = claims_from_sections(sections)
    rows, conflicts = [], []
    for claim in CLAIMS:
        answers = found.get(claim.claim_id)
        if not answers:
            rows.append(ScorecardRow(claim, ClaimResult.not_testable(claim.claim_id, NO_ANALYSIS),
                                     None))
            continue
        section, result = choose(answers)
        testable = {r.verdict for _, r in answers if r.verdict is not Verdict.NOT_TESTABLE}
        if len(testable) > 1:
            names = ", ".join(f"{s}: {r.verdict.value}" for s, r in answers)
            conflicts.append(f"{claim.claim_id} answered differently by {names}")
        rows.append(ScorecardRow(claim, result, section))
    return Scorecard(period, tuple(rows), tuple(conflicts))
