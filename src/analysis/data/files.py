"""Reading one export file: by its suffix (CSV, Parquet, Excel read offline by
python-calamine), with an error that names the file when it is missing, empty, damaged,
binary or in another encoding.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

SUFFIX_KINDS = {".csv": "csv", ".txt": "csv", ".tsv": "csv", ".dat": "csv",
                ".parquet": "parquet", ".pq": "parquet",
                ".xlsx": "excel", ".xlsm": "excel", ".xls": "excel", ".xlsb": "excel",
                ".ods": "excel"}
READ_OPTIONS = ("sep", "header", "names", "encoding", "sheet")


class SourceError(ValueError):
    """A file or engine that cannot be read, or a mapping that does not fit it: names the
    file, the config key and the fix."""


def file_kind(path: Path, default: str) -> str:
    """How a file is read: by its suffix, else by the source's kind."""
    kind = SUFFIX_KINDS.get(path.suffix.lower())
    if kind:
        return kind
    if default in ("csv", "parquet", "excel"):
        return default
    raise SourceError(f"file {path.name}: cannot tell how to read a '{path.suffix}' file; "
                      "name it .csv, .parquet or .xlsx, or set [source] kind")


def read_file(path: Path, options: Mapping[str, Any], default_kind: str = "csv",
              where: str = "") -> pd.DataFrame:
    """One file's rows with its own column names; a :class:`SourceError` naming the file
    when it is missing, empty, not of its kind or damaged."""
    where = f" ({where})" if where else ""
    if not path.exists():
        near = difflib.get_close_matches(path.name, [p.name for p in path.parent.glob("*")]
                                         if path.parent.is_dir() else [], n=1)
        hint = f"; did you mean {near[0]!r}?" if near else ""
        raise FileNotFoundError(f"file {path} does not exist{where}{hint}")
    if path.is_dir():
        raise SourceError(f"{path} is a folder, not a file{where}")
    if path.stat().st_size == 0:
        raise SourceError(f"file {path.name} is empty (0 bytes){where}; export it again")
    kind = file_kind(path, default_kind)
    try:
        frame = _READERS[kind](path, options)
    except SourceError:
        raise
    except UnicodeDecodeError as error:
        raise SourceError(
            f"file {path.name}{where} is not text in encoding {options.get('encoding') or 'utf-8'}"
            f" (byte {error.object[error.start:error.start + 1]!r} at position {error.start}); "
            "if it is a spreadsheet name it .xlsx, else set encoding = 'latin-1' (or the "
            "file's encoding) in its [tables....] entry") from None
    except pd.errors.EmptyDataError:
        raise SourceError(f"file {path.name}{where} has no columns or rows; export it "
                          "again") from None
    except Exception as error:  # each reader raises its own types for a damaged file
        raise SourceError(f"file {path.name}{where} cannot be read as {kind}: "
                          f"{type(error).__name__}: {error}".rstrip(": ")) from None
    if frame.empty:
        raise SourceError(f"file {path.name}{where} has a header but no rows "
                          f"(columns: {', '.join(map(str, frame.columns[:12]))})")
    return frame


def _read_csv(path: Path, options: Mapping[str, Any]) -> pd.DataFrame:
    with open(path, "rb") as handle:
        head = handle.read(8192)
    if b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise SourceError(f"file {path.name} looks binary (it contains NUL bytes), not CSV "
                          "text; if it is a spreadsheet or Parquet file, give it the right "
                          "suffix (.xlsx, .parquet)")
    header = options.get("header", True)
    sep = options.get("sep") or ("\t" if path.suffix.lower() == ".tsv" else ",")
    frame = pd.read_csv(path, sep=sep, header=0 if header else None, names=options.get("names"),
                        dtype=str, keep_default_na=True,
                        encoding=options.get("encoding") or "utf-8")
    if not options.get("sep") and len(frame.columns) == 1:
        guess = sniff_separator(path, options.get("encoding") or "utf-8")
        if guess and guess != sep:
            raise SourceError(f"file {path.name} reads as one column "
                              f"({str(frame.columns[0])[:60]!r}): it seems to separate its "
                              f"columns with {guess!r}; set sep = {guess!r} in its "
                              "[tables....] or [files....] entry")
    return frame


def sniff_separator(path: Path, encoding: str = "utf-8") -> str | None:
    """The column separator of a text file (csv.Sniffer on its first lines), if clear."""
    import csv

    with open(path, encoding=encoding, errors="replace") as handle:
        head = "".join(handle.readline() for _ in range(20))
    try:
        return csv.Sniffer().sniff(head, delimiters=",;\t|").delimiter
    except csv.Error:
        return None


def _read_parquet(path: Path, options: Mapping[str, Any]) -> pd.DataFrame:
    return pd.read_parquet(path)


def _read_excel(path: Path, options: Mapping[str, Any]) -> pd.DataFrame:
    """Excel offline with python-calamine (no download at first use, unlike DuckDB's
    excel extension); cells keep their types (numbers, dates, text)."""
    import python_calamine

    sheet = options.get("sheet")
    workbook = python_calamine.CalamineWorkbook.from_path(str(path))
    names = workbook.sheet_names
    if sheet is not None and not isinstance(sheet, int) and sheet not in names:
        raise SourceError(f"file {path.name} has no sheet {sheet!r}; its sheets: "
                          f"{', '.join(names)}")
    if isinstance(sheet, int) and not 0 <= sheet < len(names):
        raise SourceError(f"file {path.name} has {len(names)} sheet(s); sheet = {sheet} "
                          f"does not exist (sheets count from 0: {', '.join(names)})")
    header = options.get("header", True)
    return pd.read_excel(path, sheet_name=0 if sheet is None else sheet, engine="calamine",
                         header=0 if header else None, names=options.get("names"))


_READERS = {"csv": _read_csv, "parquet": _read_parquet, "excel": _read_excel}
