"""Representations: fitted bases, unit rows, later tracks in the same space, tiny libraries."""

import numpy as np
import pytest

from app.library.vectors import BLOCKS, KINDS, fit_basis, stored_parts, vector_index
from library_factory import add_tagger, grouped_library

MODEL = "test-model"


def test_blend_is_the_embedding_plus_dense_principal_components():
    rng = np.random.default_rng(3)
    emb = np.abs(rng.normal(size=(60, 32))).astype(np.float32)
    dense = rng.normal(size=(60, 416)).astype(np.float32)
    basis = fit_basis("blend", [emb, dense])
    m = basis.apply([emb, dense])
    assert m.shape == (60, 48) and np.allclose(np.linalg.norm(m, axis=1), 1, atol=1e-5)
    # each block carries half the weight of a row
    assert np.allclose(np.linalg.norm(m[:, :32], axis=1), np.sqrt(0.5), atol=1e-5)
    # rows are placed independently: a later track lands where it would have in the fit
    assert np.allclose(basis.apply([emb[7:9], dense[7:9]]), m[7:9], atol=1e-6)
    for n in (1, 2):  # libraries of one or two tracks still give unit rows
        tiny = fit_basis("blend", [emb[:n], dense[:n]]).apply([emb[:n], dense[:n]])
        assert len(tiny) == n and np.allclose(np.linalg.norm(tiny, axis=1), 1, atol=1e-5)


def test_every_representation_reads_from_the_library():
    lib, truth = grouped_library(groups=2, per_group=6)
    add_tagger(lib, truth)
    for kind in KINDS:
        ids, parts = stored_parts(lib, MODEL, kind)
        assert len(parts) == len(BLOCKS[kind]) and all(len(p) == 12 for p in parts)
        index = vector_index(lib, MODEL, kind)
        assert np.array_equal(index.ids, ids) and np.allclose(np.linalg.norm(index.matrix, axis=1), 1, atol=1e-5)
    with pytest.raises(ValueError, match="unknown representation"):
        stored_parts(lib, MODEL, "nonsense")
    with pytest.raises(KeyError):
        vector_index(lib, MODEL).rows([999])
