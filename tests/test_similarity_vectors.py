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


def _tracks_with_a_loud_inner_change(n_tracks: int = 60, seed: int = 0):
    """Per-track windows: what tells tracks apart is a small offset along axis 1 (four groups);
    within every track the windows swing widely along axis 0 (verse and chorus)."""
    rng = np.random.default_rng(seed)
    group = np.arange(n_tracks) % 4
    windows = []
    for g in group:
        w = rng.normal(scale=0.05, size=(9, 20))
        w[:, 0] += rng.normal(scale=6.0, size=9)
        w[:, 1] += g
        windows.append(w)
    return group, windows


def test_discriminant_axes_follow_what_tells_tracks_apart():
    from app.library.vectors import discriminant_axes, principal_axes

    group, windows = _tracks_with_a_loud_inner_change()
    means = np.stack([w.mean(axis=0) for w in windows])
    lda = discriminant_axes(windows, means, 1)[:, 0]
    pca = principal_axes(means - means.mean(axis=0), 1)[0]
    assert abs(lda[1]) / np.linalg.norm(lda) > 0.99  # the groups' axis
    assert abs(pca[0]) > abs(pca[1])  # the window means still swing along axis 0


def test_a_discriminant_block_uses_the_stored_windows_once_enough_tracks_have_them():
    from app.library.db import Library
    from app.library.vectors import MIN_DISCRIMINANT_TRACKS, stored_windows

    group, windows = _tracks_with_a_loud_inner_change()
    lib = Library()

    class Tagger:
        name, classes, source, source_sha256, weights_sha256 = "t", [f"t{i}" for i in range(5)], "t", None, "tk"

    key = lib.ensure_model(Tagger)
    for i, w in enumerate(windows):
        tid = lib.upsert_track(f"/m/{i}.ogg")
        lib.save_analysis(tid, key, np.arange(9) * 3.0, np.full((9, 5), 0.2), w, np.abs(w), 0.1)
    lib.tagger_key = lambda: key
    spec_kind = "musicnn_lda+blend"
    got = stored_windows(lib, "unused", spec_kind)
    assert list(got) == [0] and len(got[0]) == 60 and got[0][0].shape == (9, 20)
    np.testing.assert_allclose(got[0][3], windows[3], rtol=1e-3, atol=1e-4)  # float16 on disk
    assert len(lib.window_vectors(key, limit=7)) == 7
    means = np.stack([w.mean(axis=0) for w in windows])
    emb, dense = np.ones((60, 32)), np.ones((60, 416))
    with_windows = fit_basis(spec_kind, [means, emb, dense], got).apply([means, emb, dense])[:, :1]
    few = fit_basis(spec_kind, [means, emb, dense], {0: got[0][:MIN_DISCRIMINANT_TRACKS - 1]})
    without = few.apply([means, emb, dense])[:, :1]
    # the first discriminant axis sorts the tracks by group; the first principal axis does not
    assert abs(np.corrcoef(with_windows[:, 0], group)[0, 1]) > 0.95
    assert abs(np.corrcoef(without[:, 0], group)[0, 1]) < 0.5
