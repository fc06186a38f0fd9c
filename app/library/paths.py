"""Sonic paths: a playlist that walks from track A to track B through the embedding space.

`walk` is the pure maths: targets are spaced evenly along the great circle from A to B (slerp);
each step takes the unused track nearest its target among those at least as close to B as the
previous step, so similarity to B never decreases along the way, and no track repeats.
"""

from __future__ import annotations

import numpy as np

from .vectors import vector_index


def slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    omega = float(np.arccos(np.clip(a @ b, -1.0, 1.0)))
    if omega < 1e-6:
        return a
    return (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)


def walk(matrix: np.ndarray, start: int, end: int, steps: int) -> list[int]:
    """Rows from start to end, `steps` tracks in between at most (fewer if the space runs out)."""
    a, b = matrix[start], matrix[end]
    to_end = matrix @ b
    used = {start, end}
    path = [start]
    floor = float(to_end[start])
    for i in range(1, steps + 1):
        target = slerp(a, b, i / (steps + 1))
        closeness = matrix @ target
        ok = to_end >= floor
        ok[list(used)] = False
        ok &= to_end <= to_end[end]
        if not ok.any():
            break
        closeness[~ok] = -np.inf
        row = int(np.argmax(closeness))
        path.append(row)
        used.add(row)
        floor = float(to_end[row])
    path.append(end)
    return path


def sonic_path(library, from_id: int, to_id: int, steps: int = 10, model: str | None = None,
               kind: str | None = None) -> list[dict]:
    """[{id, path, artist, title, album, duration, score}], score = cosine to the destination."""
    if from_id == to_id:
        raise ValueError("a path needs two different tracks")
    model = library.model_key(model)
    index = vector_index(library, model, kind)
    start, end = (int(r) for r in index.rows([from_id, to_id]))
    rows = walk(index.matrix, start, end, steps)
    tracks = library.tracks(int(index.ids[r]) for r in rows)
    to_end = index.matrix[rows] @ index.matrix[end]
    return [{"id": int(index.ids[r]), "path": tracks[int(index.ids[r])]["path"],
             "artist": tracks[int(index.ids[r])]["artist"], "title": tracks[int(index.ids[r])]["title"],
             "album": tracks[int(index.ids[r])]["album"], "duration": tracks[int(index.ids[r])]["duration"],
             "score": round(float(s), 4)} for r, s in zip(rows, to_end)]
