"""The network input's description (`MelSpec`), kept free of torch so manifests can be read cheaply.

Stored in every model manifest; `model.mel.LogMel` computes spectrograms from it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class MelSpec:
    """Everything that determines the network input; stored in every model manifest."""

    sample_rate: int = 22050
    n_fft: int = 2048
    hop_length: int = 1024
    n_mels: int = 128
    clip_samples: int = 661_794
    top_db: float = 80.0
    amin: float = 1e-10
    # SPEC.md (the authors' librosa) pads the STFT by reflection; librosa >= 0.10 pads with zeros.
    # Only the first and last frame differ.
    pad_mode: str = "reflect"

    @property
    def n_frames(self) -> int:
        return 1 + self.clip_samples // self.hop_length

    @property
    def clip_seconds(self) -> float:
        return self.clip_samples / self.sample_rate

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "MelSpec":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})
