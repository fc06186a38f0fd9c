"""Generate real audio files for tests and benchmarks: synthetic music-like signals, encoded with PyAV.

`synth(kind, seconds)` makes a signal of one of a few clearly different styles; `write_audio`
encodes any mono signal to mp3, flac, ogg (vorbis), opus, m4a (aac), alac, wav, aiff or wma,
optionally with tags (mutagen).
"""

from __future__ import annotations

from pathlib import Path

from fractions import Fraction

import numpy as np

SR = 22050
# container format, codec, sample format, rate
FORMATS = {
    "mp3": ("mp3", "libmp3lame", "fltp", 44100),
    "flac": ("flac", "flac", "s16", 44100),
    "ogg": ("ogg", "vorbis", "fltp", 44100),
    "opus": ("ogg", "libopus", "flt", 48000),
    "m4a": ("ipod", "aac", "fltp", 44100),
    "alac": ("ipod", "alac", "s16p", 44100),
    "wav": ("wav", "pcm_s16le", "s16", 22050),
    "aiff": ("aiff", "pcm_s16be", "s16", 44100),
    "wma": ("asf", "wmav2", "fltp", 44100),
}
STYLES = ["tones", "noise", "clicks", "chords"]


def synth(kind: str, seconds: float, sr: int = SR, seed: int = 0) -> np.ndarray:
    """A few seconds of a clearly recognisable texture, float32 in [-1, 1]."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    if kind == "tones":  # slow sine melody
        notes = 220 * 2 ** (rng.integers(0, 12, size=max(1, int(seconds * 2) + 1)) / 12)
        f = np.repeat(notes, int(sr / 2) + 1)[:n]
        y = 0.5 * np.sin(2 * np.pi * np.cumsum(f) / sr)
    elif kind == "noise":  # loud broadband noise, rock-ish wall of sound
        y = 0.4 * rng.standard_normal(n)
    elif kind == "clicks":  # percussive: decaying bursts at 120 bpm
        y = np.zeros(n)
        env = np.exp(-np.arange(int(0.08 * sr)) / (0.01 * sr))
        for start in range(0, n, int(0.5 * sr)):
            seg = env[: n - start] * rng.standard_normal(min(len(env), n - start))
            y[start:start + len(seg)] += 0.8 * seg
    elif kind == "chords":  # sustained low chords with a bass line
        y = sum(0.2 * np.sin(2 * np.pi * f * t) for f in (110, 138.6, 164.8)) + 0.3 * np.sin(2 * np.pi * 55 * t)
    elif kind == "silence":
        y = np.zeros(n)
    else:
        raise ValueError(kind)
    return np.clip(y, -1, 1).astype(np.float32)


def write_audio(path: str | Path, samples: np.ndarray, sr: int = SR, fmt: str | None = None,
                tags: dict[str, str] | None = None, channels: int = 1) -> Path:
    """Encode `samples` (mono float32) to `path`; the format comes from `fmt` or the suffix."""
    import av

    path = Path(path)
    fmt = fmt or path.suffix.lstrip(".").lower()
    container_fmt, codec, sample_fmt, rate = FORMATS[fmt]
    if rate != sr:
        import soxr

        samples = soxr.resample(samples, sr, rate).astype(np.float32)
    if codec == "vorbis":
        channels = 2  # FFmpeg's Vorbis encoder only writes stereo
    layout = "mono" if channels == 1 else "stereo"
    data = np.tile(samples[None, :], (channels, 1)).astype(np.float32)
    with av.open(str(path), "w", format=container_fmt) as out:
        stream = out.add_stream(codec, rate=rate, layout=layout)
        if codec in ("libmp3lame", "wmav2"):
            stream.bit_rate = 128_000
        if codec == "vorbis":  # FFmpeg's own Vorbis encoder is flagged experimental
            stream.codec_context.options = {"strict": "experimental"}
        frame_size = 4096
        for i in range(0, data.shape[1], frame_size):
            chunk = data[:, i:i + frame_size]
            if sample_fmt.startswith("s16"):
                chunk = (np.clip(chunk, -1, 1) * 32767).astype(np.int16)
            if not sample_fmt.endswith("p") and sample_fmt != "fltp":
                chunk = chunk.T.reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format=sample_fmt, layout=layout)
            frame.sample_rate = rate
            frame.pts = i
            frame.time_base = Fraction(1, rate)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    if tags:
        write_tags(path, tags)
    return path


def write_tags(path: Path, tags: dict[str, str]) -> None:
    """title, artist, album, albumartist, genre, date, tracknumber via mutagen's easy interface."""
    import mutagen

    f = mutagen.File(str(path), easy=True)
    if f is None:
        return
    if f.tags is None:
        f.add_tags()
    for key, value in tags.items():
        f[key] = value
    f.save()


def make_track(path: str | Path, kind: str = "tones", seconds: float = 35.0, seed: int = 0,
               tags: dict[str, str] | None = None) -> Path:
    return write_audio(path, synth(kind, seconds, seed=seed), tags=tags)
