"""The ``analysis`` command: demo data, a draft config, validation, and the monthly report pack.

Errors a user can cause (a config, a file, the data) are printed as messages that name the
file, the key or column and the fix, never as tracebacks (``ANALYSIS_DEBUG=1`` shows the
traceback of an unexpected error).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from analysis.data import demo
from analysis.data.contract import ContractError

DESCRIPTION = """Customer-value lab: test the folk laws of customer management on your own data.

  analysis demo       generate the built-in demo company (seeded, with its ground truth)
  analysis init       look at your export files and draft a commented config
  analysis validate   check a company's data against the contract and print the ledger
  analysis report     run the notebooks for a period and render the HTML/PDF report pack
  analysis selfcheck  check that the installed models reproduce published results
"""
MIN_DEMO_CUSTOMERS = 50


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="analysis",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _add_demo(sub)
    _add_init(sub)
    _add_validate(sub)
    _add_report(sub)
    _add_selfcheck(sub)
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into head: nothing left to say
        return 0
    except Exception as error:  # the last net: a message, not a traceback
        if os.environ.get("ANALYSIS_DEBUG"):
            raise
        print(f"ERROR: {type(error).__name__}: {error}\n  (an unexpected error; set "
              "ANALYSIS_DEBUG=1 to see where it happened)", file=sys.stderr)
        return 2


def _positive(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is too small: at least {minimum:,}")
        return value
    return parse


def _add_demo(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="generate the demo company's data files",
        description="Generate the demo company (Parquet tables, truth.json, "
        "latent.parquet). Deterministic for a given seed and size.",
    )
    p.add_argument(
        "--out", default="data/demo/default", help="folder to write (default: %(default)s)"
    )
    size = p.add_mutually_exclusive_group()
    size.add_argument(
        "--customers", type=_positive(MIN_DEMO_CUSTOMERS), default=20_000,
        help=f"number of customers, at least {MIN_DEMO_CUSTOMERS} (default: %(default)s)"
    )
    size.add_argument(
        "--transactions",
        type=_positive(1),
        help="approximate number of transaction lines instead (up to ~10M)",
    )
    p.add_argument("--seed", type=int, default=20261125, help="random seed (default: %(default)s)")
    p.set_defaults(handler=_run_demo)


def _run_demo(args) -> int:
    n = demo.size_for_transactions(args.transactions) if args.transactions else args.customers
    try:
        folder = demo.write(args.out, n_customers=n, seed=args.seed)
    except OSError as error:
        print(f"ERROR: cannot write the demo company to {args.out}: {error.strerror or error}",
              file=sys.stderr)
        return 2
    print(f"demo company with {n:,} customers written to {folder}")
    return 0


def _add_init(sub) -> None:
    p = sub.add_parser(
        "init",
        help="draft a config from your export files",
        description="Look at the files (columns, types, sample values) and write a commented "
        "draft config: the likely id, date, money, quantity, status and category columns, "
        "revenue as quantity x unit price when there is no revenue column, the date format "
        "and decimal convention, cancellation markers, lookups between related files, and "
        "a list of what it could not decide.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="export files, or a folder of them")
    p.add_argument("-o", "--output", help="config file to write (default: print it)")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    p.set_defaults(handler=_run_init)


def _run_init(args) -> int:
    from analysis.data.drafting import draft_config

    output = Path(args.output) if args.output else None
    if output is not None and output.exists() and not args.force:
        print(f"ERROR: {output} exists; choose another name or pass --force", file=sys.stderr)
        return 2
    try:
        text = draft_config(args.paths, output)
    except (FileNotFoundError, ValueError) as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return 2
    if output is None:
        print(text, end="")
        return 0
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
    except OSError as error:
        print(f"ERROR: cannot write {output}: {error.strerror or error}", file=sys.stderr)
        return 2
    print(f"draft config written to {output}\nnext: analysis validate --config {output}")
    return 0


def _add_validate(sub) -> None:
    p = sub.add_parser(
        "validate",
        help="check data against the contract; print the ledger",
        description="Read the tables a config names, map them onto the contract, "
        "validate them and print every problem (table, column, rows, "
        "count, fix) or the data-quality ledger.",
    )
    p.add_argument(
        "--config", default="config/demo.toml", help="company config (default: %(default)s)"
    )
    p.set_defaults(handler=_run_validate)


def _run_validate(args) -> int:
    from analysis.data.config import load_settings
    from analysis.data.sources import load_data
    from analysis.engine.context import ensure_demo_data, resolve_config

    try:
        settings = load_settings(resolve_config(args.config))
        ensure_demo_data(settings)
        data = load_data(settings)
    except ContractError as error:
        print(f"INVALID: {error}", file=sys.stderr)
        return 1
    except (FileNotFoundError, ValueError) as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"ERROR: {error.filename or ''} {error.strerror or error}".strip(),
              file=sys.stderr)
        return 2
    print(f"OK: {settings.name} conforms to the contract (dates checked up to "
          f"{settings.as_of_date()})\n")
    print(ledger_text(data.ledger))
    if data.missing():
        print("\nNot supplied (analyses that need these say so): " + ", ".join(data.missing()))
    return 0 if data.ledger.reconciles else 1


def ledger_text(ledger) -> str:
    """The ledger for a terminal: per table rows and money in = kept + excluded, the rows
    read from each source, and every line with its reason."""
    from analysis.data.ledger import money_text

    lines = []
    for rec in ledger.reconciliation().itertuples():
        verdict = "reconciles exactly" if rec.reconciles else "DOES NOT RECONCILE"
        lines.append(f"{rec.table}: {rec.rows_in:,} rows in = {rec.rows_kept:,} kept + "
                     f"{rec.rows_excluded:,} excluded ({verdict})")
        if rec.source_total != "-":
            lines.append(f"  the source's own revenue total: {rec.source_total}")
        for row in ledger.rows:
            if row["table"] != rec.table or row["step"] == "source total":
                continue
            money = (money_text(row["revenue_micros"])
                     if rec.table == "transactions" and row["step"] != "source" else "")
            step = {"source": "read", "input": "in", "kept": "kept",
                    "excluded": "excluded"}[row["step"]]
            lines.append(f"  {step:<9}{row['rows']:>12,} rows {money:>18}  {row['reason']}")
    return "\n".join(lines)


def _add_report(sub) -> None:
    try:
        from analysis.report.pack import register_cli
    except ImportError as error:  # the report module is optional until installed
        message = str(error)
        p = sub.add_parser("report", help=f"report pack (unavailable: {message})")
        p.set_defaults(handler=lambda args: _unavailable(message))
        return
    register_cli(sub)


def _add_selfcheck(sub) -> None:
    p = sub.add_parser(
        "selfcheck",
        help="refit the models to published data sets and compare with the published values",
        description="Refit BG/NBD, Pareto/NBD and Gamma-Gamma to the CDNOW sample and the sBG "
        "to the two retention series of Fader and Hardie (2007); print the published value, "
        "the reproduced value and their relative difference. Exit 1 if any differs by more "
        "than 0.5%.",
    )
    p.add_argument("--json", action="store_true", help="print a JSON list of "
                   "{model, parameter, published, reproduced}")
    p.set_defaults(handler=_run_selfcheck)


def _run_selfcheck(args) -> int:
    import json

    from analysis.analyses.selfcheck import selfcheck

    result = selfcheck()
    print(json.dumps(result.records(), indent=2) if args.json else result.text())
    return 0 if result.passed else 1


def _unavailable(error: str) -> int:
    print(f"the report command is unavailable: {error}", file=sys.stderr)
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
