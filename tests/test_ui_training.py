"""The Training tab trains a tiny run off the GUI thread, shows curves and the confusion matrix,
lists the run, stops cleanly, and activates the trained model."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox

from audio_factory import make_track
from app.ui.training_tab import TrainingTab


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("uids")
    for kind in ("tones", "noise"):
        (root / kind).mkdir()
        for i in range(8):
            make_track(root / kind / f"{kind}.{i:05d}.wav", kind, seconds=2.0, seed=i)
    return root


def _tiny(tab: TrainingTab, folder: Path, epochs: int) -> None:
    tab.folder_edit.setText(str(folder))
    tab.protocol.setCurrentText("holdout")
    tab.epochs.setValue(epochs)
    tab.batch.setValue(4)
    tab.clip.setValue(1.5)
    tab.bn.setValue(0.1)
    tab.precision.setCurrentText("fp32")


def test_tab_trains_shows_results_and_uses_model(qtbot, tiny_dir, monkeypatch):
    from app.home import model_store

    tab = TrainingTab()
    qtbot.addWidget(tab)
    _tiny(tab, tiny_dir, 2)
    tab.model_name.setText("ui-model")
    tab.start_button.click()
    assert tab.busy and not tab.start_button.isEnabled()
    qtbot.waitUntil(lambda: not tab.busy and tab.start_button.isEnabled(), timeout=120_000)
    assert tab.status.text().startswith("Finished"), tab.status.text()
    assert len(tab.curves.rows) == 2
    assert [r["lr"] for r in tab.curves.rows] == [0.01, 0.01]
    assert len(tab.curves.curves["val_acc"].getData()[0]) == 2
    assert tab.confusion.matrix.shape == (2, 2) and tab.confusion.matrix.sum() == 2  # 10 % of 16 clips
    assert tab.confusion.classes == ["noise", "tones"]
    assert tab.runs_table.rowCount() == 1 and tab.runs_table.item(0, 1).text() == "finished"
    assert tab.runs_table.item(0, 3).text().endswith("%")
    assert tab.from_model.findData("ui-model") >= 0

    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a) or QMessageBox.StandardButton.Yes)
    tab.runs_table.selectRow(0)
    with qtbot.waitSignal(tab.reanalyse_requested) as sig:
        tab.use_button.click()
    assert sig.args == ["ui-model"] and len(asked) == 1
    assert model_store().active_name() == "ui-model"


def test_stop_and_close_leave_a_resumable_run(qtbot, tiny_dir):
    from app.home import runs_dir
    from model.train.loop import list_runs

    tab = TrainingTab()
    qtbot.addWidget(tab)
    _tiny(tab, tiny_dir, 500)
    tab.start_button.click()
    qtbot.waitUntil(lambda: len(tab.curves.rows) >= 1, timeout=120_000)
    tab.stop_button.click()
    qtbot.waitUntil(lambda: not tab.busy, timeout=60_000)
    assert tab.status.text().startswith("Stopped"), tab.status.text()
    [run] = list_runs(runs_dir())
    assert run.state()["status"] == "stopped" and run.history(0)

    done = len(run.history(0))
    tab.runs_table.selectRow(0)
    tab.resume_button.click()
    assert tab.busy and len(tab.curves.rows) == done  # the run's curves so far
    qtbot.waitUntil(lambda: len(tab.curves.rows) > done, timeout=120_000)
    tab.close()  # closing stops the run cleanly
    assert not tab.busy
    assert run.state()["status"] == "stopped" and len(run.history(0)) > done


def test_start_without_folder_explains(qtbot):
    tab = TrainingTab()
    qtbot.addWidget(tab)
    tab.start_button.click()
    assert not tab.busy and "folder" in tab.status.text()
    tab.folder_edit.setText("/nonexistent/folder")
    tab.start_button.click()
    qtbot.waitUntil(lambda: not tab.busy, timeout=30_000)
    assert "not a folder" in tab.status.text()


def test_use_model_leaves_the_offer_to_a_connected_window(qtbot, tiny_dir, monkeypatch):
    from app.home import model_store
    from model.train.datasets import scan_folder
    from model.train.loop import TrainConfig, create_run, train_run
    from app.home import cache_dir, models_dir, runs_dir

    cfg = TrainConfig(protocol="holdout", epochs=1, batch_size=4, clip_seconds=1.5, precision="fp32", model_name="m1")
    train_run(create_run(runs_dir(), cache_dir(), scan_folder(tiny_dir), cfg), models_dir(), cache_dir())
    tab = TrainingTab()
    qtbot.addWidget(tab)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: pytest.fail("the window asks, not the tab"))
    got = []
    tab.model_activated.connect(got.append)
    tab.runs_table.selectRow(0)
    tab.use_button.click()
    assert got == ["m1"] and model_store().active_name() == "m1"
