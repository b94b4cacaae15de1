"""Customer lists for sales and CRM: CSV and Parquet in ``<pack>/exports/``.

Ids are pseudonymised and personal columns dropped unless a company config asks for raw
ids (``[privacy] export_raw_ids = true``, for re-import into its own CRM).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis.data.privacy import drop_pii, pseudonymise_frame, resolve_salt


def write_export(frame: pd.DataFrame, output_dir: str | Path, name: str, settings=None) -> Path:
    """Write ``exports/<name>.csv`` and ``.parquet``; returns the CSV path."""
    raw_ids = bool(((getattr(settings, "raw", None) or {}).get("privacy") or {})
                   .get("export_raw_ids", False))
    safe = drop_pii(frame) if raw_ids else pseudonymise_frame(frame, resolve_salt(settings))
    folder = Path(output_dir) / "exports"
    folder.mkdir(parents=True, exist_ok=True)
    safe.to_parquet(folder / f"{name}.parquet", index=False)
    path = folder / f"{name}.csv"
    safe.to_csv(path, index=False)
    return path


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
