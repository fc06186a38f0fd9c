"""Audio fingerprint: identifies a file's audio data across renames, moves and tag edits.

The sha1 of the first 64 compressed audio packets (demuxed, not decoded, so a few milliseconds)
plus the duration rounded to a tenth of a second. Tags live outside the audio packets in every
format we read, so retagging keeps the fingerprint; re-encoding changes it (that is a new file).
"""

from __future__ import annotations

import hashlib

PACKETS = 64


def audio_fingerprint(path: str, duration: float) -> str | None:
    import av

    h = hashlib.sha1()
    try:
        with av.open(path, metadata_errors="ignore") as container:
            stream = container.streams.audio[0]
            n = 0
            for packet in container.demux(stream):
                if packet.size:
                    h.update(bytes(packet))
                    n += 1
                    if n >= PACKETS:
                        break
    except Exception:
        return None
    if n == 0:
        return None
    return f"{h.hexdigest()}:{duration:.1f}"
