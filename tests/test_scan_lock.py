"""One scan at a time per library: a second scan says a scan is running (CLI, API and GUI)."""

import os
import subprocess
import sys

import pytest

from app.library.db import Library
from app.library.scan.lock import ScanLock, scan_running
from app.library.scanner import ScanRunning, scan
from audio_factory import make_track


@pytest.fixture
def music(tmp_path):
    root = tmp_path / "music"
    root.mkdir()
    for i, kind in enumerate(["tones", "chords", "clicks"]):
        make_track(root / f"{kind}.ogg", kind, 6.0, seed=i)
    return root


def _cli(home, *args):
    return subprocess.Popen([sys.executable, "-m", "app", *args], env=dict(os.environ, CRATEDIGGER_HOME=str(home)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_second_scan_is_refused_while_one_runs(random_model, music, home):
    lib = Library()
    with ScanLock(lib.path):
        assert scan_running(lib.path)
        with pytest.raises(ScanRunning, match="already running"):
            scan(lib, [music], workers=0)
        out, err = _cli(home, "scan", "--workers", "0", str(music)).communicate(timeout=120)
        assert "already running" in err and "Traceback" not in err
    assert not scan_running(lib.path)
    assert lib.status()["tracks"] == 0
    assert scan(lib, [music], workers=0).analysed == 3


@pytest.mark.slow
def test_two_scans_at_once_analyse_everything_once(random_model, music, home, tmp_path):
    runs = [_cli(home, "scan", "--workers", "0", str(music)) for _ in range(2)]
    results = [(r.wait(timeout=300), r.stderr.read()) for r in runs]
    codes = sorted(code for code, _ in results)
    assert codes in ([0, 0], [0, 1])  # the second either waited its turn out or was told
    if codes == [0, 1]:
        assert any("already running" in err for code, err in results if code == 1)
    lib = Library()
    clean = Library(tmp_path / "clean.sqlite")
    scan(clean, [music], workers=0)
    rows = lambda db: sorted((os.path.basename(r["path"]), r["status"], r["top_genre"]) for r in db.track_rows())  # noqa: E731
    assert rows(lib) == rows(clean)
    assert lib.db.execute("SELECT COUNT(*) FROM analyses").fetchone()[0] == 3
    assert lib.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_the_app_says_a_scan_is_running(random_model, qtbot, home):
    from app.ui.main_window import MainWindow

    window = MainWindow()
    qtbot.addWidget(window)
    with ScanLock(Library().path):
        window.start_scan([])
        assert "already running" in window.message.text()
        assert not window.ctx.tasks.busy
    window.close()
