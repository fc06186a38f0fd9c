"""A task for app.library.model_tasks' tests: reports progress every few milliseconds (like a fast
download) until it is asked to stop."""

import time


def chatty(seconds: float, report, cancelled) -> str:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if cancelled():
            raise RuntimeError("stopped by the parent")
        report(0, 1)
        time.sleep(0.002)
    return "ran to the end"
