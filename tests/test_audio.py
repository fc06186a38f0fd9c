"""PyAV decoding: every format, seeking to spans, and a clear error for every kind of bad file."""

import os
import tracemalloc

import numpy as np
import pytest

from audio_factory import FORMATS, synth, write_audio
from model.audio import (EmptyAudio, SilentAudio, TooShortAudio, UndecodableAudio, UnreadableAudio,
                         decode_span, decode_windows, probe)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_every_format_decodes_to_mono_22050(tmp_path, fmt):
    path = write_audio(tmp_path / f"t.{fmt}", synth("chords", 8.0), channels=2)
    info = probe(path)
    assert info.duration == pytest.approx(8.0, abs=0.1)
    wave = decode_span(path, 2.0, 3.0)
    assert wave.dtype == np.float32 and wave.ndim == 1
    assert len(wave) == 3 * 22050
    assert 0.05 < float(np.abs(wave).max()) <= 1.01


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_seeked_span_equals_the_same_part_of_a_full_decode(tmp_path, fmt):
    path = write_audio(tmp_path / f"t.{fmt}", synth("tones", 16.0, seed=3))
    full = decode_span(path)
    for at in (3.3, 7.25, 12.3456):
        part = decode_span(path, at, 3.0)
        start = int(round(at * 22050))
        assert len(part) == 3 * 22050
        np.testing.assert_allclose(part, full[start:start + len(part)], atol=2e-3)


def test_mp3_spans_match_librosa(shared_dir):
    import librosa

    path = shared_dir / "bbnn" / "keras-reference" / "Example_Rock.mp3"
    ref, _ = librosa.load(path, sr=22050, mono=True)
    part = decode_span(path, 12.5, 5.0)
    start = int(round(12.5 * 22050))
    assert np.abs(part - ref[start:start + len(part)]).max() < 1e-4


def test_long_file_costs_only_its_windows(tmp_path):
    """A 20-minute file: decoding two 30 s windows never holds the whole file in memory."""
    long = write_audio(tmp_path / "long.opus", synth("noise", 20 * 60.0, seed=1))
    tracemalloc.start()
    waves, starts = decode_windows(long, [300.0, 900.0], 661_794)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert waves.shape == (2, 661_794) and starts == [300.0, 900.0]
    whole_file_bytes = 20 * 60 * 48000 * 4
    assert peak < whole_file_bytes / 4


def test_window_past_the_end_is_dropped_and_short_ones_padded(tmp_path):
    path = write_audio(tmp_path / "t.wav", synth("tones", 40.0))
    waves, starts = decode_windows(path, [0.0, 35.0, 80.0], 661_794)
    assert starts == [0.0, 35.0]
    assert np.all(waves[1, 5 * 22050 + 10:] == 0)


def test_fake_mp3_is_undecodable(tmp_path):
    path = tmp_path / "fake.mp3"
    path.write_bytes(np.random.default_rng(0).bytes(50_000))
    with pytest.raises(UndecodableAudio) as e:
        decode_windows(path, [0.0], 661_794)
    assert e.value.reason == "undecodable"


def test_empty_file(tmp_path):
    path = tmp_path / "empty.flac"
    path.write_bytes(b"")
    with pytest.raises(EmptyAudio):
        probe(path)


def test_missing_file(tmp_path):
    with pytest.raises(UnreadableAudio, match="not found"):
        probe(tmp_path / "gone.mp3")


def test_unreadable_file(tmp_path, monkeypatch):
    path = write_audio(tmp_path / "locked.wav", synth("tones", 3.0))
    path.chmod(0)
    if os.geteuid() == 0:  # root reads whatever the permissions: the file refuses as it would anyone else
        def refuse(*args, **kwargs):
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr("av.open", refuse)
    with pytest.raises(UnreadableAudio, match="permission"):
        probe(path)


def test_too_short_and_silent(tmp_path):
    short = write_audio(tmp_path / "blip.wav", synth("tones", 0.3))
    with pytest.raises(TooShortAudio):
        decode_windows(short, [0.0], 661_794)
    silent = write_audio(tmp_path / "quiet.flac", synth("silence", 5.0))
    with pytest.raises(SilentAudio):
        decode_windows(silent, [0.0], 661_794)


def test_truncated_file_keeps_what_decodes(tmp_path):
    path = write_audio(tmp_path / "t.mp3", synth("chords", 20.0))
    data = path.read_bytes()
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(data[: len(data) // 2])
    wave = decode_span(cut)
    assert 8 * 22050 < len(wave) < 12 * 22050


def test_files_ffmpeg_refuses_fall_back_to_libsndfile(tmp_path, monkeypatch):
    """Some valid Ogg Vorbis files (seen in Debian's hyperrogue-music) are refused by FFmpeg."""
    import soundfile

    from model import audio

    path = tmp_path / "refused.ogg"
    soundfile.write(path, np.stack([synth("tones", 12.0, seed=4)] * 2, axis=1), 22050, format="OGG", subtype="VORBIS")
    expected = decode_span(path, 3.0, 4.0)

    def refuse(p):
        raise UndecodableAudio(p, "not a recognised audio file (Invalid data found when processing input)")

    monkeypatch.setattr(audio, "_open", refuse)
    info = probe(path)
    assert info.duration == pytest.approx(12.0, abs=0.01) and info.codec == "vorbis"
    fallback = decode_span(path, 3.0, 4.0)
    assert len(fallback) == len(expected)
    assert np.abs(fallback - expected).max() < 0.02
    waves, _ = decode_windows(path, [0.0], 661_794)
    assert waves.shape == (1, 661_794)
    fake = tmp_path / "fake.ogg"
    fake.write_bytes(b"OggS" + bytes(4000))
    with pytest.raises(UndecodableAudio):
        probe(fake)
