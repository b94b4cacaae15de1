"""Customer lists for sales and CRM: CSV and Parquet in ``<pack>/exports/``.

Ids are pseudonymised and personal columns dropped unless a company config asks for raw
ids (``[privacy] export_raw_ids = true``, for re-import into its own CRM).

The CSV files are safe to open in a spreadsheet: a text cell that starts with ``=``,
``+``, ``-``, ``@``, a tab or a carriage return would be read as a formula (an id such as
``=HYPERLINK(...)`` could run or leak something), so such a cell is written with a single
quote in front (``'=HYPERLINK(...)``), as spreadsheet-safe CSV writers do. Only text
columns change; numbers (negative ones too) stay numbers. The Parquet files keep the
values as they are: they are typed and nothing reads them as formulas. The CSV files end
lines with CRLF (RFC 4180), so that a value holding a line break is quoted.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis.data.privacy import drop_pii, export_raw_ids, pseudonymise_frame, resolve_salt

#: first characters that make a spreadsheet read a cell as a formula
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def write_export(frame: pd.DataFrame, output_dir: str | Path, name: str, settings=None) -> Path:
    """Write ``exports/<name>.csv`` and ``.parquet``; returns the CSV path."""
    raw_ids = export_raw_ids(settings)
    safe = drop_pii(frame) if raw_ids else pseudonymise_frame(frame, resolve_salt(settings))
    folder = Path(output_dir) / "exports"
    folder.mkdir(parents=True, exist_ok=True)
    safe.to_parquet(folder / f"{name}.parquet", index=False)
    path = folder / f"{name}.csv"
    # CRLF line ends (RFC 4180): a value with a carriage return is then quoted, not cut
    spreadsheet_safe(safe).to_csv(path, index=False, lineterminator="\r\n")
    return path


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells cannot be read as spreadsheet formulas; other
    cells (numbers, dates, missing values) are left exactly as they are."""
    out = frame.copy()
    for column in out.columns:
        values = out[column]
        if (pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)
                or pd.api.types.is_datetime64_any_dtype(values)):
            continue
        risky = values.map(formula_like).astype(bool).to_numpy()
        if risky.any():
            values = values.astype(object)
            values[risky] = [neutralise(v) for v in values[risky]]
            out[column] = values
    return out


def formula_like(value) -> bool:
    return isinstance(value, str) and value.startswith(FORMULA_START)


def neutralise(value):
    """``value`` with a leading single quote if it is text that starts like a formula."""
    return "'" + value if formula_like(value) else value


def write_handoff(frame: pd.DataFrame, output_dir: str | Path, name: str) -> Path:
    """An internal per-customer table (raw ids) for a later notebook of the same pack.

    The report removes hand-offs before the pack is published (``report.INTERNAL_FILES``).
    """
    folder = Path(output_dir) / "exports"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.parquet"
    frame.to_parquet(path, index=False)
    return path


def read_handoff(output_dir: str | Path, name: str) -> pd.DataFrame | None:
    path = Path(output_dir) / "exports" / f"{name}.parquet"
    return pd.read_parquet(path) if path.exists() else None
