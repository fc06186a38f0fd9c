"""A scan reader process that dies like a native crash (SIGKILL) in the middle of one file.

Scan tests point app.library.scan.pool.worker_main here; spawned workers import this module
(the tests folder is on sys.path, which multiprocessing passes on), so the fault happens in the
real worker process, after the file's first chunk of features went to the scan.
"""

import os
import signal

from app.library.scan import pool, reader

VICTIM = "crash-me"


def worker_main(conn, parent_pid, known_fingerprints):
    features = reader._features

    def dying_features(job, starts, front_ends):
        for n, chunk in enumerate(features(job, starts, front_ends)):
            yield chunk
            if VICTIM in os.path.basename(job.path):
                os.kill(os.getpid(), signal.SIGKILL)

    reader._features = dying_features
    pool.worker_main(conn, parent_pid, known_fingerprints)


def raising_worker_main(conn, parent_pid, known_fingerprints):
    """A worker whose read code raises (a bug, not a native crash) on the victim's tags."""
    read_tags = reader.read_meta

    def failing_read_meta(job, known):
        if VICTIM in os.path.basename(job.path):
            raise KeyError("tag table out of step")
        return read_tags(job, known)

    reader.read_meta = failing_read_meta
    pool.worker_main(conn, parent_pid, known_fingerprints)
