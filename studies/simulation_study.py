"""The simulation study of the claims C1-C12 (issue 21, item 9; docs/SIMULATION_STUDY.md).

    python studies/simulation_study.py --companies 300 --out docs/simulation_study

Simulates ``--companies`` demo companies (spread evenly over the parameter settings of
``analysis.analyses.study.SETTINGS``, seeds 1, 2, ...), computes every claim by the
notebooks' entry points, and compares each 95% interval and verdict with the truth (one very
large company per setting, see the study module). Writes into ``--out``:

- ``truths.json``: the truth of every quantity per setting (computed once, reused; use
  ``--fresh`` after an estimator changed, since its estimand and truth may change too);
- ``rows.jsonl.gz``: one row per company and quantity (appended as companies finish; a
  rerun skips the companies already there, so an interrupted study resumes);
- ``results.json`` and ``results.md``: coverage per quantity with its binomial 95%
  interval, mean width and bias, the truth table and the verdict confusion table.

Progress goes to stdout (one line per company). Run it with ``nice -n 10`` on a shared
machine; about 7 s per company of 2,000 customers and 2-3 min per truth company on one core.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
import warnings
from pathlib import Path

import pandas as pd

from analysis.analyses import study


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--companies", type=int, default=300, help="companies in all (>= 200)")
    p.add_argument("--out", type=Path, default=Path("docs/simulation_study"))
    p.add_argument("--customers", type=int, default=study.COMPANY_CUSTOMERS,
                   help="customers per simulated company")
    p.add_argument("--truth-customers", type=int, default=study.TRUTH_CUSTOMERS,
                   help="customers of the very large company that gives the truth")
    p.add_argument("--truth-companies", type=int, default=2,
                   help="very large companies per setting whose average is the truth")
    p.add_argument("--settings", default=",".join(study.SETTINGS),
                   help="comma-separated settings (default: all)")
    p.add_argument("--replicates", type=int, default=study.REPLICATES,
                   help="bootstrap replicates of the concentration intervals")
    p.add_argument("--fresh", action="store_true",
                   help="discard the truths and rows in --out first (after an estimator "
                        "changed: its estimand, and so its truth, may have changed too)")
    p.add_argument("--summary-only", action="store_true",
                   help="only rewrite results.json and results.md from the rows so far")
    return p.parse_args(argv)


def log(text: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {text}", flush=True)


def load_truths(path: Path, settings: list[str], customers: int, companies: int) -> dict:
    """Per setting: the truth companies' values (``_each``, computed once and kept in
    ``path``) and their average, which is the truth the study uses."""
    truths = json.loads(path.read_text()) if path.exists() else {}

    def save():
        path.write_text(json.dumps(truths, indent=1, sort_keys=True))

    for setting in settings:
        entry = truths.get(setting) or {}
        if entry.get("_customers") != customers or "_each" not in entry:
            entry = {"_customers": customers, "_each": []}
        truths[setting] = entry
        for i in range(len(entry["_each"]), companies):
            start, seed = time.time(), study.TRUTH_SEED + i
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                entry["_each"].append({"_seed": seed, **study.estimand_truths(
                    setting, customers, seed)})
            save()
            log(f"truth company {i + 1} of setting {setting} ({customers:,} customers) in "
                f"{time.time() - start:.0f} s")
        entry.update(study.average_truths(entry["_each"][:companies]))
        save()
    return truths


def read_rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    rows = []
    with gzip.open(path, "rt") as f:
        for line in f:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:   # a line cut by an interruption
                break
    return rows


def plan(companies: int, settings: list[str]) -> list[tuple[str, int]]:
    """(setting, seed) pairs: the settings take turns; the k-th setting of
    ``study.SETTINGS`` uses seeds 10000 k + 1, 10000 k + 2, ... (independent companies)."""
    per = -(-companies // len(settings))
    names = list(study.SETTINGS)
    pairs = [(s, 10_000 * names.index(s) + i) for i in range(1, per + 1) for s in settings]
    return pairs[:companies]


def run(args: argparse.Namespace) -> None:
    settings = [s.strip() for s in args.settings.split(",") if s.strip()]
    unknown = set(settings) - set(study.SETTINGS)
    if unknown:
        sys.exit(f"unknown settings {sorted(unknown)}; known: {', '.join(study.SETTINGS)}")
    args.out.mkdir(parents=True, exist_ok=True)
    rows_path = args.out / "rows.jsonl.gz"
    if args.fresh:
        for name in ("truths.json", "rows.jsonl.gz"):
            (args.out / name).unlink(missing_ok=True)
    started = time.time()
    truths = load_truths(args.out / "truths.json", settings, args.truth_customers,
                         args.truth_companies)
    rows = read_rows(rows_path)
    done = {(r["setting"], r["seed"]) for r in rows}
    todo = [p for p in plan(args.companies, settings) if p not in done]
    if not args.summary_only:
        log(f"{len(done)} companies done, {len(todo)} to go")
        for i, (setting, seed) in enumerate(todo, 1):
            t = time.time()
            try:
                found = study.simulate(setting, seed, args.customers, args.replicates)
            except Exception as error:   # one broken company must not stop the study
                found = [{"setting": setting, "seed": seed, "claim": "error",
                          "quantity": "error", "reason": f"{type(error).__name__}: {error}"}]
            with gzip.open(rows_path, "at") as f:
                for row in found:
                    f.write(json.dumps(row, default=_plain) + "\n")
            rows.extend(found)
            log(f"company {i}/{len(todo)} ({setting}, seed {seed}) in {time.time() - t:.1f} s")
    write_summary(args, rows, truths, time.time() - started)


def _plain(x):
    if hasattr(x, "item"):
        return x.item()
    return str(x)


def write_summary(args, rows: list[dict], truths: dict, seconds: float) -> None:
    errors = [r for r in rows if r["claim"] == "error"]
    good = [r for r in rows if r["claim"] != "error"]
    estimands = {s: {k: v for k, v in t.items() if not k.startswith("_")}
                 for s, t in truths.items() if s in args.settings.split(",")}
    result = study.summary(good, estimands)
    companies = len({(r["setting"], r["seed"]) for r in rows})
    meta = {"companies": companies, "customers_per_company": args.customers,
            "truth_customers": args.truth_customers,
            "truth_companies": args.truth_companies, "errors": errors,
            "settings": {s: study.SETTINGS[s] for s in estimands},
            "seconds_this_run": round(seconds)}
    study.write_json(args.out / "results.json", {"meta": meta, "truths": truths, **result})
    (args.out / "results.md").write_text(markdown(meta, result, estimands, truths))
    log(f"wrote {args.out / 'results.json'} and results.md ({companies} companies)")


def _fmt(x, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and x != x):
        return ""
    if isinstance(x, float):
        return f"{x:.{digits}g}"
    return str(x)


def _table(frame: pd.DataFrame, columns: list[str]) -> str:
    head = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
    body = "".join("| " + " | ".join(_fmt(row[c]) for c in columns) + " |\n"
                   for _, row in frame.iterrows())
    return head + body


def truth_spread(truths: dict) -> str:
    rows = []
    for setting, entry in truths.items():
        each = entry.get("_each", [])
        for key in sorted({k for e in each for k in e if not k.startswith("_")},
                          key=lambda k: (study.CLAIM_IDS.index(study.claim_of(k)), k)):
            values = [e.get(key) for e in each]
            rows.append({"setting": setting, "quantity": key,
                         "truth": entry.get(key),
                         "companies": ", ".join(_fmt(v, 4) for v in values)})
    return _table(pd.DataFrame(rows), ["setting", "quantity", "truth", "companies"])


def markdown(meta: dict, result: dict, estimands: dict, truths: dict) -> str:
    cov = result["coverage"].copy()
    cov["coverage"] = [f"{c:.1%} [{lo:.1%}, {hi:.1%}]" if c == c else ""
                       for c, lo, hi in zip(cov["coverage"], cov["coverage_low"],
                                            cov["coverage_high"], strict=True)]
    cov["in 93-97%"] = cov["in_band"].map({True: "yes", False: "NO"})
    cov["95% possible"] = cov["consistent_with_95"].map({True: "yes", False: "NO"})
    columns = ["quantity", "with_interval", "coverage", "in 93-97%", "95% possible", "truth",
               "mean_estimate",
               "bias", "sd_estimate", "mean_width", "sd_over_se", "scale", "structural",
               "bias_vs_structural"]
    out = [f"# Simulation study: results\n\n{meta['companies']} simulated companies of "
           f"{meta['customers_per_company']:,} customers (settings: "
           f"{', '.join(meta['settings'])}); truths from {meta['truth_companies']} companies "
           f"of {meta['truth_customers']:,} customers per setting. Generated by "
           "`studies/simulation_study.py`; the design is in `docs/SIMULATION_STUDY.md`.\n",
           "Bias, spread (sd) and width are on the log scale for ratios (`scale` = log), "
           "else in the quantity's unit. Coverage: share of companies whose 95% interval "
           "contains the truth, with its Clopper-Pearson 95% interval; `95% possible`: that "
           "interval contains 95% (the study cannot tell the coverage from 95%). `sd_over_se`: the "
           "spread of the estimates over the spread the intervals claim (mean width / "
           "3.92); above 1 the intervals are too narrow. `structural`: the value the "
           "generator's parameters fix (C3, C4, C5; C7 on latent satisfaction).\n",
           "## Coverage, all settings\n", _table(cov[cov["setting"] == "all"], columns)]
    for setting in estimands:
        out += [f"\n## Coverage, setting `{setting}`\n",
                _table(cov[cov["setting"] == setting], columns)]
    out += ["\n## The truth companies\n",
            "Each setting's truth is the average of its truth companies (log scale for "
            "ratios); their difference shows how precisely the truth itself is known.\n\n",
            truth_spread(truths)]
    out += ["\n## Truth table (the verdict of each claim's rule at the true value)\n",
            _table(result["truth_table"],
                   ["setting", "claim", "true_verdict", "structural_verdict"]),
            "\n## Verdicts against the truth\n",
            "`contradicting`: a decisive verdict on the wrong side (holds or stronger when "
            "the truth is weaker, weaker when it holds). The claims' own verdicts, before the "
            "Holm correction across the scorecard.\n\n",
            _table(result["wrong"], ["claim", "companies", "exact", "contradicting"]),
            "\n### Confusion table\n",
            _table(result["confusion"], ["claim", "setting", "true_verdict", "verdict",
                                         "companies"])]
    if len(result["first_year"]):
        out += ["\n## Hazard ratios: which ratio the claim read\n",
                "Where the proportional-hazards check fails, C3-C5 read the first-year hazard "
                "ratio instead of the whole-follow-up one (a different quantity). Rows of the "
                "companies that recorded it.\n\n",
                _table(result["first_year"], ["quantity", "ratio read", "companies",
                                              "coverage", "mean_estimate", "truth"])]
    if len(result["not_testable"]):
        out += ["\n## Not testable\n",
                _table(result["not_testable"], ["claim", "reason", "companies"])]
    if meta["errors"]:
        out += [f"\n## Companies that failed: {len(meta['errors'])}\n"]
        out += [f"- {e['setting']} seed {e['seed']}: {e['reason']}\n" for e in meta["errors"]]
    return "\n".join(out)


if __name__ == "__main__":
    run(parse())
