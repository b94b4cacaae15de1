"""Holm's adjustment equals statsmodels' multipletests(method="holm") (which we avoid only for
its garbage-collection call), on hand-made and random p-values, ties included."""

from __future__ import annotations

from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.multitest import multipletests

from analysis.core.multitest import holm


def test_hand_made_holm():
    reject, adjusted = holm([0.01, 0.04, 0.03, 0.20])
    # sorted 0.01, 0.03, 0.04, 0.20 times 4, 3, 2, 1 -> 0.04, 0.09, 0.08 -> 0.09, 0.20
    np.testing.assert_allclose(adjusted, [0.04, 0.09, 0.09, 0.20])
    assert reject.tolist() == [True, False, False, False]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.floats(0, 1), st.sampled_from([0.0, 0.01, 0.05, 1.0])),
                min_size=1, max_size=30),
       st.sampled_from([0.01, 0.05, 0.1]))
def test_holm_equals_statsmodels(p, alpha):
    reject, adjusted = holm(p, alpha)
    # multipletests calls gc.collect() each time: 0.35 s with a full test session's heap
    with mock.patch("gc.collect"):
        expected_reject, expected_adjusted, *_ = multipletests(p, alpha=alpha, method="holm")
    assert reject.tolist() == expected_reject.tolist()
    np.testing.assert_allclose(adjusted, expected_adjusted, rtol=0, atol=0)


def test_empty_input():
    reject, adjusted = holm([])
    assert reject.size == adjusted.size == 0


@pytest.mark.parametrize("p", [[0.5], [0.0, 0.0]])
def test_small_families(p):
    reject, adjusted = holm(p)
    expected = multipletests(p, method="holm")
    assert reject.tolist() == expected[0].tolist() and adjusted.tolist() == expected[1].tolist()
