"""The MusiCNN ear: BBNN's windows heard again by MusiCNN, stored as a second analysis per track.

The scan's windows follow BBNN (the first ear); this ear takes the same decoded windows at
16 kHz, cuts each into MusiCNN's 3-s patches (`PATCHES_PER_WINDOW` of the 10, one at the centre
of each equal part of the window), runs them in batches and stores one `analyses` row under
MusiCNN's weights digest: the patch starts, per-patch tag probabilities (50 MSD tags; their mean
is the track's tags), the 200-d penultimate embedding (mean and std over patches, and every
patch's in `window_vectors`) and the 200-d dense layer (mean and max).
Patches that would reach into the zero padding of a track shorter than its window are dropped.
"""

from __future__ import annotations

import numpy as np

from .ears import LoadedEar

# How many of each 30-s window's ten 3-s patches MusiCNN hears (None: all ten): 3, the centres of
# its thirds (patches 1, 4 and 8), so 9 per track with BBNN's three windows. Measured
# (bench/similarity_eval.py --list, real music, the default representation as `similar` ranks):
# P@5 0.664 / 0.894 / 0.962 / 0.523 on the README's four sets against 0.645 / 0.854 / 0.955 /
# 0.523 for the first, fifth and last patch (the choice before); on average five fixed choices of 3
# that avoid a window's first and last patch beat five that keep one by 0.01-0.025 on three of the
# sets and tie on the fourth. All ten patches cost 3.3x as much and scored no better; 1 per window
# lost 0.06.
PATCHES_PER_WINDOW: int | None = 3


class MusicnnEar(LoadedEar):
    """The Ear interface of app/library/scan/ears.py for the MusiCNN tagger."""

    gpu_batch_windows = 16

    def __init__(self, manifest, load, clip_seconds: float, device: str | None = None, precision: str = "auto",
                 batch_windows: int | None = None, keep: int | None = PATCHES_PER_WINDOW) -> None:
        from model.musicnn_inference import PatchFrontEnd

        super().__init__(manifest, load, device, precision, batch_windows)
        self.patches = PatchFrontEnd(manifest.musicnn_spec, keep)
        self.front_end = (PatchFrontEnd.kind, self.patches.to_dict())
        self.clip_seconds = clip_seconds

    def _predictor_for(self, model):
        from model.musicnn_inference import MusicnnPredictor

        return MusicnnPredictor(model, device=self._device, precision=self._precision)

    def infer(self, features: np.ndarray) -> dict[str, np.ndarray]:
        """features (windows, k, 187, 96) -> per window (windows, k, width) for taggram, penultimate, dense."""
        out = self.predictor.run(features)
        return {"taggram": out["taggram"], "penultimate": out["penultimate"], "dense": out["dense"]}

    def store(self, library, track_id: int, starts: list[float], outputs: dict[str, np.ndarray],
              seconds: float) -> None:
        window_samples = int(round(self.clip_seconds * self.patches.sample_rate))
        patch_starts = (np.asarray(starts, np.float64)[:, None] + self.patches.offsets(window_samples)[None]).ravel()
        track = library.track(track_id) or {}
        keep = heard(patch_starts, track.get("duration"), self.patches.spec.patch_samples / self.patches.sample_rate)
        flat = {k: v.reshape(-1, v.shape[-1])[keep] for k, v in outputs.items()}
        library.save_analysis(track_id, self.key, patch_starts[keep], flat["taggram"], flat["penultimate"],
                              flat["dense"], seconds, classes=self.manifest.classes)


def heard(patch_starts: np.ndarray, duration: float | None, patch_seconds: float) -> np.ndarray:
    """Mask of patches wholly inside the audio (the first one always, so a very short track still has tags)."""
    if not duration:
        return np.ones(len(patch_starts), bool)
    keep = patch_starts + patch_seconds <= duration + 1e-3
    if len(keep) and not keep.any():
        keep[0] = True
    return keep


def musicnn_ear(store, clip_seconds: float, device: str | None = None, precision: str = "auto",
                batch_windows: int | None = None) -> MusicnnEar | None:
    """The store's MusiCNN as an ear, or None when it is not installed."""
    manifest = store.musicnn()
    if manifest is None:
        return None
    if getattr(manifest, "weights_sha256", None) is None:
        manifest = store.load_musicnn(manifest.name)[1]
    return MusicnnEar(manifest, store.load_musicnn, clip_seconds, device, precision, batch_windows)
