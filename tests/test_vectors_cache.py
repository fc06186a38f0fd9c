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


def test_saved_rows_are_memory_mapped_and_a_lost_rows_file_is_rebuilt(home):
    lib, _ = grouped_library(groups=2, per_group=8)
    first = vectors.vector_index(lib, MODEL_NAME)
    vectors._cache.clear()
    again = vectors.vector_index(lib, MODEL_NAME)
    assert isinstance(again.matrix, np.memmap) and np.array_equal(again.matrix, first.matrix)
    rows = list((home / "cache" / "vectors").glob("*-*.npy"))
    assert len(rows) == 1
    rows[0].unlink()
    vectors._cache.clear()
    assert np.array_equal(vectors.vector_index(lib, MODEL_NAME).matrix, first.matrix)
    lib.touch()  # a new save replaces the rows file of the old one
    vectors._cache.clear()
    vectors.vector_index(lib, MODEL_NAME)
    assert len(list((home / "cache" / "vectors").glob("*-*.npy"))) == 1


def test_default_representation_is_saved_until_the_analyses_change(home, monkeypatch):
    from library_factory import add_tagger

    lib, truth = grouped_library(groups=2, per_group=6)
    add_tagger(lib, truth)
    assert vectors.default_kind(lib, MODEL_NAME) == vectors.MUSICNN_KIND
    vectors._kind_cache.clear()  # as a new process

    def no_count(*args):
        raise AssertionError("counted again although nothing changed")

    monkeypatch.setattr(type(lib), "analysis_coverage", no_count)
    assert vectors.default_kind(lib, MODEL_NAME) == vectors.MUSICNN_KIND
    lib.touch()
    vectors._kind_cache.clear()
    with pytest.raises(AssertionError, match="counted again"):
        vectors.default_kind(lib, MODEL_NAME)


def test_old_saved_matrices_are_pruned(home, tmp_path):
    folder = home / "cache" / "vectors"
    folder.mkdir(parents=True)
    for i in range(vectors.SAVED_KEPT + 3):  # older saves of other representations and layouts
        np.savez(folder / f"old{i:02d}.npz", version=0)
        np.save(folder / f"old{i:02d}-abc.npy", np.zeros((2, 2), np.float32))
        (folder / f"old{i:02d}.json").write_text("{}")
    np.save(folder / "orphan-abc.npy", np.zeros((2, 2), np.float32))
    lib, _ = grouped_library(groups=2, per_group=8)
    first = vectors.vector_index(lib, MODEL_NAME)
    metas = list(folder.glob("*.npz"))
    assert len(metas) == vectors.SAVED_KEPT
    assert not (folder / "orphan-abc.npy").exists()
    assert len(list(folder.glob("*.json"))) == vectors.SAVED_KEPT
    stems = {p.stem for p in metas}
    assert all(p.stem.rsplit("-", 1)[0] in stems for p in folder.glob("*-*.npy"))
    vectors._cache.clear()  # the one just written survives and is reused
    assert np.array_equal(vectors.vector_index(lib, MODEL_NAME).matrix, first.matrix)
