"""Shared fixtures: every test gets its own data home; the authors' weights come from ../shared."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CRATEDIGGER_SHARED", REPO.parent / "shared"))
sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def pytest_configure(config) -> None:
    # UMAP's compiled code, kept between tests and runs (the app keeps it in the data home, which
    # every test gets fresh); a folder the user chose wins.
    os.environ.setdefault("NUMBA_CACHE_DIR", str(config.cache.mkdir("numba")))


@pytest.fixture(autouse=True)
def home(tmp_path_factory, monkeypatch) -> Path:
    """A fresh CRATEDIGGER_HOME per test."""
    d = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("CRATEDIGGER_HOME", str(d))
    monkeypatch.delenv("CRATEDIGGER_WEIGHTS_URL", raising=False)
    return d


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not (SHARED / "bbnn" / "SPEC.md").exists():
        pytest.skip("../shared is not beside the checkout")
    return SHARED


@pytest.fixture(scope="session")
def authors_dir(shared_dir) -> Path:
    return shared_dir / "bbnn" / "authors-weights"


@pytest.fixture
def gtzan_model(home, authors_dir):
    """The authors' GTZAN fold 5 imported and active in this test's data home. Returns its manifest."""
    from app.home import model_store

    return model_store().import_file(authors_dir / "gtzan_fold5.hdf5")
