"""Track representations for similarity and the map, and a cache of their normalised matrices.

A track has up to two analyses, keyed by model: the genre model's (BBNN) and the tagger's
(MusiCNN, `Library.tagger_key()`). Representations, as blocks of stored vectors:
    embedding  BBNN's 32-d penultimate layer, mean over windows
    stats      [mean, std] over windows of BBNN's penultimate layer (64-d)
    dense      BBNN's 416-d pooled last dense block, mean over windows
    dense_max  the same block, max over windows
    probs      the genre probabilities
    combined   embedding, dense and probs as three equally weighted blocks
    blend      the embedding and the 16 principal components of the dense features, two equally
               weighted blocks (48-d)
    blend_lda  the same with the dense features' 16 discriminant axes instead (see below): the
               BBNN-only default
    musicnn    MusiCNN's 200-d penultimate layer, mean over its patches
    musicnn_dense_max  MusiCNN's 200-d dense layer, max over its patches
    musicnn+blend  musicnn (weight 1) beside blend (its two blocks together weight 0.75), 248-d
    musicnn+dense_max+blend  the 64 principal components of musicnn and of musicnn_dense_max
               (two blocks, together weight 1) beside blend (weight 0.75), 176-d
    musicnn_lda+blend  MusiCNN's penultimate mean projected on its 32 discriminant axes beside
               blend (weight 0.75), 80-d
    musicnn_lda+blend_lda  the same beside blend_lda: the default when MusiCNN has analysed every
               track BBNN has
Discriminant axes (linear discriminant analysis with every track as its own class, fitted on
every window's or patch's vectors): the directions along which tracks differ most relative to
how much one track's windows vary, so a track's verse and chorus count as the same track and
what sets one piece (or soundtrack) apart from another counts most.
A `Basis` is fitted on a library: every block is standardised over the tracks (feature mean 0,
unit variance: the ReLU features are all positive, so raw cosines are all close to 1), projected
on its principal components where the representation says so, L2-normalised and weighted; the
blocks are concatenated and each row scaled to unit length, so a dot product is a cosine
similarity. The map keeps its basis with its fit, so tracks added later are placed in the same
space (and a change of representation refits it). The caches (in memory, and on disk under the
data home's cache/vectors so that a new process need not fit again) are keyed by the database's
data_version, so they follow every change of the analyses.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

GENRE, TAGGER = "genre", "tagger"  # whose analysis a block reads: the genre model's or MusiCNN's


@dataclass(frozen=True)
class BlockSpec:
    kinds: tuple[str, ...]  # stored vector kinds, concatenated
    components: int | None = None  # principal components kept, or None for all features
    weight: float = 1.0  # the block's length in a row before the row is normalised
    source: str = GENRE
    # the components are discriminant axes (`discriminant_axes`: what tells tracks apart rather
    # than what varies within one), fitted on every window's vectors; kinds ("embedding",) or ("dense",)
    discriminant: bool = False


_HALF = 0.5 ** 0.5
SHRINKAGE = 0.03  # of the within-track covariance of a discriminant block (see discriminant_axes)
_BLEND_WEIGHT = 0.75  # of the BBNN blend beside MusiCNN (its two blocks share it)
BLOCKS: dict[str, list[BlockSpec]] = {
    "embedding": [BlockSpec(("embedding",))],
    "stats": [BlockSpec(("embedding", "embedding_std"))],
    "dense": [BlockSpec(("dense",))],
    "dense_max": [BlockSpec(("dense_max",))],
    "probs": [BlockSpec(("probs",))],
    "combined": [BlockSpec(("embedding",)), BlockSpec(("dense",)), BlockSpec(("probs",))],
    "blend": [BlockSpec(("embedding",)), BlockSpec(("dense",), 16)],
    "musicnn": [BlockSpec(("embedding",), source=TAGGER)],
    "musicnn+blend": [BlockSpec(("embedding",), source=TAGGER),
                      BlockSpec(("embedding",), weight=_BLEND_WEIGHT * _HALF),
                      BlockSpec(("dense",), 16, weight=_BLEND_WEIGHT * _HALF)],
    "musicnn_dense_max": [BlockSpec(("dense_max",), source=TAGGER)],
    "musicnn+dense_max+blend": [BlockSpec(("embedding",), 64, weight=_HALF, source=TAGGER),
                                BlockSpec(("dense_max",), 64, weight=_HALF, source=TAGGER),
                                BlockSpec(("embedding",), weight=_BLEND_WEIGHT * _HALF),
                                BlockSpec(("dense",), 16, weight=_BLEND_WEIGHT * _HALF)],
    "blend_lda": [BlockSpec(("embedding",)), BlockSpec(("dense",), 16, discriminant=True)],
    "musicnn_lda+blend": [BlockSpec(("embedding",), 32, source=TAGGER, discriminant=True),
                          BlockSpec(("embedding",), weight=_BLEND_WEIGHT * _HALF),
                          BlockSpec(("dense",), 16, weight=_BLEND_WEIGHT * _HALF)],
    "musicnn_lda+blend_lda": [BlockSpec(("embedding",), 32, source=TAGGER, discriminant=True),
                              BlockSpec(("embedding",), weight=_BLEND_WEIGHT * _HALF),
                              BlockSpec(("dense",), 16, weight=_BLEND_WEIGHT * _HALF, discriminant=True)],
}
KINDS = tuple(BLOCKS)
# Chosen on real music (bench/sets: Debian game soundtracks labelled by package, or by style; the
# authors' GTZAN fold 5 with 3 windows per track; MusiCNN on 3 patches per window). P@5 of
# same-label neighbours, each set scanned by the app into its own library and every track asked
# for `similar` (bench/similarity_eval.py FOLDER; k-reciprocal re-ranking, see reranking.py):
#                                  7 soundtracks  5 of them  3 styles  8 packages, 12 each
#   blend                          0.573          0.840      0.906     0.485
#   blend_lda (BBNN alone)         0.622          0.875      0.906     0.553
#   musicnn (MusiCNN alone)        0.595          0.772      0.936     0.470
#   musicnn+dense_max+blend        0.656          0.885      0.958     0.532
#   musicnn_lda+blend              0.691          0.892      0.962     0.587
#   musicnn_lda+blend_lda          0.702          0.920      0.962     0.606   (the default)
# (125, 85, 53 and 94 tracks.) MusiCNN hears style and instrumentation that BBNN's ten GTZAN
# genres do not tell apart; BBNN's blend adds a sense of production (same soundtrack). The
# discriminant axes matter most: a track's patches (verse, chorus, breaks) vary a lot inside
# MusiCNN's space, and principal axes follow that variation; discriminant axes discount it. With
# the three styles' 53 tracks BBNN's 416-d dense block has too few windows for its discriminant
# axes and keeps principal ones (blend_lda = blend there). Parameters (32 and 16 axes, shrinkage
# 0.03) were chosen on the 8-package set, whose rule was written before any score on it was seen
# (bench/similarity_eval.py --list, which reproduces the scan's patches from a feature cache).
# Tried and not kept (within 0.02, or worse, in that list mode): blend weights 0.5 and 1.0,
# MusiCNN's tag probabilities or penultimate std as another block, PCA whitening of a block
# (0.10-0.20 worse), log-mel and MFCC statistics (a "production" block), hubness reduction (CSLS,
# local scaling, mutual proximity), similarity of patch sets (Chamfer), MusiCNN's MagnaTagATune
# weights (MTT_musicnn, same wheel) as another block, diffusion over the k-nearest graph, the max
# of MusiCNN's dense layer beside its discriminant axes, discriminant axes for BBNN's 32-d
# embedding (0.02 worse on the seven soundtracks), a diagonal within-track variance instead of the
# full covariance (0.03-0.06 worse).
BBNN_KIND = "blend_lda"
MUSICNN_KIND = "musicnn_lda+blend_lda"
DEFAULT_KIND = BBNN_KIND  # what a library without MusiCNN analyses uses (see `default_kind`)


def unit_rows(m: np.ndarray) -> np.ndarray:
    return m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-12)


def normalise(matrix: np.ndarray) -> np.ndarray:
    """Standardise columns over the rows, then scale every row to unit length."""
    m = np.asarray(matrix, dtype=np.float32)
    if len(m) == 0:
        return m
    if len(m) > 1:
        m = (m - m.mean(axis=0)) / (m.std(axis=0) + 1e-6)
    return unit_rows(m)


@dataclass
class Block:
    mean: np.ndarray
    std: np.ndarray
    components: np.ndarray | None = None  # (D, k) projection after standardising
    weight: float = 1.0

    def apply(self, raw: np.ndarray) -> np.ndarray:
        x = (np.asarray(raw, np.float32) - self.mean) / self.std
        if self.components is not None:
            x = x @ self.components
        return unit_rows(x) * np.float32(self.weight)


@dataclass
class Basis:
    """How one representation's stored vectors become unit rows; fitted on a library's tracks."""
    kind: str
    blocks: list[Block] = field(default_factory=list)
    short_of_windows: bool = False  # a discriminant block kept principal axes: too few per-window vectors yet

    def apply(self, parts: list[np.ndarray]) -> np.ndarray:
        if not len(parts[0]):
            return np.zeros((0, 0), np.float32)
        x = np.hstack([b.apply(p) for b, p in zip(self.blocks, parts)])
        return unit_rows(x).astype(np.float32)


def principal_axes(x: np.ndarray, k: int) -> np.ndarray:
    """The k leading principal axes of x's rows, (k, D), as scikit-learn's PCA.components_.

    Centred; from the covariance matrix's eigenvectors when there are many more rows than
    columns (cheaper), from the SVD otherwise. Signs follow scikit-learn: each axis's largest
    coordinate (in absolute value) is positive, so the result is deterministic.
    """
    from threadpoolctl import threadpool_limits

    x = np.asarray(x)
    x = x - x.mean(axis=0)
    n, d = x.shape
    gram = (x.T @ x).astype(np.float64) if n >= 10 * d else None
    # one BLAS thread: OpenBLAS's threads make these small decompositions 100x slower on a busy machine
    with threadpool_limits(1, user_api="blas"):
        if gram is not None:
            values, vectors = np.linalg.eigh(gram)
            axes = vectors[:, np.argsort(values)[::-1][:k]].T
        else:
            axes = np.linalg.svd(x, full_matrices=False)[2][:k]
    signs = np.sign(axes[np.arange(len(axes)), np.abs(axes).argmax(axis=1)])
    return axes * np.where(signs == 0, 1.0, signs)[:, None]


def discriminant_axes(windows: list[np.ndarray], means: np.ndarray, k: int, shrinkage: float = SHRINKAGE) -> np.ndarray:
    """The k leading discriminant axes, (D, k), with each track as a class: the directions along
    which track means differ most relative to how much a track's own windows vary (so a change
    from verse to chorus counts for less than a change from one song to another).

    windows: some tracks' per-window vectors (each (n, D), n >= 2); means: every track's mean
    vector (N, D), in the same (standardised) coordinates. The within-track covariance is shrunk
    towards its mean variance by `shrinkage`. Signs as `principal_axes`'.
    """
    d = means.shape[1]
    centred_windows = np.concatenate([w - w.mean(axis=0) for w in windows])
    within = centred_windows.T @ centred_windows / len(centred_windows)
    within = within + shrinkage * np.trace(within) / d * np.eye(d)
    values, vectors = np.linalg.eigh(within)
    whiten = (vectors / np.sqrt(np.maximum(values, 1e-12))) @ vectors.T
    centred = means - means.mean(axis=0)
    between = whiten @ (centred.T @ centred / max(len(means) - 1, 1)) @ whiten
    spread, directions = np.linalg.eigh(between)
    axes = (whiten @ directions[:, np.argsort(spread)[::-1][:k]]).T
    signs = np.sign(axes[np.arange(len(axes)), np.abs(axes).argmax(axis=1)])
    return (axes * np.where(signs == 0, 1.0, signs)[:, None]).T


def fit_basis(kind: str, parts: list[np.ndarray], windows: dict[int, list[np.ndarray]] | None = None) -> Basis:
    """Standardisation (and principal or discriminant components) of every block, from these
    tracks; windows: per block index, some tracks' per-window vectors (see `stored_windows`)."""
    blocks, short = [], False
    for i, (spec, raw) in enumerate(zip(BLOCKS[kind], parts)):
        raw = np.asarray(raw, np.float32)
        if len(raw) > 1:
            mean, std = raw.mean(axis=0), raw.std(axis=0) + 1e-6
        else:  # one track: nothing to standardise against
            mean, std = np.zeros(raw.shape[1], np.float32), np.ones(raw.shape[1], np.float32)
        block_windows = [(w - mean) / std for w in (windows or {}).get(i, [])]
        discriminant = spec.discriminant and _enough(block_windows, raw.shape[1])
        short |= spec.discriminant and not discriminant
        components = _components(spec, (raw - mean) / std, block_windows if discriminant else None)
        blocks.append(Block(mean.astype(np.float32), std.astype(np.float32), components, spec.weight))
    return Basis(kind, blocks, short)


def discriminant_ready(library, model: str, kind: str) -> bool:
    """Whether every discriminant block of the representation has enough per-window vectors now."""
    windows = stored_windows(library, model, kind)
    return all(len(w) and _enough(w, w[0].shape[1]) for w in windows.values()) if windows else False


# Discriminant axes need tracks with per-window vectors: at least this many, and at least a quarter
# as many within-track degrees of freedom (windows minus one, summed) as the block has features;
# fewer: principal axes instead.
MIN_DISCRIMINANT_TRACKS = 20


def _components(spec: BlockSpec, standardised: np.ndarray, windows: list[np.ndarray] | None) -> np.ndarray | None:
    """(D, k) projection of a block (discriminant axes when given the windows to fit them on), or
    None when it keeps every feature."""
    k = min(spec.components or 0, len(standardised) - 1, standardised.shape[1])
    if not spec.components or k < 1:
        return None
    if windows is not None:
        return discriminant_axes(windows, standardised, k).astype(np.float32)
    return principal_axes(standardised, k).T.astype(np.float32)


WINDOW_TRACKS = 5000  # tracks whose per-window vectors fit a discriminant block (all of a smaller library)


def stored_windows(library, model: str, kind: str, ids=None) -> dict[int, list[np.ndarray]]:
    """Per discriminant block of the representation (by index): the per-window vectors of up to
    WINDOW_TRACKS tracks (of `ids` when given) of its source model."""
    sources = {GENRE: model, TAGGER: library.tagger_key()}
    assert all(len(spec.kinds) == 1 for spec in BLOCKS[kind] if spec.discriminant), "a discriminant block reads one kind"
    return {i: library.window_vectors(sources[spec.source], spec.kinds[0], limit=WINDOW_TRACKS, ids=ids)
            for i, spec in enumerate(BLOCKS[kind]) if spec.discriminant and sources[spec.source]}


def _enough(windows: list[np.ndarray], features: int) -> bool:
    return len(windows) >= MIN_DISCRIMINANT_TRACKS and sum(len(w) - 1 for w in windows) >= features / 4


def needs_tagger(kind: str) -> bool:
    return any(spec.source == TAGGER for spec in BLOCKS[kind])


def stored_parts(library, model: str, kind: str, ids=None) -> tuple[np.ndarray, list[np.ndarray]]:
    """(track ids, one raw matrix per block of the representation): non-missing tracks (of `ids`
    when given) that have every analysis it reads (none when it needs the tagger and none is installed)."""
    if kind not in BLOCKS:
        raise ValueError(f"unknown representation {kind!r}; one of {', '.join(KINDS)}")
    tagger = library.tagger_key() if needs_tagger(kind) else None
    if needs_tagger(kind) and tagger is None:
        return np.zeros(0, np.int64), [np.zeros((0, 0), np.float32) for _ in BLOCKS[kind]]
    sources = {GENRE: model, TAGGER: tagger}
    loaded: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
    for spec in BLOCKS[kind]:
        for name in spec.kinds:
            key = (spec.source, name)
            if key not in loaded:
                loaded[key] = library.embeddings(sources[spec.source], name, ids=ids)
    ids = next(iter(loaded.values()))[0]
    for other, _ in loaded.values():  # a scan may save an analysis between two reads: keep tracks in all
        if not np.array_equal(ids, other):
            ids = np.intersect1d(ids, other)
    if not len(ids):
        return ids, [np.zeros((0, 0), np.float32) for _ in BLOCKS[kind]]
    rows = {k: m if np.array_equal(i, ids) else m[np.searchsorted(i, ids)] for k, (i, m) in loaded.items()}
    return ids, [np.hstack([rows[(spec.source, n)] for n in spec.kinds]) for spec in BLOCKS[kind]]


_kind_cache: dict[tuple, tuple[int, str]] = {}


def default_kind(library, model: str) -> str:
    """MUSICNN_KIND when the tagger (MusiCNN) has analysed every track the genre model has, else
    BBNN_KIND: a library scanned before MusiCNN keeps today's representation until its rescan has
    heard every track, so neighbours never come from two different spaces."""
    tagger = library.tagger_key()
    if tagger is None:
        return BBNN_KIND
    version = library.data_version()
    key = (str(library.path), model, tagger)
    cached = _kind_cache.get(key)
    if cached is not None and cached[0] == version:
        return cached[1]
    # the answer is saved beside the matrices: counting coverage joins every analysis (0.15 s at 100k)
    saved = _saved_path(library, model, "default kind", tagger).with_suffix(".json")
    stamp = _library_stamp(library)
    kind = _load_kind(saved, version, stamp)
    if kind is None:
        analysed, covered = library.analysis_coverage(model, tagger)
        kind = MUSICNN_KIND if analysed and covered == analysed else BBNN_KIND
        _write_atomically(saved, lambda tmp: tmp.write_text(json.dumps({"version": version, "stamp": stamp, "kind": kind})))
    _kind_cache[key] = (version, kind)
    return kind


def _load_kind(path: Path, version: int, stamp: int) -> str | None:
    try:
        saved = json.loads(path.read_text())
        fresh = saved["version"] == version and saved["stamp"] == stamp and saved["kind"] in (BBNN_KIND, MUSICNN_KIND)
        return saved["kind"] if fresh else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def features(library, model: str, kind: str) -> tuple[np.ndarray, np.ndarray, Basis]:
    """(track ids, unit rows, the basis fitted on them) of a representation."""
    ids, parts = stored_parts(library, model, kind)
    basis = fit_basis(kind, parts, stored_windows(library, model, kind)) if len(ids) else Basis(kind)
    return ids, basis.apply(parts) if len(ids) else np.zeros((0, 0), np.float32), basis


@dataclass
class VectorIndex:
    ids: np.ndarray  # (N,) track ids, ascending
    matrix: np.ndarray  # (N, D) unit rows
    version: int

    def rows(self, track_ids) -> np.ndarray:
        pos = np.searchsorted(self.ids, track_ids)
        pos = np.clip(pos, 0, max(len(self.ids) - 1, 0))
        found = (self.ids[pos] == np.asarray(track_ids)) if len(self.ids) else np.zeros(len(pos), bool)
        if not found.all():
            missing = np.asarray(track_ids)[~found].tolist()
            raise KeyError(f"tracks not analysed by this model: {missing}")
        return pos


_cache: dict[tuple, VectorIndex] = {}
_lock = threading.Lock()


def vector_index(library, model: str, kind: str | None = None) -> VectorIndex:
    """The normalised matrix of a representation (None: the library's default), rebuilt only when
    the analyses changed.

    Kept in memory and on disk (the data home's cache/vectors), so a command in a new process
    answers from the saved matrix instead of reading and fitting every track again.
    """
    kind = kind or default_kind(library, model)
    version = library.data_version()
    key = (str(library.path), model, kind, library.tagger_key() if needs_tagger(kind) else None)
    with _lock:
        cached = _cache.get(key)
        if cached is not None and cached.version == version:
            return cached
    stamp = _library_stamp(library)
    saved = _saved_path(library, model, kind, key[3])
    index = _load_saved(saved, version, stamp)
    if index is None:
        ids, matrix, _ = features(library, model, kind)
        index = VectorIndex(ids, matrix, version)
        _save(saved, index, stamp)
    with _lock:
        _cache[key] = index
    return index


def _library_stamp(library) -> int:
    """Tells a database file from another one at the same path (a deleted and rebuilt library)."""
    try:
        return os.stat(library.path).st_ino
    except (OSError, TypeError):
        return 0


def _saved_path(library, model: str, kind: str, tagger: str | None) -> Path:
    """Where a saved matrix's metadata goes (its rows lie beside it, see `_save`): one per library,
    model, representation (and its blocks, so a representation whose definition changed is never
    answered from a file of the old one) and tagger."""
    from app.home import cache_dir

    blocks = repr(BLOCKS.get(kind))
    text = "\0".join([os.path.abspath(str(library.path)), model, kind, blocks] + ([tagger] if tagger else []))
    key = hashlib.sha1(text.encode()).hexdigest()[:20]
    return cache_dir() / "vectors" / f"{key}.npz"


def _rows_path(path: Path, token: str) -> Path:
    return path.with_name(f"{path.stem}-{token}.npy")


def _load_saved(path: Path, version: int, stamp: int) -> VectorIndex | None:
    """The saved index, its matrix memory-mapped (a new process reads only what a query touches)."""
    try:
        with np.load(path) as saved:
            if int(saved["version"]) != version or int(saved["stamp"]) != stamp:
                return None
            ids, token = saved["ids"], str(saved["rows"])
        matrix = np.load(_rows_path(path, token), mmap_mode="r")
        if matrix.ndim != 2 or len(matrix) != len(ids) or matrix.dtype != np.float32:
            return None
        return VectorIndex(ids, matrix, version)
    except (OSError, ValueError, KeyError, EOFError):  # absent, damaged or from another layout: rebuild
        return None


def _save(path: Path, index: VectorIndex, stamp: int) -> None:
    """The rows to a file of their own (a fresh name: a mapped file is never overwritten), then the
    metadata naming it; older row files of this index are removed."""
    token = os.urandom(6).hex()
    rows = _rows_path(path, token)
    if not _write_atomically(rows, lambda tmp: np.save(tmp, np.ascontiguousarray(index.matrix, np.float32))):
        return
    if not _write_atomically(path, lambda tmp: np.savez(tmp, ids=index.ids, rows=token, version=index.version,
                                                        stamp=stamp)):
        rows.unlink(missing_ok=True)
        return
    for old in path.parent.glob(f"{path.stem}-*.npy"):
        if old != rows:
            _remove(old)
    prune_saved(path.parent, keep=SAVED_KEPT)


SAVED_KEPT = 8  # saved matrices kept per data home (a library has one per model and representation)


def prune_saved(folder: Path, keep: int) -> None:
    """Remove all but the `keep` most recently written saved matrices, and rows files whose metadata
    is gone: representations no longer used, deleted libraries and older cache layouts would
    otherwise stay on disk for good (about 100 MB per 100k-track matrix)."""
    metas, kinds = _newest_first(folder, "*.npz"), _newest_first(folder, "*.json")
    if metas is None or kinds is None:
        return
    for stale in metas[keep:] + kinds[keep:]:  # kinds: the saved "default kind" answers, one per library and model
        _remove(stale)
    kept = {p.stem for p in metas[:keep]}
    for rows in folder.glob("*-*.npy"):
        if not rows.name.startswith(".") and rows.stem.rsplit("-", 1)[0] not in kept:  # "." : another's write
            _remove(rows)


def _newest_first(folder: Path, pattern: str) -> list[Path] | None:
    """The files matching `pattern`, most recently written first ("."-names: another's write under
    way); None when the folder cannot be listed or a file vanished meanwhile (the next save prunes)."""
    try:
        return sorted((p for p in folder.glob(pattern) if not p.name.startswith(".")),
                      key=lambda p: p.stat().st_mtime, reverse=True)
    except OSError:
        return None


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except OSError:  # still mapped by another process (Windows), or already gone: a later save retries
        pass


def _write_atomically(path: Path, write) -> bool:
    """write(tmp) then rename over `path`; False (and nothing left behind) on a full or read-only data home."""
    tmp = path.with_name(f".{path.stem}.{os.getpid()}-{threading.get_ident()}.tmp{path.suffix}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write(tmp)
        os.replace(tmp, path)
        return True
    except OSError:  # the next command computes it again
        tmp.unlink(missing_ok=True)
        return False
