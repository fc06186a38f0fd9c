"""The representation with MusiCNN: weighted blocks from two analyses, chosen when MusiCNN covers the library."""

import numpy as np

from app.library.similarity import similar
from app.library.vectors import BBNN_KIND, BLOCKS, MUSICNN_KIND, default_kind, fit_basis, stored_parts, vector_index
from library_factory import add_tagger, grouped_library

MODEL = "test-model"


def test_musicnn_blend_weights_its_blocks():
    rng = np.random.default_rng(0)
    patches = rng.normal(size=(80, 9, 200))
    mc = patches.mean(axis=1)
    emb, dense = np.abs(rng.normal(size=(80, 32))), rng.normal(size=(80, 416))
    basis = fit_basis(MUSICNN_KIND, [mc, emb, dense], {0: list(patches)})
    m = basis.apply([mc, emb, dense])
    # 32 discriminant axes of MusiCNN's block, BBNN's embedding and 16 components of its dense block
    assert m.shape == (80, 32 + 32 + 16) and np.allclose(np.linalg.norm(m, axis=1), 1, atol=1e-5)
    # MusiCNN's block carries 1 / (1 + 0.75^2) of every row's squared length, BBNN's two the rest
    assert np.allclose(np.linalg.norm(m[:, :32], axis=1) ** 2, 1 / (1 + 0.75 ** 2), atol=1e-5)
    assert np.allclose(np.linalg.norm(m[:, 32:64], axis=1) ** 2, 0.5 * 0.75 ** 2 / (1 + 0.75 ** 2), atol=1e-5)
    assert [spec.source for spec in BLOCKS[MUSICNN_KIND]] == ["tagger", "genre", "genre"]
    assert BLOCKS[MUSICNN_KIND][0].discriminant and BLOCKS[MUSICNN_KIND][0].kinds == ("embedding",)


def test_default_is_bbnn_without_a_tagger_and_musicnn_once_it_covers_every_track():
    lib, truth = grouped_library(groups=2, per_group=6)
    lib.tagger_key = lambda: None  # no MusiCNN installed
    assert default_kind(lib, MODEL) == BBNN_KIND
    ids, parts = stored_parts(lib, MODEL, MUSICNN_KIND)
    assert len(ids) == 0  # nothing to read without a tagger: the representation has no tracks
    first = sorted(truth)[0]
    add_tagger(lib, truth, skip=(first,))
    assert default_kind(lib, MODEL) == BBNN_KIND  # one track not heard by MusiCNN yet: stay in one space
    assert len(vector_index(lib, MODEL).ids) == 12
    add_tagger(lib, {first: truth[first]})
    assert default_kind(lib, MODEL) == MUSICNN_KIND
    index = vector_index(lib, MODEL)
    # 12 tracks: too few for discriminant axes, so MusiCNN's 11 principal components
    assert index.matrix.shape == (12, 11 + 32 + 11) and np.array_equal(index.ids, sorted(truth))
    lib.db.execute("UPDATE tracks SET missing = 1 WHERE id = ?", [first])
    lib.db.execute("DELETE FROM analyses WHERE track_id = ? AND model = 'test-tagger'", [first])
    lib.touch()
    assert default_kind(lib, MODEL) == MUSICNN_KIND  # a missing track does not hold the library back


def test_similar_uses_musicnn_when_it_covers_the_library():
    lib, truth = grouped_library(groups=3, per_group=8)
    # BBNN hears nothing of the groups: every track gets the same BBNN vectors plus noise
    rng = np.random.default_rng(5)
    for tid in truth:
        lib.save_analysis(tid, MODEL, [0.0, 60.0, 120.0], np.full((3, 10), 0.1), np.abs(rng.normal(size=(3, 32))),
                          np.abs(rng.normal(size=(3, 416))), 0.3)
    lib.tagger_key = lambda: None
    bbnn_hits = [np.mean([truth[r["id"]] == truth[t] for r in similar(lib, [t], n=5, model=MODEL)]) for t in truth]
    add_tagger(lib, truth)
    mc_hits = [np.mean([truth[r["id"]] == truth[t] for r in similar(lib, [t], n=5, model=MODEL)]) for t in truth]
    assert np.mean(mc_hits) >= 0.95 > np.mean(bbnn_hits) + 0.3


def test_models_named_by_name_find_analyses_stored_under_weight_digests():
    from app.library.db import Library

    class Genre:
        name, classes, source, source_sha256, weights_sha256 = "bbnn-x", [f"g{i}" for i in range(10)], "t", None, "d1"

    class Tagger:
        name, classes, source, source_sha256, weights_sha256 = "musicnn-msd", [f"t{i}" for i in range(50)], "t", None, "d2"

    lib = Library()
    genre_key, tagger_key = lib.ensure_model(Genre), lib.ensure_model(Tagger)
    rng = np.random.default_rng(2)
    for i in range(4):
        tid = lib.upsert_track(f"/m/{i}.mp3", title=str(i))
        lib.save_analysis(tid, genre_key, [0.0], np.full((1, 10), 0.1), rng.random((1, 32)), rng.random((1, 416)), 0.1)
        lib.save_analysis(tid, tagger_key, [0.0], np.full((1, 50), 0.1), rng.random((1, 200)), rng.random((1, 200)), 0.1)
    assert (genre_key, tagger_key) == ("d1", "d2")
    assert lib.analysis_coverage("bbnn-x", "musicnn-msd") == (4, 4)
    lib.tagger_key = lambda: "musicnn-msd"
    assert default_kind(lib, "bbnn-x") == MUSICNN_KIND and len(vector_index(lib, "bbnn-x").ids) == 4
