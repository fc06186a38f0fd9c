"""MusiCNN's tags in the product: stored beside BBNN's genres, searchable, in show/similar JSON and cluster names."""

import json

import numpy as np
import pytest

from app.cli import main
from app.home import model_store
from app.library import mapping
from library_factory import CLASSES, MODEL_NAME, grouped_library
from model.bbnn import BBNN
from model.musicnn import MSD_LABELS, MusiCNN, MusicnnSpec
from model.store import KIND_MUSICNN, Manifest

GROUP_TAGS = [("chillout", "ambient"), ("heavy metal", "hard rock"), ("party", "dance"), ("sad", "acoustic")]


@pytest.fixture
def tagged():
    """A grouped library whose tracks also have MusiCNN analyses; its BBNN active and MusiCNN installed in the store."""
    model_store().save(BBNN(len(CLASSES)), Manifest(name=MODEL_NAME, classes=CLASSES, source="test"), activate=True)
    manifest = model_store().save(MusiCNN(), Manifest(name="musicnn-msd", kind=KIND_MUSICNN, classes=MSD_LABELS,
                                                      source="test", input=MusicnnSpec().to_dict()))
    lib, truth = grouped_library(groups=4, per_group=12)
    lib.ensure_model(manifest)
    rng = np.random.default_rng(1)
    for tid, g in truth.items():
        taggram = rng.uniform(0.0, 0.08, size=(6, 50))
        for rank, tag in enumerate(GROUP_TAGS[g]):
            taggram[:, MSD_LABELS.index(tag)] = 0.7 - 0.2 * rank
        for tag, p in (("instrumental", 0.3), ("guitar", 0.2), ("00s", 0.15)):  # common to all: not distinctive
            taggram[:, MSD_LABELS.index(tag)] = p
        lib.save_analysis(tid, "musicnn-msd", np.arange(6) * 2.992, taggram, rng.normal(size=(6, 200)),
                          rng.normal(size=(6, 200)), 0.1, classes=MSD_LABELS)
    return lib, truth


def test_search_track_rows_and_top_tags(tagged):
    lib, truth = tagged
    rows = lib.track_rows(limit=500, search="metal")
    assert rows and {truth[r["id"]] for r in rows} == {1}
    assert rows[0]["tags"].startswith("heavy metal, hard rock, instrumental")
    tid = next(t for t, g in truth.items() if g == 0)
    assert [t for t, _ in lib.top_tags(tid, 3)] == ["chillout", "ambient", "instrumental"]
    assert lib.tag_labels([tid], 2) == {tid: ["chillout", "ambient"]}
    assert lib.count_tracks(search="party dance") == 12
    bbnn = lib.analysis(tid, MODEL_NAME)
    np.testing.assert_allclose(bbnn["dense_max"].shape, (416,))
    assert np.all(bbnn["dense_max"] >= bbnn["dense"] - 1e-6)


def test_show_and_similar_json_carry_the_top_tags(tagged, capsys):
    lib, truth = tagged
    tid = next(t for t, g in truth.items() if g == 3)
    path = lib.track(tid)["path"]
    assert main(["show", "--json", path]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["tagger"] == "musicnn-msd"
    assert [t["tag"] for t in shown["top_tags"][:2]] == ["sad", "acoustic"]
    assert shown["top_tags"][0]["probability"] == pytest.approx(0.7, abs=1e-6)
    assert main(["similar", "--json", "-n", "5", path]) == 0
    results = json.loads(capsys.readouterr().out)
    assert results and all(r["top_tags"][:2] == ["sad", "acoustic"] for r in results)


@pytest.mark.slow  # fits UMAP
def test_cluster_names_use_genres_and_distinctive_tags(tagged):
    lib, truth = tagged
    mapping.build_map(lib, MODEL_NAME, method="kmeans", k=4)
    named = {c["name"] for c in mapping.clusters(lib, MODEL_NAME)}
    assert named == {"blues · chillout, ambient", "classical · heavy metal, hard rock", "country · party, dance",
                     "disco · sad, acoustic"}
    assert all(c["top_tags"][0][1] == pytest.approx(0.7, abs=1e-3) for c in mapping.clusters(lib, MODEL_NAME))


def test_distinctive_tags_need_lift_and_a_floor():
    tags = np.array([[0.9, 0.3, 0.05], [0.8, 0.3, 0.06], [0.1, 0.3, 0.04], [0.0, 0.3, 0.05]])
    assert mapping.distinctive_tags(tags[:2], tags, ["a", "b", "c"]) == [("a", 0.85)]
    assert mapping.distinctive_tags(np.full((2, 3), np.nan), tags, ["a", "b", "c"]) == []
