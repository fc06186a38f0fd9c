"""Audio decoding with PyAV: any common format to mono float32, one span at a time.

Only the spans asked for are decoded (the container is seeked to each), and `stream_spans`
hands them out a few at a time, so a 3-hour file costs no more memory than a chunk of windows
whatever the window policy. Each span is decoded ONCE at the file's own rate and then resampled
to every rate asked for (22,050 Hz for BBNN, 16 kHz for MusiCNN). Channels are averaged to mono
and resampled with soxr's HQ filter, as `librosa.load` does, so features match the reference
pipeline. Decoded samples that are NaN or infinite make the file undecodable.
"""

from __future__ import annotations

import math
import os
import re
from fractions import Fraction
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

TARGET_SR = 22050
# Extra audio decoded around a span so the resampler's edges fall outside it.
_RESAMPLE_MARGIN_S = 0.1
# Anything shorter than this is no music to classify.
MIN_SECONDS = 1.0
SILENCE_PEAK = 1e-4
# Windows decoded (and handed on) at a time by stream_spans: bounds memory for any window policy.
CHUNK_WINDOWS = 8


class AudioError(Exception):
    """A file that cannot become features. `reason` is a short stable code for the library."""

    reason = "undecodable"

    def __init__(self, path: str | os.PathLike, detail: str) -> None:
        self.path = str(path)
        self.detail = detail
        super().__init__(f"{Path(path).name}: {detail}")


class UnreadableAudio(AudioError):
    reason = "unreadable"


class UndecodableAudio(AudioError):
    reason = "undecodable"


class EmptyAudio(AudioError):
    reason = "empty"


class TooShortAudio(AudioError):
    reason = "too_short"


class SilentAudio(AudioError):
    reason = "silent"


@dataclass(frozen=True)
class AudioInfo:
    duration: float  # seconds, from the container (estimated for some streams)
    sample_rate: int
    channels: int
    codec: str
    container: str
    bit_rate: int | None


def _open(path: str | os.PathLike):
    import av

    p = Path(path)
    if not p.exists():
        raise UnreadableAudio(path, "file not found")
    if not os.access(p, os.R_OK):
        raise UnreadableAudio(path, "permission denied")
    if p.stat().st_size == 0:
        raise EmptyAudio(path, "file is empty (0 bytes)")
    try:
        container = av.open(str(p), metadata_errors="ignore")
    except PermissionError:
        raise UnreadableAudio(path, "permission denied") from None
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as e:
        raise UndecodableAudio(path, f"not a recognised audio file ({_short(e)})") from None
    if not container.streams.audio:
        container.close()
        raise UndecodableAudio(path, "no audio stream in file")
    return container


def _short(e: Exception) -> str:
    """One readable line: FFmpeg's message without its errno and the repeated file name."""
    text = getattr(e, "strerror", None) or str(e)
    text = re.sub(r"^\[Errno -?\d+\]\s*", "", str(text)).split(": '")[0]
    text = text.strip().splitlines()[0][:120] if text.strip() else type(e).__name__
    return text[0].lower() + text[1:] if text else text


def probe(path: str | os.PathLike) -> AudioInfo:
    """Container facts without decoding the whole file."""
    try:
        container = _open(path)
    except UndecodableAudio:
        info = _sf_info(path)
        if info is None:
            raise
        return AudioInfo(duration=info.frames / info.samplerate, sample_rate=info.samplerate, channels=info.channels,
                         codec=info.subtype.lower(), container=info.format.lower(), bit_rate=None)
    with container:
        stream = container.streams.audio[0]
        duration = container.duration / 1_000_000 if container.duration else 0.0
        if duration <= 0 and stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        ctx = stream.codec_context
        return AudioInfo(
            duration=duration,
            sample_rate=int(ctx.sample_rate or 0),
            channels=int(ctx.channels or 0),
            codec=ctx.name,
            container=container.format.name,
            bit_rate=int(container.bit_rate) if container.bit_rate else None,
        )


def _frame_mono(frame) -> np.ndarray:
    """One decoded frame as mono float32 at its own rate (channel mean, like librosa.to_mono)."""
    data = frame.to_ndarray()
    channels = len(frame.layout.channels)
    if not frame.format.is_planar:
        data = data.reshape(-1, channels).T
    if data.dtype.kind == "i":
        data = data.astype(np.float32) / float(np.iinfo(data.dtype).max + 1)
    elif data.dtype.kind == "u":
        info = np.iinfo(data.dtype)
        data = (data.astype(np.float32) - (info.max + 1) / 2) / ((info.max + 1) / 2)
    return data.astype(np.float32, copy=False).mean(axis=0)


def _first_frame_time(container, stream) -> float:
    import av

    try:
        for frame in container.decode(stream):
            if frame.time is not None:
                return float(frame.time)
            break
    except av.error.FFmpegError:
        pass
    return float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0


def _grid_step(rate: int, targets: tuple[int, ...]) -> int:
    """Native samples between instants that fall on every target rate's sample grid."""
    step = 1
    for target in targets:
        step = math.lcm(step, rate // math.gcd(rate, target))
    return step


def _decode_native(container, path, start: float, duration: float | None,
                   targets: tuple[int, ...] = (TARGET_SR,)) -> tuple[np.ndarray, int, float]:
    """Decode [start, start+duration) at the stream's rate. Returns (mono, rate, actual start)."""
    import av

    stream = container.streams.audio[0]
    stream.thread_type = "AUTO"
    seeked = False
    origin = 0.0
    # timestamps coarser than a sample (WMA counts milliseconds) cannot place a span exactly:
    # such streams are decoded from the start instead
    exact_times = stream.time_base is not None and stream.sample_rate and stream.time_base <= Fraction(1, stream.sample_rate)
    if start > 0 and exact_times:
        # frame times count from the first frame's timestamp (which may not be the stream's
        # start_time, e.g. WMA); sample 0 of a decode from the start is that first sample
        origin = _first_frame_time(container, stream)
        try:
            container.seek(int((start + origin) * 1_000_000), backward=True, any_frame=False)
            seeked = True
        except av.error.FFmpegError:
            seeked = False  # not seekable: decode from the start and count samples
    chunks: list[np.ndarray] = []
    rate = 0
    span_start: float | None = None
    pos = 0.0  # running time when frames carry no timestamp
    end = None if duration is None else start + duration
    try:
        for frame in container.decode(stream):
            rate = frame.sample_rate
            t = float(frame.time) - origin if (seeked and frame.time is not None) else pos
            mono = _frame_mono(frame)
            pos = t + len(mono) / rate
            if pos <= start:
                continue
            if span_start is None:
                # start on a sample shared by both rates' grids, so the resampled span lines up
                # exactly with a decode from the beginning of the file
                step = _grid_step(rate, targets)
                first = int(round(t * rate))
                wanted = int(math.floor(start * rate / step)) * step
                if wanted < first:
                    wanted = -(-first // step) * step
                mono = mono[wanted - first:]
                span_start = wanted / rate
            chunks.append(mono)
            if end is not None and pos >= end:
                break
    except av.error.FFmpegError as e:
        if not chunks:
            raise UndecodableAudio(path, f"decoding failed ({_short(e)})") from None
        # a damaged tail: keep what decoded
    except (MemoryError, ValueError) as e:
        raise UndecodableAudio(path, f"decoding failed ({_short(e)})") from None
    if not chunks:
        return np.zeros(0, np.float32), rate or TARGET_SR, start
    samples = np.concatenate(chunks)
    if end is not None:
        samples = samples[: int(math.ceil((end - span_start) * rate))]
    return samples, rate, span_start


def _sf_info(path):
    """libsndfile's view of a file FFmpeg refused (some valid Ogg Vorbis files), or None."""
    try:
        import soundfile

        return soundfile.info(str(path))
    except Exception:
        return None


def _sf_decode(path, start: float, duration: float | None,
               targets: tuple[int, ...] = (TARGET_SR,)) -> tuple[np.ndarray, int, float]:
    import soundfile

    try:
        with soundfile.SoundFile(str(path)) as f:
            rate = f.samplerate
            step = _grid_step(rate, targets)
            first = int(math.floor(max(start, 0.0) * rate / step)) * step
            f.seek(min(first, f.frames))
            frames = -1 if duration is None else int(math.ceil(duration * rate)) + step
            data = f.read(frames, dtype="float32", always_2d=True)
    except (RuntimeError, soundfile.LibsndfileError) as e:
        raise UndecodableAudio(path, f"decoding failed ({_short(e)})") from None
    return data.mean(axis=1), rate, first / rate


def _resample(samples: np.ndarray, rate: int, target: int = TARGET_SR) -> np.ndarray:
    if rate == target or samples.size == 0:
        return samples.astype(np.float32, copy=False)
    import soxr

    return soxr.resample(samples, rate, target, quality="HQ").astype(np.float32, copy=False)


@dataclass
class NativeSpan:
    """A span decoded at the file's own rate, starting `lead` seconds before the span asked for."""

    samples: np.ndarray
    rate: int
    actual_start: float  # seconds: where samples[0] sits in the file
    start: float  # the span asked for
    duration: float | None

    def at(self, target: int) -> np.ndarray:
        """The span resampled to `target` Hz: sample 0 is sample round(start * target) of the file."""
        out = _resample(self.samples, self.rate, target)
        skip = max(0, int(round(self.start * target)) - int(round(self.actual_start * target)))
        out = out[skip:]
        if self.duration is not None:
            out = out[: int(round(self.duration * target))]
        return out


def decode_native(path: str | os.PathLike, start: float = 0.0, duration: float | None = None,
                  targets: tuple[int, ...] = (TARGET_SR,)) -> NativeSpan:
    """Decode a span once at the file's rate, aligned so it resamples exactly to every target rate."""
    lead = min(_RESAMPLE_MARGIN_S, start)
    tail = None if duration is None else duration + lead + _RESAMPLE_MARGIN_S
    try:
        container = _open(path)
    except UndecodableAudio:
        if _sf_info(path) is None:
            raise
        native, rate, actual = _sf_decode(path, start - lead, tail, targets)
    else:
        with container:
            native, rate, actual = _decode_native(container, path, start - lead, tail, targets)
    return NativeSpan(native, rate, actual, start, duration)


def decode_span(path: str | os.PathLike, start: float = 0.0, duration: float | None = None) -> np.ndarray:
    """Mono float32 at 22,050 Hz from `start` seconds, `duration` seconds long (None: to the end).

    May return fewer samples than asked for near the end of the file; never more.
    """
    return decode_native(path, start, duration).at(TARGET_SR)


@dataclass
class SpanChunk:
    """A few decoded windows: their starts and, per sample rate, an array (windows, samples)."""

    starts: list[float]
    waves: dict[int, np.ndarray]


class _SpanChecks:
    """What a whole file's windows must pass: some audio, long enough, not silent, finite."""

    def __init__(self, path) -> None:
        self.path, self.seconds, self.peak, self.kept = path, 0.0, 0.0, 0

    def add(self, span: NativeSpan, wave: np.ndarray, rate: int) -> None:
        """One kept window: its native samples and the same resampled to `rate`."""
        if not np.isfinite(span.samples).all():
            raise UndecodableAudio(self.path, "decoding gave NaN or infinite samples")
        self.kept += 1
        self.seconds += wave.size / rate
        self.peak = max(self.peak, float(np.abs(wave).max()))

    def finish(self, starts: list[float]) -> None:
        if not self.kept:
            if starts and starts[0] > 0:
                raise TooShortAudio(self.path, f"no audio after {starts[0]:.1f} s")
            raise EmptyAudio(self.path, "no audio samples decoded")
        if self.seconds < MIN_SECONDS:
            raise TooShortAudio(self.path, f"only {self.seconds:.2f} s of audio (need {MIN_SECONDS:g} s)")
        if self.peak < SILENCE_PEAK:
            raise SilentAudio(self.path, "the audio is silent")


def stream_spans(path: str | os.PathLike, starts: list[float], seconds: float, rates: tuple[int, ...] = (TARGET_SR,),
                 chunk: int = CHUNK_WINDOWS) -> Iterator[SpanChunk]:
    """Windows of `seconds` at each start, decoded once and resampled to every rate, `chunk` at a time.

    Each window has exactly round(seconds * rate) samples per rate (zero-padded near the end);
    windows that begin past the real end of the audio are dropped. After the last chunk, raises
    EmptyAudio / TooShortAudio / SilentAudio when the file had nothing usable (so a consumer
    keeps results only once the generator is exhausted); NaN or infinite samples raise
    UndecodableAudio at once.
    """
    checks = _SpanChecks(path)
    lengths = {rate: int(round(seconds * rate)) for rate in rates}
    for i in range(0, len(starts), chunk):
        kept: list[float] = []
        waves: dict[int, list[np.ndarray]] = {rate: [] for rate in rates}
        for start in starts[i:i + chunk]:
            span = decode_native(path, start, seconds, tuple(rates))
            resampled = {rate: span.at(rate) for rate in rates}
            if resampled[rates[0]].size == 0:
                continue
            checks.add(span, resampled[rates[0]], rates[0])
            kept.append(float(start))
            for rate in rates:
                waves[rate].append(_fit(resampled[rate], lengths[rate]))
        if kept:
            yield SpanChunk(kept, {rate: np.stack(w) for rate, w in waves.items()})
    checks.finish(starts)


def _fit(wave: np.ndarray, length: int) -> np.ndarray:
    return np.pad(wave, (0, length - wave.size)) if wave.size < length else wave[:length]


def decode_windows(path: str | os.PathLike, starts: list[float], length: int) -> tuple[np.ndarray, list[float]]:
    """Decode one window of `length` samples at each start (seconds), all at once; short ones
    zero-padded. For a few windows (tests, one clip); long files go through `stream_spans`.

    Returns (array (n, length) at 22,050 Hz, the starts kept).
    """
    chunks = list(stream_spans(path, starts, length / TARGET_SR, (TARGET_SR,)))
    waves = np.concatenate([c.waves[TARGET_SR] for c in chunks])
    return waves, [s for c in chunks for s in c.starts]


def require_duration(path: str | os.PathLike, duration: float, min_seconds: float = MIN_SECONDS) -> None:
    if duration <= 0:
        raise EmptyAudio(path, "no audio (duration 0 s)")
    if duration < min_seconds:
        raise TooShortAudio(path, f"only {duration:.2f} s of audio (need {min_seconds:g} s)")
