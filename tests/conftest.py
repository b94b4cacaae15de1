"""Shared fixtures: a small demo company on disk with its config (generated once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from analysis.data import demo

SMALL_DEMO_CUSTOMERS = 1500


def write_demo_config(folder: Path, data_folder: Path, n_customers: int, extra: str = "") -> Path:
    config = folder / "demo_small.toml"
    config.write_text(demo.config_text(data_folder, "demo-small", 20261125, n_customers, extra))
    return config


@pytest.fixture(scope="session")
def small_demo_config(tmp_path_factory) -> Path:
    """Config of a 1,500-customer demo company (data generated into a temp folder)."""
    folder = tmp_path_factory.mktemp("demo_small")
    demo.write(folder / "data", n_customers=SMALL_DEMO_CUSTOMERS)
    return write_demo_config(folder, folder / "data", SMALL_DEMO_CUSTOMERS)


@pytest.fixture(scope="session", autouse=True)
def isolated_feature_cache(tmp_path_factory):
    """Feature caches of the tests (and of notebook kernels they start) go to a temp folder."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ANALYSIS_CACHE_DIR", str(tmp_path_factory.mktemp("feature_cache")))
        yield


@pytest.fixture(scope="session", autouse=True)
def isolated_pseudonym_keys(tmp_path_factory):
    """Pseudonym keys the tests (and their kernels) create go to a temp folder, not to the
    user's config folder (platformdirs reads XDG_CONFIG_HOME)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("config_home")))
        yield
