"""The scan's reading processes (app/library/scan/pool.py), driven directly: the pipe protocol
between the scan and a worker, and what a worker that fails leaves behind."""

import logging
import time

import pytest

from app.library.fingerprint import audio_fingerprint
from app.library.scan import pool
from app.library.scan.pool import Crashed, ReaderPool
from app.library.scan.reader import Decision, Job, Meta
from audio_factory import make_track
from model.audio import probe


def _job(path) -> Job:
    stat = path.stat()
    return Job(str(path), stat.st_size, stat.st_mtime, str(path.parent), 3.0, "default", [], {})


def _messages(reader: ReaderPool, until, seconds: float = 30.0) -> list:
    """Poll the pool, replying 'nothing to decode' to every file waiting for a decision."""
    out: list = []
    deadline = time.monotonic() + seconds
    while not until(out) and time.monotonic() < deadline:
        for message in reader.poll(0.2):
            out.append(message)
            if isinstance(message, Meta) and message.awaiting:
                reader.reply(message.path, Decision([]))
    return out


def test_a_queued_job_is_not_taken_for_the_decision_a_known_file_waits_for(tmp_path):
    # A rescan that adds an ear: every file's audio is known, so the worker waits for a decision
    # after each Meta while the scan has already queued the next job on the same pipe.
    paths = [make_track(tmp_path / f"known{i}.ogg", "tones", 4.0, seed=i) for i in range(3)]
    known = {audio_fingerprint(str(p), probe(p).duration) for p in paths}
    reader = ReaderPool(1, known)
    try:
        for p in paths[:2]:
            reader.submit(_job(p))  # both sit in the pipe before the first Meta comes back
        got = _messages(reader, lambda out: sum(isinstance(m, (Meta, Crashed)) for m in out) >= 2)
        reader.submit(_job(paths[2]))
        got += _messages(reader, lambda out: any(isinstance(m, (Meta, Crashed)) for m in out))
        assert [m for m in got if isinstance(m, Crashed)] == []
        assert [(m.path, m.awaiting) for m in got] == [(str(p), True) for p in paths]
        assert reader.restarts == 0 and not reader.busy()
    finally:
        reader.close()


def test_a_worker_that_raises_says_why_in_the_error_and_the_log(tmp_path, monkeypatch, caplog):
    import crashing_reader

    victim = make_track(tmp_path / f"{crashing_reader.VICTIM}.ogg", "tones", 4.0)
    fine = make_track(tmp_path / "fine.ogg", "chords", 4.0)
    monkeypatch.setattr(pool, "worker_main", crashing_reader.raising_worker_main)
    reader = ReaderPool(1, set())
    try:
        with caplog.at_level(logging.ERROR, logger="app.library.scan.pool"):
            reader.submit(_job(victim))
            reader.submit(_job(fine))
            got = _messages(reader, lambda out: any(isinstance(m, Meta) for m in out))
    finally:
        reader.close()
    [crash] = [m for m in got if isinstance(m, Crashed)]
    assert crash.path == str(victim)
    assert "exit code 1: KeyError: 'tag table out of step'" in crash.detail
    assert [m.path for m in got if isinstance(m, Meta)] == [str(fine)]  # the next worker read the file queued behind
    assert "failing_read_meta" in caplog.text and str(victim) in caplog.text  # the traceback is in the log
