"""UMAP's compiled code goes to a disk cache in the data home, so a second map does not compile it again."""

import os
import sys

import pytest

from app.library.compiled import _cache_all, _cached_by_default, use_cache_dir


@pytest.fixture
def numba_settings(monkeypatch):
    """numba's cache folder setting, restored after the test."""
    from numba.core import config

    monkeypatch.setattr(config, "CACHE_DIR", config.CACHE_DIR)
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    return config


def test_compiled_functions_are_cached_in_the_data_home(home, tmp_path, monkeypatch, numba_settings):
    assert use_cache_dir() == str(home / "cache" / "numba") == numba_settings.CACHE_DIR
    package = tmp_path / "src" / "fakeumap"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(
        "import numba\n\n@numba.njit\ndef add(a, b):\n    return a + b\n")
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    import fakeumap

    assert _cache_all(("fakeumap",)) == 1
    assert fakeumap.add(2, 3) == 5
    saved = list((home / "cache" / "numba").rglob("*.nbi"))
    assert saved and "add" in saved[0].name
    assert _cache_all(("fakeumap",)) == 0  # already cached
    monkeypatch.delitem(sys.modules, "fakeumap")


def test_a_chosen_numba_cache_folder_wins(tmp_path, monkeypatch, numba_settings):
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "mine"))
    assert use_cache_dir() == str(tmp_path / "mine") == numba_settings.CACHE_DIR
    monkeypatch.delenv("NUMBA_CACHE_DIR")
    assert use_cache_dir(tmp_path / "given") == str(tmp_path / "given")
    assert os.environ["NUMBA_CACHE_DIR"] == str(tmp_path / "given")


def test_functions_compiled_at_import_come_from_the_cache(home, tmp_path, monkeypatch, numba_settings):
    import numba

    use_cache_dir()
    package = tmp_path / "src" / "fakeeager"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(  # compiled when decorated, as umap.utils.tau_rand_int
        "import numba\n\n@numba.njit('i8(i8)')\ndef twice(a):\n    return 2 * a\n")
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    original = numba.njit
    with _cached_by_default():
        import fakeeager
    assert numba.njit is original  # put back after the import
    assert fakeeager.twice(4) == 8
    saved = [p.name for p in (home / "cache" / "numba").rglob("*.nbi")]
    assert any("twice" in name for name in saved)
    monkeypatch.delitem(sys.modules, "fakeeager")
