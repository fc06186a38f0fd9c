"""`cratedigger similar|path|clusters|export-m3u`: recommendations, sonic paths, the map's clusters, playlists."""

from __future__ import annotations

import argparse
from pathlib import Path

from .progress import fail, print_json


def _count(text: str) -> int:
    """argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _unit(text: str) -> float:
    """argparse type: a number from 0 to 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("similar", help="tracks that sound like the given ones")
    s.add_argument("paths", nargs="+", metavar="PATH")
    s.add_argument("-n", type=_count, default=20, help="how many results")
    s.add_argument("--exclude-artist", action="store_true")
    s.add_argument("--exclude-album", action="store_true")
    s.add_argument("--genre", action="append", help="only tracks whose predicted genre is this (repeatable)")
    s.add_argument("--cluster", type=int, action="append", help="only tracks of this cluster (repeatable)")
    s.add_argument("--diversity", type=_unit, default=0.0, help="0 (closest first) .. 1 (most varied)")
    s.add_argument("--m3u", metavar="FILE", help="also write the result as an M3U8 playlist")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=_similar)

    p = sub.add_parser("path", help="a playlist walking from one track to another by sound")
    p.add_argument("start", metavar="FROM")
    p.add_argument("end", metavar="TO")
    p.add_argument("--steps", type=_count, default=10, help="tracks between the two")
    p.add_argument("--m3u", metavar="FILE")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_path)

    c = sub.add_parser("clusters", help="the library's sound clusters (computes the map if needed)")
    c.add_argument("--refit", action="store_true", help="fit the map again from scratch")
    c.add_argument("--k", type=_count, help="KMeans with k clusters instead of HDBSCAN")
    c.add_argument("--method", choices=["hdbscan", "kmeans"],
                   help="clustering (default: as the current map, HDBSCAN for the first)")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=_clusters)

    e = sub.add_parser("export-m3u", help="write an M3U8 playlist")
    what = e.add_mutually_exclusive_group(required=True)
    what.add_argument("--cluster", type=int, metavar="ID")
    what.add_argument("--similar", metavar="PATH")
    what.add_argument("--tracks", metavar="FILE", help="a text file with one path per line")
    e.add_argument("out", metavar="OUT")
    e.add_argument("-n", type=_count, default=30, help="results for --similar")
    e.add_argument("--relative", action="store_true", help="paths relative to the playlist's folder")
    e.set_defaults(func=_export)


def _library():
    """The library, or LookupError with the database's own explanation (locked, damaged...)."""
    from app.library.db import Library, LibraryError

    try:
        return Library()
    except LibraryError as e:
        raise LookupError(str(e)) from None


def _ids(library, paths: list[str]) -> list[int]:
    ids = []
    for p in paths:
        track = library.track_by_path(Path(p).expanduser().resolve())
        if track is None:
            raise LookupError(f"{p} is not in the library (scan its folder first)")
        if library.analysis(track["id"]) is None:
            raise LookupError(f"{p} has not been analysed by the active model")
        ids.append(track["id"])
    return ids


def _show(results: list[dict], as_json: bool, tags: dict[int, list[str]]) -> None:
    from app.library.fspath import display_path

    if as_json:
        print_json([{"path": display_path(r["path"]), "score": r["score"], "artist": r["artist"],
                     "title": r["title"], "genre": r.get("genre"), "top_tags": tags.get(r["id"], [])}
                    for r in results])
        return
    for r in results:
        who = " - ".join(x for x in (r["artist"], r["title"]) if x) or Path(display_path(r["path"])).name
        heard = ", ".join(x for x in [r.get("genre") or "", *tags.get(r["id"], [])] if x)
        print(f"{r['score']:6.3f}  {who}  [{heard}]  {display_path(r['path'])}")


def _output(results: list[dict], args, library) -> int:
    """Print the tracks (or their JSON, with their top tags) and write them as a playlist when --m3u asks."""
    from app.library.playlists import write_m3u8

    if args.m3u:
        try:
            write_m3u8(results, args.m3u)
        except OSError as e:
            return fail(f"cannot write the playlist {args.m3u}: {e.strerror or e}")
    _show(results, args.json, library.tag_labels(r["id"] for r in results))
    return 0


def _similar(args) -> int:
    from app.library.similarity import similar

    try:
        library = _library()
        ids = _ids(library, args.paths)
    except LookupError as e:
        return fail(str(e))
    results = similar(library, ids, n=args.n, exclude_artist=args.exclude_artist, exclude_album=args.exclude_album,
                      genres=args.genre, clusters=args.cluster, diversity=args.diversity)
    return _output(results, args, library)


def _path(args) -> int:
    from app.library.paths import sonic_path

    try:
        library = _library()
        a, b = _ids(library, [args.start, args.end])
        results = sonic_path(library, a, b, steps=args.steps)
    except (LookupError, ValueError) as e:
        return fail(str(e))
    return _output(results, args, library)


def _clusters(args) -> int:
    import sys

    from app.library.mapping import build_map, clusters

    try:
        library = _library()
        summary = build_map(library, refit=args.refit, method="kmeans" if args.k else args.method, k=args.k,
                            progress=lambda stage, f: print(f"\r{stage}...", end="", file=sys.stderr, flush=True))
    except (LookupError, ValueError) as e:
        return fail(str(e))
    print(file=sys.stderr)
    found = clusters(library)
    if args.json:
        print_json(found)
        return 0
    if not found:
        print("nothing analysed yet: run 'cratedigger scan DIR' first")
        return 0
    print(f"{summary['tracks']} tracks in {len(found)} clusters"
          + (f" ({summary['placed']} newly placed)" if not summary["refit"] and summary["placed"] else ""))
    for c in found:
        genres = ", ".join(f"{g} {p:.0%}" for g, p in c["top_genres"][:3])
        print(f"  [{c['cluster']:2d}] {c['name']:<34} {c['size']:5d} tracks   {genres}")
    return 0


def _export(args) -> int:
    from app.library.mapping import build_map, cluster_tracks
    from app.library.playlists import write_m3u8
    from app.library.similarity import similar

    try:
        library = _library()
    except LookupError as e:
        return fail(str(e))
    if args.cluster is not None:
        try:
            build_map(library)
        except ValueError as e:
            return fail(str(e))
        tracks = cluster_tracks(library, args.cluster)
        if not tracks:
            return fail(f"no cluster {args.cluster} (see 'cratedigger clusters')")
    elif args.similar:
        try:
            seed = _ids(library, [args.similar])
        except LookupError as e:
            return fail(str(e))
        tracks = [library.track(seed[0])] + similar(library, seed, n=args.n)
    else:
        try:
            lines = [line.strip() for line in Path(args.tracks).read_text(encoding="utf-8").splitlines()]
        except OSError as e:
            return fail(f"cannot read {args.tracks}: {e.strerror or e}")
        tracks = []
        for line in filter(None, lines):
            t = library.track_by_path(Path(line).expanduser().resolve())
            if t is None:
                return fail(f"{line} is not in the library")
            tracks.append(t)
    try:
        out = write_m3u8(tracks, args.out, relative=args.relative)
    except OSError as e:
        return fail(f"cannot write the playlist {args.out}: {e.strerror or e}")
    print(f"wrote {len(tracks)} tracks to {out}")
    return 0
