"""Model import and downloads in a spawned process: results, errors and cancel come back."""

import time

import pytest

from app.library.model_tasks import run_in_process
from chatty_task import chatty


def test_cancel_reaches_a_child_whose_progress_never_pauses():
    t0 = time.monotonic()
    asked = lambda: time.monotonic() - t0 > 0.5  # noqa: E731
    with pytest.raises(RuntimeError, match="stopped by the parent|cancelled"):
        run_in_process(chatty, (20.0,), progress=lambda done, total: None, should_stop=asked)
    assert time.monotonic() - t0 < 15  # not the child's 20 s


def test_a_child_that_is_not_stopped_returns_its_result():
    assert run_in_process(chatty, (0.2,), progress=lambda done, total: None) == "ran to the end"
