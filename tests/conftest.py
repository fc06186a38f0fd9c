"""Shared fixtures: every test gets its own data home; the authors' weights come from ../shared
(tests that need them skip without it); `random_model` serves every other pipeline test."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CRATEDIGGER_SHARED", REPO.parent / "shared"))
sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


# The one reason a test may skip: it needs what only ../shared holds (the authors' weights, the
# Keras/TensorFlow reference outputs, the MusiCNN wheel). Any other skip fails the run (see below).
SHARED_SKIP = "../shared"
# How many tests need ../shared (the authors' weights and their outputs, the Keras/TensorFlow
# references, the MusiCNN wheel): without it, more skips than this fail the run, so a test that
# asks for the authors' model where a random one would do is caught. Change it with such a test.
SHARED_TESTS = 58
_unexpected_skips: list[str] = []
_shared_skips: list[str] = []


def pytest_configure(config) -> None:
    # UMAP's compiled code, kept between tests and runs (the app keeps it in the data home, which
    # every test gets fresh); a folder the user chose wins.
    if getattr(config, "cache", None) is not None:
        os.environ.setdefault("NUMBA_CACHE_DIR", str(config.cache.mkdir("numba")))


def pytest_runtest_logreport(report) -> None:
    """Counts skips for another reason than a missing ../shared (on the xdist controller too)."""
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        if not reason.removeprefix("Skipped: ").startswith(SHARED_SKIP):
            _unexpected_skips.append(f"{report.nodeid}: {reason}")
        else:
            _shared_skips.append(report.nodeid)


def pytest_terminal_summary(terminalreporter) -> None:
    if _unexpected_skips:
        terminalreporter.section("skipped without a ../shared reason (not allowed)", red=True)
        for line in _unexpected_skips:
            terminalreporter.line(line)
    if len(_shared_skips) > SHARED_TESTS:
        terminalreporter.section("more tests skipped for ../shared than need it", red=True)
        terminalreporter.line(f"{len(_shared_skips)} skipped for ../shared, at most {SHARED_TESTS} need it "
                              "(tests/conftest.py SHARED_TESTS): use the random_model fixture where real weights "
                              "are not the point")


def pytest_sessionfinish(session, exitstatus) -> None:
    if (_unexpected_skips or len(_shared_skips) > SHARED_TESTS) and exitstatus == 0:
        session.exitstatus = 1


@pytest.fixture(autouse=True)
def home(tmp_path_factory, monkeypatch) -> Path:
    """A fresh CRATEDIGGER_HOME per test."""
    d = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("CRATEDIGGER_HOME", str(d))
    monkeypatch.delenv("CRATEDIGGER_WEIGHTS_URL", raising=False)
    monkeypatch.delenv("CRATEDIGGER_MUSICNN_URL", raising=False)
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


def save_random_model(home: Path, name: str = "random-bbnn", n_classes: int = 10, seed: int = 0, activate: bool = True):
    """A randomly initialised BBNN (fixed seed) saved into the model store of data home `home`.
    Returns its manifest. Serves the scan and library tests without the authors' weights."""
    import torch

    from model.bbnn import BBNN
    from model.keras_import import GTZAN_CLASSES
    from model.store import Manifest, ModelStore

    torch.manual_seed(seed)
    classes = list(GTZAN_CLASSES) if n_classes == 10 else [f"class{i}" for i in range(n_classes)]
    manifest = Manifest(name=name, classes=classes, source=f"random init, seed {seed} (tests)")
    return ModelStore(home / "models").save(BBNN(n_classes), manifest, activate=activate)


@pytest.fixture
def random_model(home):
    """A randomly initialised BBNN (seed 0, GTZAN's 10 classes) active in this test's data home."""
    return save_random_model(home)


@pytest.fixture(scope="session")
def musicnn_wheel() -> Path:
    """The musicnn 0.1.0 wheel (MusiCNN's weights, ISC) kept in ../shared/musicnn."""
    wheel = SHARED / "musicnn" / "musicnn-0.1.0-py3-none-any.whl"
    if not wheel.is_file():
        pytest.skip("../shared/musicnn (the musicnn wheel and its TensorFlow reference) is not beside the checkout")
    return wheel


@pytest.fixture(scope="session")
def musicnn_reference(musicnn_wheel) -> dict:
    """MusiCNN outputs made with TensorFlow (../shared/musicnn/make_reference.py)."""
    import numpy as np

    with np.load(musicnn_wheel.parent / "musicnn_msd_reference.npz") as ref:
        return {k: ref[k] for k in ref.files}


@pytest.fixture(autouse=True)
def _map_workers_allowed():
    """A window closed by an earlier test shut the map worker down for good (map_process.shutdown)."""
    yield
    if "app.library.map_process" in sys.modules:
        sys.modules["app.library.map_process"].reopen()
