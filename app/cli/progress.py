"""Shared console output helpers for the CLI: errors to stderr, JSON to stdout, tqdm bars."""

from __future__ import annotations

import json
import sys
from typing import Any


def fail(message: str) -> int:
    print(f"cratedigger: {message}", file=sys.stderr)
    return 1


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")


def byte_bar(desc: str):
    """A tqdm bar for downloads and a callback (done, total) that drives it."""
    from tqdm import tqdm

    bar = tqdm(desc=desc, unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr, leave=False)

    def update(done: int, total: int | None) -> None:
        if total and bar.total != total:
            bar.total = total
        bar.n = done
        bar.refresh()

    return bar, update
