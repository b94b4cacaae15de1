"""Benchmarks: wall time and peak memory at 100k, 1M and 10M transaction lines.

    .venv/bin/python benchmarks/run.py [--sizes 100000 1000000 10000000] [--steps ...]
                                       [--no-btyd]

Steps per size: load, features (DuckDB and the same in pandas), the 12-month features and
the customer x month panel on DuckDB and on Spark (local mode, two cores; the Spark row says
whether its results equal DuckDB's), each analysis, the concentration bootstrap (vectorised
vs a resample loop) and the whole monthly pack.
Once per run: BG/NBD and Gamma-Gamma on CDNOW master, this project vs lifetimes (installed
into benchmarks/.venv-lifetimes from requirements-lifetimes.txt, never into the project).

Each step runs in its own process (benchmarks/steps.py) so its peak memory is
its own. Data are generated once per size into benchmarks/work/ (not
committed). Results, with machine information, go to benchmarks/results.json
and benchmarks/RESULTS.md (committed).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = HERE / "work"
sys.path.insert(0, str(HERE.parent / "src"))

from analysis.data import demo  # noqa: E402

DEFAULT_SIZES = (100_000, 1_000_000, 10_000_000)
DEFAULT_STEPS = ("load", "features_duckdb", "features_pandas", "features_panel_duckdb",
                 "features_panel_spark", "pack", "analysis_concentration",
                 "analysis_satisfaction", "analysis_churn", "analysis_clv", "analysis_segments",
                 "bootstrap")
LIFETIMES_VENV = HERE / ".venv-lifetimes"


def dataset(lines: int) -> Path:
    folder = WORK / f"demo_{lines}"
    if not (folder / "transactions.parquet").exists():
        started = time.perf_counter()
        demo.write(folder, n_customers=demo.size_for_transactions(lines))
        print(f"  generated {folder.name} in {time.perf_counter() - started:.1f} s", flush=True)
    return folder


def error_lines(stderr: str) -> list[str]:
    """The exception line(s) of a traceback (not a trailing hint such as a docs link)."""
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    errors = [line for line in lines if re.match(r"^[\w.]*(Error|Exception)\b", line)]
    return errors[-2:] or lines[-1:]


def run_step(step: str, folder: Path, timeout: float = 1800,
             memory_limit_gib: float | None = None) -> dict:
    """One step in a fresh process; a failed step is a row with its error and the seconds
    it ran. ``memory_limit_gib`` caps each process's address space (RLIMIT_AS)."""
    cmd = [sys.executable, str(HERE / "steps.py"), step, str(folder)]
    env = {**os.environ, "PYTHONPATH": str(HERE.parent / "src")}
    limit = {} if memory_limit_gib is None else {"memory_limit_gib": memory_limit_gib}

    def cap_memory() -> None:
        if memory_limit_gib is not None:
            size = int(memory_limit_gib * 2**30)
            resource.setrlimit(resource.RLIMIT_AS, (size, size))

    started = time.perf_counter()
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                              preexec_fn=cap_memory)
    except subprocess.TimeoutExpired:
        return {"step": step, "error": f"stopped after the {timeout:.0f} s step limit", **limit}
    if done.returncode != 0:
        return {"step": step, "seconds": round(time.perf_counter() - started, 1),
                "error": error_lines(done.stderr), **limit}
    return {**json.loads(done.stdout.strip().splitlines()[-1]), **limit}


def lifetimes_python() -> Path:
    python = LIFETIMES_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(LIFETIMES_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "-r",
                        str(HERE / "requirements-lifetimes.txt")], check=True)
    return python


def btyd_comparison() -> list[dict]:
    """Fit times on CDNOW master: ours, then lifetimes on the same summary."""
    env = {**os.environ, "PYTHONPATH": str(HERE.parent / "src")}
    csv = WORK / "cdnow_master_summary.csv"
    WORK.mkdir(exist_ok=True)
    script = str(HERE / "btyd_compare.py")
    ours = json.loads(subprocess.run([sys.executable, script, "ours", str(csv)], env=env,
                                     capture_output=True, text=True, check=True).stdout)
    rows = [{"step": "bgnbd_fit_cdnow_master", "tool": ours["tool"],
             "seconds": round(ours["bgnbd_seconds"], 3), "customers": ours["customers"],
             "note": f"params {ours['bgnbd']}"},
            {"step": "gamma_gamma_fit_cdnow_master", "tool": ours["tool"],
             "seconds": round(ours["gamma_gamma_seconds"], 3), "customers": ours["customers"]}]
    try:
        done = subprocess.run([str(lifetimes_python()), script, "lifetimes", str(csv)],
                              capture_output=True, text=True, check=True)
        theirs = json.loads(done.stdout.strip().splitlines()[-1])
    except (subprocess.CalledProcessError, OSError) as error:
        rows.append({"step": "bgnbd_fit_cdnow_master", "tool": "lifetimes",
                     "error": f"lifetimes could not run here: {error}"})
        return rows
    speed = theirs["bgnbd_seconds"] / ours["bgnbd_seconds"]
    rows += [{"step": "bgnbd_fit_cdnow_master", "tool": theirs["tool"],
              "seconds": round(theirs["bgnbd_seconds"], 3), "customers": theirs["customers"],
              "note": f"params {theirs['bgnbd']}; ours is {speed:.1f}x faster"},
             {"step": "gamma_gamma_fit_cdnow_master", "tool": theirs["tool"],
              "seconds": round(theirs["gamma_gamma_seconds"], 3),
              "customers": theirs["customers"],
              "note": f"ours is {theirs['gamma_gamma_seconds'] / ours['gamma_gamma_seconds']:.1f}x"
                      " faster"}]
    return rows


def machine() -> dict:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "memory_gib": _memory_gib(),
    }


def _memory_gib() -> float | None:
    try:
        with open("/proc/meminfo") as f:
            return round(int(f.readline().split()[1]) / 1024 / 1024, 1)
    except OSError:
        return None


def _note(row: dict) -> str:
    text = row.get("error", row.get("note", _pack_note(row)))
    if isinstance(text, list):
        text = " ".join(text)
    if "memory_limit_gib" in row:
        text += f" (address space capped at {row['memory_limit_gib']:g} GiB)"
    return text


def _pack_note(row: dict) -> str:
    """Stages and per-notebook seconds of a pack row (notebooks run two at a time)."""
    if "notebooks" not in row:
        return ""
    parts = [f"{k} {v}" for k, v in row.get("stages", {}).items()]
    parts += [f"{k.split('_', 1)[0]} {v}" for k, v in row["notebooks"].items()]
    memory = "; memory: sum of resident sizes of all processes"
    if "tree_peak_pss_mib" in row:
        memory += f" (proportional, shared pages split: {row['tree_peak_pss_mib']:,.0f} MiB)"
    return "stages and notebooks, s: " + ", ".join(parts) + memory


def _order(row: dict) -> tuple:
    step = DEFAULT_STEPS.index(row["step"]) if row["step"] in DEFAULT_STEPS else -1
    return (row.get("lines", 0), step)


def write_results(results: list[dict]) -> None:
    results = sorted(results, key=_order)
    payload = {"machine": machine(), "date": time.strftime("%Y-%m-%d"), "results": results}
    (HERE / "results.json").write_text(json.dumps(payload, indent=2))
    lines = [
        "# Benchmark results",
        "",
        f"Machine: {payload['machine']}  ",
        f"Date: {payload['date']}",
        "",
        "| lines | customers | step | wall s | compute s | peak MiB | note |",
        "|---:|---:|---|---:|---:|---:|---|",
    ]
    for r in results:
        size = f"{r['lines']:,}" if "lines" in r else r.get("tool", "")
        peak = r.get("tree_peak_mib", r.get("peak_mib", ""))
        lines.append(
            f"| {size} | {r.get('customers', '')} | {r['step']} | "
            f"{r.get('seconds', '')} | {r.get('compute_seconds', '')} | "
            f"{peak} | {_note(r)} |"
        )
    (HERE / "RESULTS.md").write_text("\n".join(lines) + "\n")


def previous_results(keep_btyd: bool, sizes: list[int], steps: list[str]) -> list[dict]:
    """Rows of the last run that this run does not measure again (other sizes or steps,
    and the lifetimes comparison under --no-btyd), so sizes can be run one at a time."""
    path = HERE / "results.json"
    if not path.exists():
        return []
    rows = json.loads(path.read_text())["results"]
    return [r for r in rows if ("lines" in r and not (r["lines"] in sizes and r["step"] in steps))
            or ("lines" not in r and keep_btyd)]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES))
    parser.add_argument("--steps", nargs="+", default=list(DEFAULT_STEPS))
    parser.add_argument("--no-btyd", action="store_true", help="skip the lifetimes comparison")
    parser.add_argument("--memory-limit-gib", type=float, default=None,
                        help="cap each step's address space, so a step that needs too much "
                             "memory fails with MemoryError instead of swapping the machine")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per step")
    args = parser.parse_args()
    results = previous_results(args.no_btyd, args.sizes, args.steps)
    if not args.no_btyd:
        results = btyd_comparison() + results
    for row in results:
        print(f"  {row}", flush=True)
    for lines in args.sizes:
        print(f"{lines:,} lines", flush=True)
        folder = dataset(lines)
        for step in args.steps:
            result = {"lines": lines,
                      **run_step(step, folder, args.timeout, args.memory_limit_gib)}
            print(f"  {result}", flush=True)
            results.append(result)
            write_results(results)


if __name__ == "__main__":
    main()
