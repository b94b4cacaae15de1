import hashlib
import hmac
import os
import stat
import subprocess
import sys

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from analysis.data import privacy
from analysis.data.privacy import drop_pii, pseudonymise, pseudonymise_frame, resolve_salt

SALT = "test-salt"


def test_pseudonym_matches_hand_computed_hmac():
    expected = "C-" + hmac.new(b"test-salt", b"42", hashlib.sha256).hexdigest()[:12]
    assert pseudonymise("42", SALT) == expected
    assert pseudonymise(42, SALT) == expected  # ids are compared as text


@given(st.lists(st.text(min_size=1, max_size=20), min_size=1, max_size=50, unique=True))
def test_pseudonyms_are_stable_distinct_and_hide_the_id(ids):
    first = pseudonymise(ids, SALT)
    assert first == pseudonymise(ids, SALT)
    assert len(set(first)) == len(ids)
    for raw, code in zip(ids, first, strict=True):
        assert code.startswith("C-") and len(code) == 14
        assert raw not in code[2:] or len(raw) <= 2


@given(st.text(min_size=1, max_size=20))
def test_salt_changes_the_pseudonym(customer_id):
    assert pseudonymise(customer_id, "a") != pseudonymise(customer_id, "b")


def test_series_keeps_index_and_missing_values():
    ids = pd.Series(["x", None, "y"], index=[10, 11, 12], name="customer_id")
    out = pseudonymise(ids, SALT)
    assert list(out.index) == [10, 11, 12] and out.name == "customer_id"
    assert out.isna().tolist() == [False, True, False]
    assert out.iloc[0] == pseudonymise("x", SALT)


def test_index_input_returns_index():
    out = pseudonymise(pd.Index(["a", "b"], name="customer_id"), SALT)
    assert isinstance(out, pd.Index) and out.name == "customer_id"


def test_bad_salt_and_length_raise_clear_errors():
    with pytest.raises(ValueError, match="salt"):
        pseudonymise(["a"], "")
    with pytest.raises(ValueError, match="length"):
        pseudonymise(["a"], SALT, length=3)


KEY = "0123456789abcdef-a-long-enough-key"


def test_the_environment_variable_is_the_key(monkeypatch):
    monkeypatch.setenv(privacy.KEY_ENV, KEY)
    key = privacy.ensure_key({"name": "acme"})
    assert key.secret == KEY and key.path is None and KEY not in repr(key)
    assert pseudonymise(["a"]) == pseudonymise(["a"], KEY)
    monkeypatch.setenv(privacy.KEY_ENV, "short")
    with pytest.raises(ValueError, match="too short.*secrets.token_hex"):
        resolve_salt({"name": "acme"})


def test_a_key_file_is_made_once_private_and_random(monkeypatch, tmp_path):
    """No configured key: a random key in the user's config folder, owner-only, the same
    on every later call; another company gets another key."""
    monkeypatch.delenv(privacy.KEY_ENV, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    first = privacy.ensure_key({"name": "Acme Ltd."})
    assert first.created and first.path == tmp_path / "config" / "customer-value-lab" / \
        "keys" / "Acme_Ltd.key"
    assert stat.S_IMODE(first.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(first.path.parent.stat().st_mode) == 0o700
    assert len(first.secret) == 64 and int(first.secret, 16)
    again = privacy.ensure_key({"name": "Acme Ltd."})
    assert again.secret == first.secret and not again.created
    assert privacy.ensure_key({"name": "other"}).secret != first.secret
    assert "customer-value-lab:" not in first.secret and "Acme" not in first.secret


def test_key_file_from_the_config_relative_to_it(monkeypatch, tmp_path):
    from analysis.data.config import load_settings

    monkeypatch.delenv(privacy.KEY_ENV, raising=False)
    config = tmp_path / "acme.toml"
    config.write_text('name = "acme"\n[source]\nkind = "csv"\npath = "."\n'
                      '[privacy]\nkey_file = "secrets/acme.key"\n')
    settings = load_settings(config)
    key = privacy.ensure_key(settings)
    assert key.path == tmp_path / "secrets" / "acme.key" and key.created
    key.path.chmod(0o644)
    with pytest.raises(PermissionError, match="chmod 600"):
        privacy.ensure_key(settings)


@pytest.mark.parametrize(("table", "message"), [
    ({"salt": "x"}, "no longer read.*key_file"),
    ({"key_fle": "k"}, "unknown key 'key_fle' \\(did you mean 'key_file'\\?\\)"),
    ({"export_raw_ids": "yes"}, "true or false"),
])
def test_privacy_table_errors_name_the_key(table, message):
    with pytest.raises(ValueError, match=message):
        privacy.privacy_options({"name": "acme", "privacy": table})


CREATE = """
import sys
from analysis.data.privacy import ensure_key
print(ensure_key({"name": "race"}).secret)
"""


def test_processes_creating_the_key_at_once_share_one(monkeypatch, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != privacy.KEY_ENV}
    env["XDG_CONFIG_HOME"] = str(tmp_path)
    runs = [subprocess.Popen([sys.executable, "-c", CREATE], env=env, stdout=subprocess.PIPE,
                             text=True) for _ in range(6)]
    keys = {run.communicate(timeout=60)[0].strip() for run in runs}
    assert len(keys) == 1 and len(keys.pop()) == 64
    assert [p.name for p in (tmp_path / "customer-value-lab" / "keys").iterdir()] == [
        "race.key"]


def test_frame_helpers_drop_pii_and_pseudonymise_ids():
    frame = pd.DataFrame(
        {"customer_id": ["a", "b"], "Name": ["Ann", "Bob"], "email": ["a@x", "b@x"], "v": [1, 2]}
    )
    assert list(drop_pii(frame).columns) == ["customer_id", "v"]
    safe = pseudonymise_frame(frame, SALT)
    assert list(safe.columns) == ["customer_id", "v"]
    assert safe["customer_id"].tolist() == pseudonymise(["a", "b"], SALT)
    assert frame["customer_id"].tolist() == ["a", "b"]  # input untouched
