"""`cratedigger similar|path|clusters|export-m3u`: recommendations, sonic paths, the map's clusters, playlists."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from . import args as types
from .progress import fail, print_json


def register(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("similar", help="tracks that sound like the given ones")
    s.add_argument("paths", nargs="+", metavar="PATH")
    s.add_argument("-n", type=types.count, default=20, help="how many results")
    s.add_argument("--exclude-artist", action="store_true")
    s.add_argument("--exclude-album", action="store_true")
    s.add_argument("--genre", action="append", help="only tracks whose predicted genre is this (repeatable)")
    s.add_argument("--cluster", type=types.integer(0), action="append", help="only tracks of this cluster (repeatable)")
    s.add_argument("--diversity", type=types.unit, default=0.0, help="0 (closest first) .. 1 (most varied)")
    s.add_argument("--m3u", metavar="FILE", help="also write the result as an M3U8 playlist")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=_similar)

    p = sub.add_parser("path", help="a playlist walking from one track to another by sound")
    p.add_argument("start", metavar="FROM")
    p.add_argument("end", metavar="TO")
    p.add_argument("--steps", type=types.count, default=10, help="tracks between the two")
    p.add_argument("--m3u", metavar="FILE")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_path)

    c = sub.add_parser("clusters", help="the library's sound clusters (computes the map if needed)")
    c.add_argument("--refit", action="store_true", help="fit the map again from scratch")
    c.add_argument("--k", type=types.count, help="KMeans with k clusters instead of HDBSCAN")
    c.add_argument("--method", choices=["hdbscan", "kmeans"],
                   help="clustering (default: as the current map, HDBSCAN for the first)")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=_clusters)

    e = sub.add_parser("export-m3u", help="write an M3U8 playlist")
    what = e.add_mutually_exclusive_group(required=True)
    what.add_argument("--cluster", type=types.integer(0), metavar="ID")
    what.add_argument("--similar", metavar="PATH")
    what.add_argument("--tracks", metavar="FILE", help="a text file with one path per line")
    e.add_argument("out", metavar="OUT")
    e.add_argument("-n", type=types.count, default=30, help="results for --similar")
    e.add_argument("--relative", action="store_true", help="paths relative to the playlist's folder")
    e.set_defaults(func=_export)


def _library(read_only: bool = True):
    from app.home import open_library

    return open_library(read_only=read_only)


def _ids(library, paths: list[str]) -> list[int]:
    """Track ids of the paths a user typed; LookupError saying why one cannot be used."""
    from app.library.fspath import display_path

    ids = []
    for p in paths:
        track = library.find_track(p)
        shown = display_path(p)
        if track is None:
            raise LookupError(f"{shown} is not in the library (scan its folder first)")
        if track["missing"]:
            raise LookupError(f"{shown} is marked missing (its file was gone at the last scan); "
                              "scan again if it is back")
        if library.latest_analysis(track["id"]) is None:
            error = library.track_error(track["id"])
            raise LookupError(f"{shown} could not be analysed ({error['reason']}: {error['detail']})" if error
                              else f"{shown} has not been analysed by the active model")
        ids.append(track["id"])
    return ids


def _check_filters(library, genres: list[str] | None, clusters: list[int] | None) -> None:
    """Unknown genres or clusters are errors that list the valid ones (LookupError)."""
    if genres:
        valid = library.classes(library.model_key())
        unknown = [g for g in genres if g not in valid]
        if unknown:
            raise LookupError(f"unknown genre {', '.join(map(repr, unknown))}; the active model's genres are: "
                              f"{', '.join(valid)}")
    if clusters:
        from app.library.mapping import clusters as saved_clusters

        valid_ids = sorted(c["cluster"] for c in saved_clusters(library, library.map_model()))  # the shown map's
        if not valid_ids:
            raise LookupError("there are no clusters yet: run 'cratedigger clusters' first")
        unknown = [c for c in clusters if c not in valid_ids]
        if unknown:
            raise LookupError(f"no cluster {', '.join(map(str, unknown))}; the clusters are: "
                              f"{', '.join(map(str, valid_ids))} (see 'cratedigger clusters')")


def _show(results: list[dict], as_json: bool, tags: dict[int, list[str]]) -> None:
    from app.library.fspath import display_path, json_path

    if as_json:
        print_json([dict(json_path(r["path"]), score=r["score"], artist=r["artist"], title=r["title"],
                         genre=r.get("genre"), top_tags=tags.get(r["id"], [])) for r in results])
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

    library = _library()
    try:
        ids = _ids(library, args.paths)
        _check_filters(library, args.genre, args.cluster)
    except LookupError as e:
        return fail(str(e))
    results = similar(library, ids, n=args.n, exclude_artist=args.exclude_artist, exclude_album=args.exclude_album,
                      genres=args.genre, clusters=args.cluster, diversity=args.diversity,
                      model=_results_model(library, ids))
    return _output(results, args, library)


def _results_model(library, ids: list[int]) -> str | None:
    """The previous model's key until the active one has heard these tracks and as much of the
    library (as the app does); says so on stderr when it is not the active model."""
    import sys

    model = library.results_model(ids)
    active = library.model_key()
    if model is not None and active is not None and model != active:
        print(f"results from {library.model_name(model)}: the active model {library.model_name(active)} has not "
              "analysed these tracks or as much of the library yet (scan to bring it up to date)", file=sys.stderr)
    return model


def _path(args) -> int:
    from app.library.paths import sonic_path

    library = _library()
    try:
        a, b = _ids(library, [args.start, args.end])
        results = sonic_path(library, a, b, steps=args.steps, model=_results_model(library, [a, b]))
    except (LookupError, ValueError) as e:
        return fail(str(e))
    return _output(results, args, library)


def _clusters(args) -> int:
    import sys

    from app.library.mapping import build_map, clusters

    library = _library(read_only=False)
    try:
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
    from app.library.fspath import display_path
    from app.library.mapping import build_map, cluster_tracks
    from app.library.playlists import write_m3u8
    from app.library.similarity import similar

    library = _library(read_only=args.cluster is None)
    if args.cluster is not None:
        try:
            build_map(library)
            _check_filters(library, None, [args.cluster])
        except (LookupError, ValueError) as e:
            return fail(str(e))
        tracks = cluster_tracks(library, args.cluster)
    elif args.similar:
        try:
            seed = _ids(library, [args.similar])
        except LookupError as e:
            return fail(str(e))
        tracks = [library.track(seed[0])] + similar(library, seed, n=args.n)
    else:
        try:
            # file names as the file system has them, even those that are not UTF-8
            lines = [os.fsdecode(line.strip()) for line in Path(args.tracks).read_bytes().splitlines()]
        except OSError as e:
            return fail(f"cannot read {args.tracks}: {e.strerror or e}")
        tracks = []
        for line in filter(None, lines):
            t = library.find_track(line)
            if t is None:
                return fail(f"{display_path(line)} is not in the library (scan its folder first)")
            tracks.append(t)
    try:
        out = write_m3u8(tracks, args.out, relative=args.relative)
    except OSError as e:
        return fail(f"cannot write the playlist {args.out}: {e.strerror or e}")
    print(f"wrote {len(tracks)} tracks to {out}")
    return 0
