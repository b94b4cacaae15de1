"""The ``analysis`` command: demo data, validation, and the monthly report pack."""

from __future__ import annotations

import argparse
import sys

from analysis.data import demo
from analysis.data.contract import ContractError

DESCRIPTION = """Customer-value lab: test the folk laws of customer management on your own data.

  analysis demo       generate the built-in demo company (seeded, with its ground truth)
  analysis validate   check a company's data against the contract and print the ledger
  analysis report     run the notebooks for a period and render the HTML/PDF report pack
  analysis selfcheck  check that the installed models reproduce published results
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="analysis",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _add_demo(sub)
    _add_validate(sub)
    _add_report(sub)
    _add_selfcheck(sub)
    args = parser.parse_args(argv)
    return int(args.handler(args) or 0)


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
        "--customers", type=int, default=20_000, help="number of customers (default: %(default)s)"
    )
    size.add_argument(
        "--transactions",
        type=int,
        help="approximate number of transaction lines instead (up to ~10M)",
    )
    p.add_argument("--seed", type=int, default=20261125, help="random seed (default: %(default)s)")
    p.set_defaults(handler=_run_demo)


def _run_demo(args) -> int:
    n = demo.size_for_transactions(args.transactions) if args.transactions else args.customers
    folder = demo.write(args.out, n_customers=n, seed=args.seed)
    print(f"demo company with {n:,} customers written to {folder}")
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
    print(f"OK: {settings.name} conforms to the contract")
    print(data.ledger.reconciliation().to_string(index=False))
    excluded = data.ledger.excluded()
    if len(excluded):
        print("\nExcluded rows by reason:")
        print(excluded.to_string(index=False))
    if data.missing():
        print("\nNot supplied (analyses that need these say so): " + ", ".join(data.missing()))
    return 0 if data.ledger.reconciles else 1


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
