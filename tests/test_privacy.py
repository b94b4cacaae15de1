import hashlib
import hmac

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


def test_salt_resolution_order(monkeypatch):
    monkeypatch.delenv(privacy.SALT_ENV, raising=False)
    raw = {"name": "acme", "privacy": {"salt": "from-config"}}
    assert resolve_salt(raw) == "from-config"
    assert resolve_salt({"name": "acme"}) == "customer-value-lab:acme"
    monkeypatch.setenv(privacy.SALT_ENV, "from-env")
    assert resolve_salt(raw) == "from-env"
    assert pseudonymise(["a"]) == pseudonymise(["a"], "from-env")


def test_frame_helpers_drop_pii_and_pseudonymise_ids():
    frame = pd.DataFrame(
        {"customer_id": ["a", "b"], "Name": ["Ann", "Bob"], "email": ["a@x", "b@x"], "v": [1, 2]}
    )
    assert list(drop_pii(frame).columns) == ["customer_id", "v"]
    safe = pseudonymise_frame(frame, SALT)
    assert list(safe.columns) == ["customer_id", "v"]
    assert safe["customer_id"].tolist() == pseudonymise(["a", "b"], SALT)
    assert frame["customer_id"].tolist() == ["a", "b"]  # input untouched
