"""HTTP download with progress, timeout, sha256 check and an atomic finish. No third-party deps."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Callable

ProgressFn = Callable[[int, int | None], None]  # (bytes so far, total or None)
CHUNK = 1 << 16


class DownloadError(Exception):
    """The file could not be fetched or is not what was expected; message is for the user."""


def sha256_of(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def download(url: str, dest: Path, expected_sha256: str | None = None, timeout: float = 30.0,
             progress: ProgressFn | None = None, cancelled: Callable[[], bool] | None = None) -> Path:
    """Fetch `url` to `dest`; `dest` appears only once complete and verified."""
    import socket  # here, not at the top: the read-only commands import this module and never download
    import urllib.error
    import urllib.parse
    import urllib.request

    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    h = hashlib.sha256()
    try:
        req = urllib.request.Request(url, headers={"User-Agent": "cratedigger"})
        with urllib.request.urlopen(req, timeout=timeout) as resp, open(part, "wb") as out:
            total = int(resp.headers.get("Content-Length") or 0) or None
            done = 0
            while True:
                if cancelled and cancelled():
                    raise DownloadError("download cancelled")
                block = resp.read(CHUNK)
                if not block:
                    break
                out.write(block)
                h.update(block)
                done += len(block)
                if progress:
                    progress(done, total)
            if total is not None and done != total:
                raise DownloadError(f"download ended early ({done} of {total} bytes)")
    except urllib.error.HTTPError as e:
        part.unlink(missing_ok=True)
        raise DownloadError(f"the server answered {e.code} {e.reason} for {url}") from None
    except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError) as e:
        part.unlink(missing_ok=True)
        reason = getattr(e, "reason", e)
        raise DownloadError(
            f"could not reach {urllib.parse.urlsplit(url).netloc} ({reason}). "
            "Are you offline? You can also download the file yourself and run "
            "'cratedigger model import FILE'."
        ) from None
    except OSError as e:
        part.unlink(missing_ok=True)
        raise DownloadError(f"could not write {part}: {e.strerror or e}") from None
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    digest = h.hexdigest()
    if expected_sha256 and digest != expected_sha256:
        part.unlink(missing_ok=True)
        raise DownloadError(f"checksum mismatch for {url}: got sha256 {digest[:12]}..., "
                            f"expected {expected_sha256[:12]}...; the file was not used")
    os.replace(part, dest)
    return dest
