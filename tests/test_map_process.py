"""The map worker process: a Cancel reaches it at any moment, the task ends within the grace time,
and the next build works (the warm worker, or a fresh one after the old was ended)."""

import time

import pytest

from app.home import model_store, open_library
from app.library import map_process
from app.library.map_process import CANCEL_GRACE_SECONDS, build_map_in_worker
from app.library.mapping import MapCancelled
from library_factory import CLASSES, MODEL_NAME, grouped_library


@pytest.fixture
def mapped():
    """A small library of the active model with a map, built in the (then warm) worker."""
    from model.bbnn import BBNN
    from model.store import Manifest

    model_store().save(BBNN(len(CLASSES)), Manifest(name=MODEL_NAME, classes=CLASSES, source="test"), activate=True)
    lib, _ = grouped_library(groups=3, per_group=8)
    lib.close()
    build_map_in_worker(lib.path, model=MODEL_NAME, method="kmeans", k=3)
    return lib.path


def fitted_at(path) -> str:
    with open_library(path=path) as lib:
        return lib.map_fit(MODEL_NAME)["fitted_at"]


def test_cancel_at_once_reaches_the_worker_whatever_the_progress_traffic(mapped):
    """Progress arriving faster than the poll once kept should_stop from ever being asked, so a
    map cancelled at once was built and saved all the same (the GUI's Cancel did nothing)."""
    before = fitted_at(mapped)
    t0 = time.monotonic()
    with pytest.raises(MapCancelled):
        build_map_in_worker(mapped, refit=True, should_stop=lambda: True, poll_seconds=5)
    assert time.monotonic() - t0 < CANCEL_GRACE_SECONDS + 1
    assert fitted_at(mapped) == before  # the previous map stays


def test_progress_left_by_an_earlier_build_is_not_shown(mapped):
    stages = []
    map_process._worker()[1].put((-1, "left over", 1.0))
    summary = build_map_in_worker(mapped, refit=True, progress=lambda stage, f: stages.append(stage))
    # this build's own stages are handed on (the last ones may still be in the queue's pipe when
    # the result is in: a later build drops them), an earlier build's never
    assert summary["refit"] and stages and "left over" not in stages


@pytest.mark.slow
def test_cancel_at_any_moment_ends_soon_and_the_next_build_works(mapped):
    for delay in (0.0, 0.03, 0.08, 0.15, 0.3):
        t0 = time.monotonic()
        try:
            build_map_in_worker(mapped, refit=True, should_stop=lambda: time.monotonic() - t0 > delay)
        except MapCancelled:
            pass  # a Cancel after the map was saved ends the build as done: both are fine here
        assert time.monotonic() - t0 < delay + CANCEL_GRACE_SECONDS + 1
    map_process.stop_worker()  # a Cancel while a fresh worker is still starting: it is ended
    t0 = time.monotonic()
    with pytest.raises(MapCancelled):
        build_map_in_worker(mapped, refit=True, should_stop=lambda: True)
    assert time.monotonic() - t0 < CANCEL_GRACE_SECONDS + 1
    assert build_map_in_worker(mapped, refit=True)["refit"]


@pytest.mark.slow
def test_a_worker_that_died_while_idle_is_replaced(mapped):
    """The OOM killer or a crash took the warm worker between builds: the next build starts a
    fresh one instead of failing, and so does every build after."""
    import os
    import signal

    pool = map_process._worker()[0]
    for process in list(pool._processes.values()):
        os.kill(process.pid, signal.SIGKILL)
        process.join(5)
    time.sleep(0.2)  # the executor notices the death
    assert build_map_in_worker(mapped, refit=True)["refit"]
    assert build_map_in_worker(mapped, refit=True)["refit"]


def test_no_worker_starts_once_the_app_is_closing(tmp_path):
    """A build or placement still queued when the window closed once started a fresh worker
    process, which the interpreter's exit then waited for."""
    map_process.shutdown()
    try:
        with pytest.raises(MapCancelled):
            map_process.place_in_worker(tmp_path / "library.db")
        with pytest.raises(MapCancelled):
            build_map_in_worker(tmp_path / "library.db")
        assert map_process._pool is None
    finally:
        map_process.reopen()
