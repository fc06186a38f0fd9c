"""The library layer: the database (db.py, the only place that speaks SQL), the scan pipeline,
similarity, the map, playlists and keeping the library safe. `Library`, `LibraryError` and
`explain` are importable from here; they load db.py only when first used."""

_FROM_DB = ("Library", "LibraryError", "explain")


def __getattr__(name: str):
    if name in _FROM_DB:
        from . import db

        return getattr(db, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
