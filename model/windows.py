"""Window policy: where in a track the 30 s analysis windows go. Pure functions.

`default` (n windows, 3 unless told): windows centred at the 1/(n+1), 2/(n+1), ... points of the
track, so a 4-minute song is heard at 25 %, 50 % and 75 %, past the intro and before the outro;
a track too short for n non-overlapping windows gets as many as fit, at least one (a track
shorter than one window is one window from 0, zero-padded as SPEC.md says).
`all`: back-to-back windows from the start to the end; a last partial window is kept when it
holds at least a third of a window of audio.
An `offset` puts the first window exactly there: `default` then gives that one window, `all`
tiles onward from it.
"""

from __future__ import annotations

import math

DEFAULT_WINDOWS = 3
MIN_TAIL_FRACTION = 1 / 3


def parse_policy(policy: str | int) -> str | int:
    """'default', 'all', or a window count given as int or digit string."""
    if isinstance(policy, int):
        if policy < 1:
            raise ValueError("window count must be at least 1")
        return policy
    p = str(policy).strip().lower()
    if p in ("default", "all"):
        return p
    if p.isdigit() and int(p) >= 1:
        return int(p)
    raise ValueError(f"unknown window policy {policy!r}: use default, all or a number")


def window_starts(duration: float, clip_seconds: float, policy: str | int = "default", offset: float | None = None) -> list[float]:
    """Start times (seconds) of the analysis windows of a track `duration` seconds long."""
    policy = parse_policy(policy)
    if offset is not None:
        if policy == "all":
            return [offset + s for s in _tile(max(duration - offset, 0.0), clip_seconds)]
        return [float(offset)]
    if policy == "all":
        return _tile(duration, clip_seconds)
    n = DEFAULT_WINDOWS if policy == "default" else int(policy)
    return _spread(duration, clip_seconds, n)


def _tile(duration: float, clip: float) -> list[float]:
    if duration <= clip:
        return [0.0]
    full = int(duration // clip)
    starts = [i * clip for i in range(full)]
    if duration - full * clip >= MIN_TAIL_FRACTION * clip:
        starts.append(full * clip)
    return starts


def _spread(duration: float, clip: float, n: int) -> list[float]:
    if duration <= clip:
        return [0.0]
    n = max(1, min(n, int(math.floor(duration / clip))))
    last = duration - clip
    if n == 1 or duration / (n + 1) >= clip:
        return [round(min(max(duration * i / (n + 1) - clip / 2, 0.0), last), 3) for i in range(1, n + 1)]
    # too short for centred windows without overlap: spread them evenly end to end
    return [round(last * i / (n - 1), 3) for i in range(n)]
