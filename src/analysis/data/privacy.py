"""Privacy helpers: pseudonymous customer ids and removal of personal columns.

Leadership outputs never show names or e-mails, and show customer ids only as
pseudonyms: a keyed hash (HMAC-SHA256) of the id with a secret salt, cut to a
short stable code such as ``C-3f9a0c1b2d4e``. The same id and salt always give the
same pseudonym, so a customer can be followed across reports, but the id cannot
be recovered without the salt.

The salt comes, in order, from the environment variable ``ANALYSIS_PSEUDONYM_SALT``,
from ``[privacy] salt`` in the company config, or (fallback, documented as weak)
from the config name. Keep a real salt out of git: set the environment variable.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

SALT_ENV = "ANALYSIS_PSEUDONYM_SALT"
PREFIX = "C-"
DEFAULT_LENGTH = 12
PII_COLUMNS = ("name", "email", "first_name", "last_name", "phone", "address")


def pseudonym(customer_id: Any, salt: str, length: int = DEFAULT_LENGTH) -> str:
    """The pseudonym of one customer id (``None``/NA stays ``None``)."""
    _check_salt(salt)
    _check_length(length)
    if customer_id is None or customer_id is pd.NA or (
        isinstance(customer_id, float) and customer_id != customer_id
    ):
        return None  # type: ignore[return-value]
    digest = hmac.new(salt.encode(), str(customer_id).encode(), hashlib.sha256).hexdigest()
    return PREFIX + digest[:length]


def pseudonymise(ids: Any, salt: str | None = None, length: int = DEFAULT_LENGTH) -> Any:
    """Stable short pseudonyms for customer ids.

    ``ids`` may be a single id, a list/tuple, a pandas Series or Index; the result has
    the same shape (a Series keeps its index and name). ``salt=None`` resolves the salt
    with :func:`resolve_salt` (environment, then fallback).
    """
    salt = resolve_salt() if salt is None else salt
    _check_salt(salt)
    _check_length(length)
    if isinstance(ids, pd.Series):
        return ids.map(lambda v: pseudonym(v, salt, length), na_action="ignore").astype("string")
    if isinstance(ids, pd.Index):
        return pd.Index([pseudonym(v, salt, length) for v in ids], name=ids.name, dtype="string")
    if isinstance(ids, str) or not isinstance(ids, Iterable):
        return pseudonym(ids, salt, length)
    return [pseudonym(v, salt, length) for v in ids]


def resolve_salt(settings: Any = None) -> str:
    """The pseudonymisation salt: env ``ANALYSIS_PSEUDONYM_SALT``, else config, else fallback.

    ``settings`` is an :class:`analysis.data.config.Settings` (or a raw config mapping) or ``None``.
    """
    from_env = os.environ.get(SALT_ENV, "").strip()
    if from_env:
        return from_env
    raw: Mapping[str, Any] = {}
    if isinstance(settings, Mapping):
        raw = settings
    elif settings is not None:
        raw = getattr(settings, "raw", {}) or {}
    configured = str((raw.get("privacy") or {}).get("salt", "")).strip()
    if configured:
        return configured
    name = getattr(settings, "name", None) or raw.get("name") or "default"
    return f"customer-value-lab:{name}"


def drop_pii(frame: pd.DataFrame, columns: Iterable[str] = PII_COLUMNS) -> pd.DataFrame:
    """A copy of ``frame`` without personal columns (name, email, phone, ...)."""
    wanted = {c.lower() for c in columns}
    return frame.drop(columns=[c for c in frame.columns if str(c).lower() in wanted])


def pseudonymise_frame(
    frame: pd.DataFrame, salt: str | None = None, id_column: str = "customer_id"
) -> pd.DataFrame:
    """A copy of ``frame`` safe for leadership: PII dropped and ``id_column`` pseudonymised."""
    out = drop_pii(frame)
    if id_column in out.columns:
        out[id_column] = pseudonymise(out[id_column], salt)
    elif out.index.name == id_column:
        out.index = pseudonymise(out.index, salt)
    return out


def _check_salt(salt: Any) -> None:
    if not isinstance(salt, str) or not salt:
        raise ValueError(
            "pseudonymise: salt must be a non-empty string; pass resolve_salt(ctx.settings) "
            f"or set the environment variable {SALT_ENV}"
        )


def _check_length(length: int) -> None:
    if not 6 <= int(length) <= 64:
        raise ValueError("pseudonymise: length must be between 6 and 64 hex characters")
