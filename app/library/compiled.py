"""UMAP with its numba-compiled code kept on disk, so only the first map on a machine compiles it.

UMAP and pynndescent are numba code: compiled on first use in every process, tens of seconds
for a map of any size. numba keeps compiled code on disk only for functions marked `cache=True`
(a minority of UMAP's), in `NUMBA_CACHE_DIR`. `load_umap()` points that folder at the data
home's `cache/numba` (unless the user set it) and turns the disk cache on for every compiled
function of umap and pynndescent (and, while umap is imported, gives numba's decorators
cache=True by default, so the functions compiled at import come from the cache too); numba
checks each cached entry against its source file's timestamp, so an upgraded package recompiles. Functions numba cannot cache (they take other
compiled functions as arguments) still compile in each process, silently.
"""

from __future__ import annotations

import os
import sys
import warnings
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

CACHED_PACKAGES = ("umap", "pynndescent")


def use_cache_dir(folder: Path | None = None) -> str:
    """Point numba's disk cache at `folder` (default: the data home's cache/numba), unless the
    user chose one with NUMBA_CACHE_DIR; works before or after numba is imported."""
    if "NUMBA_CACHE_DIR" not in os.environ:
        if folder is None:
            from app.home import cache_dir

            folder = cache_dir() / "numba"
        os.environ["NUMBA_CACHE_DIR"] = str(folder)
    chosen = os.environ["NUMBA_CACHE_DIR"]
    config = sys.modules.get("numba.core.config")
    if config is not None:  # numba read its settings at import: tell it directly
        config.CACHE_DIR = chosen
    return chosen


def load_umap() -> ModuleType:
    """`import umap`, with every compiled function of umap and pynndescent cached on disk."""
    use_cache_dir()
    with warnings.catch_warnings(), _cached_by_default():
        warnings.simplefilter("ignore")  # umap's own import-time warnings (numba, TBB) say nothing to a user
        import umap
        import umap.umap_  # noqa: F401  (the module of nearest_neighbors and the fits)
    _cache_all(CACHED_PACKAGES)
    return umap


@contextmanager
def _cached_by_default():
    """numba.njit / numba.jit with cache=True unless a function says otherwise, while umap is
    imported: the functions it compiles at import (those declared with a signature, e.g.
    umap.utils.tau_rand_int) then come from the disk cache too, instead of compiling in every
    process (about a second)."""
    import numba

    originals = {name: getattr(numba, name) for name in ("njit", "jit")}

    def caching(decorator):
        def wrapped(*args, **kwargs):
            kwargs.setdefault("cache", True)
            return decorator(*args, **kwargs)
        return wrapped

    for name, decorator in originals.items():
        setattr(numba, name, caching(decorator))
    try:
        yield
    finally:
        for name, decorator in originals.items():
            setattr(numba, name, decorator)


def _cache_all(packages: tuple[str, ...]) -> int:
    """Turn on the disk cache of every numba function defined at module level in `packages`."""
    from numba.core.caching import NullCache
    from numba.core.registry import CPUDispatcher

    enabled = 0
    for name, module in list(sys.modules.items()):
        if module is None or name.split(".")[0] not in packages:
            continue
        for value in list(vars(module).values()):
            if isinstance(value, CPUDispatcher) and isinstance(value._cache, NullCache):
                value.enable_caching()
                enabled += 1
    return enabled

