"""Privacy helpers: pseudonymous customer ids and removal of personal columns.

Leadership outputs never show names or e-mails, and show customer ids only as
pseudonyms: a keyed hash (HMAC-SHA256) of the id with a secret key, cut to a short
stable code such as ``C-3f9a0c1b2d4e``. The same id and key always give the same
pseudonym, so a customer can be followed from one pack to the next; without the key
nobody can compute a pseudonym, so nobody can test guessed ids against a list.

The key is a random secret that lives outside the pack and outside git. It comes, in
this order, from:

1. the environment variable ``ANALYSIS_PSEUDONYM_SALT`` (its value is the key);
2. the key file named by ``[privacy] key_file`` in the company config (relative to the
   config file; ``~`` is the home folder);
3. the company's default key file, ``<user config folder>/customer-value-lab/keys/
   <company name>.key`` (on Linux ``~/.config/customer-value-lab/keys/<name>.key``).

A key file that does not exist is created on first use with 32 random bytes from
:mod:`secrets`, readable by its owner only (0600, in a 0700 folder); ``analysis report``
says where when it creates one. Nothing in the config or the pack is used as a key, so
a config that sets no key keeps working: its key is generated. To keep pseudonyms the
same on another machine, copy the key file to the same place there (or set the
environment variable to its content); whoever has the key can recompute pseudonyms, so
share it like a password.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import hmac
import os
import re
import secrets
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

KEY_ENV = "ANALYSIS_PSEUDONYM_SALT"
SALT_ENV = KEY_ENV   # the name the variable has always had
#: the keys a ``[privacy]`` table may have
PRIVACY_KEYS = ("export_raw_ids", "key_file")
APP_NAME = "customer-value-lab"
MIN_KEY_LENGTH = 16
PREFIX = "C-"
DEFAULT_LENGTH = 12
PII_COLUMNS = ("name", "email", "first_name", "last_name", "phone", "address")
#: an e-mail address; starts only where a run of address characters starts, so it takes
#: linear time on long base64 images
EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+\.[\w.-]+")
NEW_KEY = 'python -c "import secrets; print(secrets.token_hex(32))"'


@dataclasses.dataclass(frozen=True)
class PseudonymKey:
    """The key pseudonyms are made with, where it comes from, and whether it was new."""

    secret: str = dataclasses.field(repr=False)
    source: str                 # "environment variable ..." or the key file's path
    path: Path | None = None    # the key file (None: from the environment)
    created: bool = False       # the key file was created just now

    def __str__(self) -> str:
        return f"pseudonym key from {self.source}"


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
    the same shape (a Series keeps its index and name). ``salt=None`` uses the key of
    :func:`resolve_salt` (the environment, else the default key file).
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
    """The pseudonym key of a company (see :func:`ensure_key`); ``settings`` is an
    :class:`analysis.data.config.Settings`, a raw config mapping, or ``None``."""
    return ensure_key(settings).secret


def privacy_options(settings: Any = None) -> dict[str, Any]:
    """The config's ``[privacy]`` table; an unknown key is an error, never ignored."""
    raw = _raw(settings)
    table = raw.get("privacy") or {}
    if not isinstance(table, Mapping):
        raise ValueError(f"{_where(settings)}: [privacy] must be a table with the keys "
                         f"{', '.join(PRIVACY_KEYS)}")
    for key in table:
        if key in PRIVACY_KEYS:
            continue
        if key == "salt":
            raise ValueError(
                f"{_where(settings)}: [privacy] salt is no longer read: a key in a config "
                "file travels with the config (and into git). Put the value in a key file "
                "and name it with [privacy] key_file, or set the environment variable "
                f"{KEY_ENV}; the pseudonyms stay the same.")
        close = difflib.get_close_matches(str(key), PRIVACY_KEYS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"{_where(settings)}: [privacy] has an unknown key {key!r}{hint}; "
                         f"the keys are {', '.join(PRIVACY_KEYS)}")
    if not isinstance(table.get("export_raw_ids", False), bool):
        raise ValueError(f"{_where(settings)}: [privacy] export_raw_ids must be true or false")
    return dict(table)


def export_raw_ids(settings: Any = None) -> bool:
    """``[privacy] export_raw_ids``: exports keep the company's own ids (default false)."""
    return bool(privacy_options(settings).get("export_raw_ids", False))


def key_file(settings: Any = None) -> Path:
    """Where the company's key file is (``[privacy] key_file``, else the default)."""
    configured = privacy_options(settings).get("key_file")
    if configured:
        path = Path(str(configured)).expanduser()
        base = getattr(settings, "path", None)
        return path if path.is_absolute() or base is None else Path(base).parent / path
    return default_key_folder() / f"{_slug(_name(settings))}.key"


def default_key_folder() -> Path:
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / "keys"


def ensure_key(settings: Any = None) -> PseudonymKey:
    """The company's pseudonym key: the environment variable, else its key file, which
    is created (random, owner-only) when it does not exist."""
    from_env = os.environ.get(KEY_ENV, "").strip()
    if from_env:
        return PseudonymKey(_checked(from_env, f"the environment variable {KEY_ENV}"),
                            f"the environment variable {KEY_ENV}")
    path = key_file(settings)
    created = False
    if not path.exists():
        created = _create_key_file(path)
    mode = path.stat().st_mode
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise PermissionError(
            f"the pseudonym key file {path} can be read by other users (mode "
            f"{stat.S_IMODE(mode):04o}); make it private with: chmod 600 {path}")
    secret = _checked(path.read_text(encoding="utf-8").strip(), f"the key file {path}")
    return PseudonymKey(secret, str(path), path, created)


def mask_emails(text: str) -> str:
    """``text`` with every e-mail address replaced by ``[e-mail address]``."""
    return EMAIL.sub("[e-mail address]", text)


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


def _create_key_file(path: Path) -> bool:
    """Write a new random key to ``path`` unless another process got there first (the key
    is written to a private temporary file and linked into place, so a reader never sees
    a half-written key); True if this call created it."""
    folder = path.parent
    if not folder.exists():
        folder.mkdir(parents=True, mode=0o700)
        os.chmod(folder, 0o700)
    temporary = folder / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(secrets.token_hex(32) + "\n")
        os.link(temporary, path)
        return True
    except FileExistsError:
        return False
    finally:
        temporary.unlink(missing_ok=True)


def _checked(secret: str, source: str) -> str:
    if len(secret) < MIN_KEY_LENGTH:
        raise ValueError(f"the pseudonym key in {source} is too short to be secret "
                         f"({len(secret)} characters, at least {MIN_KEY_LENGTH}); make a "
                         f"new one with: {NEW_KEY}")
    return secret


def _raw(settings: Any) -> Mapping[str, Any]:
    if isinstance(settings, Mapping):
        return settings
    return getattr(settings, "raw", None) or {}


def _name(settings: Any) -> str:
    return str(getattr(settings, "name", None) or _raw(settings).get("name") or "default")


def _where(settings: Any) -> str:
    return f"config {getattr(settings, 'path', None) or _name(settings)}"


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "default"


def _check_salt(salt: Any) -> None:
    if not isinstance(salt, str) or not salt:
        raise ValueError(
            "pseudonymise: salt must be a non-empty string; pass resolve_salt(ctx.settings) "
            f"or set the environment variable {KEY_ENV}"
        )


def _check_length(length: int) -> None:
    if not 6 <= int(length) <= 64:
        raise ValueError("pseudonymise: length must be between 6 and 64 hex characters")
