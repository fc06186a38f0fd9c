"""Data set layouts, split protocols, augmentation, the mel cache and library labels."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from audio_factory import make_track
from model.mel import MelSpec
from model.train.augment import AugmentConfig, augment
from model.train.datasets import DatasetError, from_pairs, scan_folder
from model.train.mel_cache import MelCache
from model.train.splits import SplitError, filtered_split, holdout_split, kfold_splits, make_splits, paper_splits


def _touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")


@pytest.mark.parametrize("layout,suffix", [("genres", ".au"), ("Data/genres_original", ".wav"), ("", ".mp3")])
def test_scan_finds_gtzan_and_plain_layouts(tmp_path, layout, suffix):
    for g in ("rock", "blues"):
        for i in range(3):
            _touch(tmp_path / layout / g / f"{g}.{i:05d}{suffix}")
    (tmp_path / layout / "notes").mkdir()  # a folder without audio is no class
    ds = scan_folder(tmp_path)
    assert ds.classes == ["blues", "rock"]
    assert [it.key for it in ds.items[:2]] == ["blues/blues.00000", "blues/blues.00001"]
    assert ds.counts() == {"blues": 3, "rock": 3}


def test_scan_rejects_folder_without_classes(tmp_path):
    with pytest.raises(DatasetError, match="two class folders"):
        scan_folder(tmp_path)
    with pytest.raises(DatasetError, match="not a folder"):
        scan_folder(tmp_path / "nope")


def test_paper_splits_are_stratified_80_10_10_and_seeded():
    labels = [i % 10 for i in range(1000)]
    splits = paper_splits(labels, 10, seed=3)
    assert splits == paper_splits(labels, 10, seed=3)
    assert splits[0] != splits[1]
    for s in splits:
        assert (len(s["train"]), len(s["valid"]), len(s["test"])) == (800, 100, 100)
        assert sorted(s["train"] + s["valid"] + s["test"]) == list(range(1000))
        assert np.bincount(np.asarray(labels)[s["test"]]).tolist() == [10] * 10


def test_kfold_test_folds_are_disjoint_and_cover_everything():
    labels = [i % 4 for i in range(80)]
    splits = kfold_splits(labels, 5, seed=0)
    tests = [i for s in splits for i in s["test"]]
    assert sorted(tests) == list(range(80))
    for s in splits:
        assert not set(s["test"]) & set(s["train"]) and not set(s["valid"]) & set(s["train"])
        assert not set(s["test"]) & set(s["valid"])


def test_holdout_fractions_and_errors():
    s = holdout_split([i % 2 for i in range(40)], valid=0.25, test=0.25)
    assert (len(s["train"]), len(s["valid"]), len(s["test"])) == (20, 10, 10)
    with pytest.raises(SplitError):
        holdout_split([0, 1, 1], 0.1, 0.1)
    with pytest.raises(SplitError, match="unknown protocol"):
        make_splits("nope", [0, 1], ["a", "b"])


def test_filtered_split_uses_shipped_lists_and_skips_missing_clips():
    from model.train.splits import FILTERED_DIR, read_list

    lists = {p: read_list(FILTERED_DIR / f"{p}_filtered.txt") for p in ("train", "valid", "test")}
    assert [len(v) for v in lists.values()] == [443, 197, 290]
    assert (FILTERED_DIR / "README.md").read_text().count("Kereliuk") >= 1
    keys = sorted(k for v in lists.values() for k in v)
    keys.remove("jazz/jazz.00054") if "jazz/jazz.00054" in keys else None
    split = filtered_split(keys)
    assert len(split["train"]) + len(split["valid"]) + len(split["test"]) == len(keys)
    assert {keys[i] for i in split["test"]} == set(lists["test"]) - {"jazz/jazz.00054"}
    with pytest.raises(SplitError, match="GTZAN"):
        filtered_split(["a/b", "c/d"])


def test_augment_changes_batch_keeps_shape_and_is_seeded():
    x = torch.randn(4, 64, 128) * 10 - 40
    a = augment(x, AugmentConfig(), torch.Generator().manual_seed(1))
    b = augment(x, AugmentConfig(), torch.Generator().manual_seed(1))
    assert a.shape == x.shape and torch.equal(a, b)
    assert not torch.equal(a, x)
    assert float(a.min()) >= float(x.min()) - 1e-4  # masks use each clip's floor, not zero


def test_mel_cache_builds_once_and_skips_unreadable(tmp_path):
    for g, kind in (("a", "tones"), ("b", "noise")):
        (tmp_path / "ds" / g).mkdir(parents=True)
        for i in range(2):
            make_track(tmp_path / "ds" / g / f"{g}.{i}.wav", kind, seconds=2.0, seed=i)
    (tmp_path / "ds" / "a" / "broken.wav").write_bytes(b"RIFF nonsense")
    ds = scan_folder(tmp_path / "ds")
    spec = MelSpec(clip_samples=22050)
    cache = MelCache(tmp_path / "cache", spec)
    seen = []
    out = cache.build(ds, progress=lambda d, t: seen.append((d, t)), workers=2)
    assert len(out.mels) == 4 and out.mels[0].shape == (spec.n_frames, 128) and out.mels[0].dtype == np.float16
    assert [s["path"].endswith("broken.wav") for s in out.dataset.skipped] == [True]
    assert seen[-1] == (5, 5)
    mtimes = {p: p.stat().st_mtime_ns for p in cache.dir.glob("*.npy")}
    again = cache.build(ds, workers=2)
    assert {p: p.stat().st_mtime_ns for p in cache.dir.glob("*.npy")} == mtimes
    assert all(np.array_equal(a, b) for a, b in zip(out.mels, again.mels))
    assert MelCache(tmp_path / "cache", MelSpec(clip_samples=44100)).dir != cache.dir


def test_library_labels_map_tag_genres_to_classes(tmp_path):
    from app.library.db import Library
    from app.library.labels import LabelError, library_pairs, parse_mapping, tag_genre_counts

    lib = Library(tmp_path / "lib.sqlite")
    genres = ["Rock", "rock; Indie", "Jazz", "Bebop", "Pop", "Rock/Jazz", None]
    for i, g in enumerate(genres):
        lib.upsert_track(f"/m/{i}.mp3", tag_genre=g)
    assert tag_genre_counts(lib)["rock"] == 3
    mapping = parse_mapping("guitar: rock, indie\n# comment\nswing: jazz, bebop\n")
    pairs = library_pairs(lib, mapping)
    assert pairs == [("/m/0.mp3", "guitar"), ("/m/1.mp3", "guitar"), ("/m/2.mp3", "swing"), ("/m/3.mp3", "swing")]
    assert from_pairs(pairs).classes == ["guitar", "swing"]
    assert parse_mapping('{"x": ["a"]}') == {"x": ["a"]}
    with pytest.raises(LabelError):
        parse_mapping("no colon here")
    with pytest.raises(LabelError, match="two classes"):
        library_pairs(lib, {"only": ["pop"]})
    lib.close()
