"""The normalised similarity matrix is saved in the data home, so a new process answers without fitting."""

import numpy as np
import pytest

from app.library import vectors
from library_factory import MODEL_NAME, grouped_library


def test_saved_matrix_is_reused_until_the_analyses_change(home, monkeypatch):
    lib, _ = grouped_library(groups=2, per_group=8)
    first = vectors.vector_index(lib, MODEL_NAME)
    assert list((home / "cache" / "vectors").glob("*.npz"))
    vectors._cache.clear()  # as a new process

    def no_fit(*args):
        raise AssertionError("fitted again although nothing changed")

    monkeypatch.setattr(vectors, "features", no_fit)
    again = vectors.vector_index(lib, MODEL_NAME)
    assert np.array_equal(again.ids, first.ids) and np.array_equal(again.matrix, first.matrix)

    lib.touch()  # the analyses changed: the saved matrix is stale
    vectors._cache.clear()
    with pytest.raises(AssertionError, match="fitted again"):
        vectors.vector_index(lib, MODEL_NAME)


def test_a_damaged_saved_matrix_is_rebuilt(home):
    lib, _ = grouped_library(groups=2, per_group=8)
    first = vectors.vector_index(lib, MODEL_NAME)
    for saved in (home / "cache" / "vectors").glob("*.npz"):
        saved.write_bytes(b"not numpy")
    vectors._cache.clear()
    assert np.array_equal(vectors.vector_index(lib, MODEL_NAME).matrix, first.matrix)
