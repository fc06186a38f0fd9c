"""The Training tab trains a tiny run off the GUI thread, shows curves and the confusion matrix,
lists the run, stops cleanly, evaluates and deletes runs, suggests settings, estimates the time,
and activates the trained model (after a warning when it is near chance)."""

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
    tab.precision.setCurrentText("fp32")


def test_tab_trains_shows_results_and_uses_model(qtbot, tiny_dir, monkeypatch):
    from app.home import model_store, runs_dir

    tab = TrainingTab()
    qtbot.addWidget(tab)
    _tiny(tab, tiny_dir, 2)
    tab.model_name.setText("ui-model")
    activity = []
    tab.activity.connect(lambda *a: activity.append(a))
    tab.start_button.click()
    assert tab.busy and not tab.start_button.isEnabled()
    qtbot.waitUntil(lambda: not tab.busy and tab.start_button.isEnabled(), timeout=120_000)
    assert tab.status.text().startswith("Finished"), tab.status.text()
    assert "per epoch on cpu (fp32)" in tab.estimate.text()
    assert any("left" in a[0] and a[3] >= 0 for a in activity) and activity[-1][2] < 0  # ETA, then the end
    assert len(tab.curves.rows) == 2
    assert [r["lr"] for r in tab.curves.rows] == [0.01, 0.01]
    assert len(tab.curves.curves[(0, "val_acc")].getData()[0]) == 2
    assert tab.confusion.matrix.shape == (2, 2) and tab.confusion.matrix.sum() == 2  # 10 % of 16 clips
    assert tab.confusion.classes == ["noise", "tones"]
    assert tab.runs_table.rowCount() == 1 and tab.runs_table.item(0, 1).text() == "finished"
    assert tab.runs_table.item(0, 3).text().endswith("%")
    assert tab.from_model.findData("ui-model") >= 0

    tab.runs_table.selectRow(0)
    tab.evaluate_selected(str(tiny_dir))
    qtbot.waitUntil(lambda: "accuracy" in tab.status.text(), timeout=60_000)
    assert "ui-model on" in tab.status.text() and "(16 files)" in tab.status.text()
    assert tab.confusion.matrix.sum() == 16 and tab.confusion.title.startswith(tiny_dir.name)

    warned, asked = [], []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: warned.append(a) or QMessageBox.StandardButton.No)
    tab.use_button.click()  # 2 test clips cannot vouch for a model: warned, and No keeps it inactive
    assert len(warned) == 1 and "chance" in warned[0][2] and model_store().active_name() is None
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: QMessageBox.StandardButton.Yes)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a) or QMessageBox.StandardButton.Yes)
    with qtbot.waitSignal(tab.reanalyse_requested) as sig:
        tab.use_button.click()
    assert sig.args == ["ui-model"] and len(asked) == 1
    assert model_store().active_name() == "ui-model"

    run_id = tab.selected_run()
    tab.delete_button.click()
    assert not (runs_dir() / run_id).exists() and tab.runs_table.rowCount() == 0
    assert "ui-model" in model_store().names()  # the model stays


def test_suggestions_splits_field_and_estimate(qtbot, tiny_dir):
    tab = TrainingTab()
    qtbot.addWidget(tab)
    tab.protocol.setCurrentText("paper")
    assert tab.folds.isEnabled() and not tab.valid.isEnabled()
    tab.folder_edit.setText(str(tiny_dir))
    tab.suggest()
    assert tab.protocol.currentText() == "holdout" and tab.epochs.value() == 30 and tab.valid.value() == 0.2
    assert not tab.folds.isEnabled() and tab.valid.isEnabled() and "16 files" in tab.note.text()
    tab.clip.setValue(1.0)
    tab.precision.setCurrentText("fp32")
    tab.estimate_time()
    qtbot.waitUntil(lambda: "per epoch" in tab.estimate.text(), timeout=60_000)
    assert tab.estimate.text().startswith("16 files: about") and "30 epochs x 1 split" in tab.estimate.text()


def test_curves_show_every_split_and_single_points(qtbot):
    from app.ui.training_plots import CurvesView

    view = CurvesView()
    qtbot.addWidget(view)
    row = {"epoch": 0, "loss": 1.0, "acc": 0.5, "val_loss": 1.2, "val_acc": 0.4, "lr": 0.01}
    view.set_folds({0: [row], 3: [row, {**row, "epoch": 1, "loss": 0.5}]})
    one = view.curves[(0, "loss")]
    assert one.opts["symbol"] == "o" and len(one.getData()[0]) == 1  # one epoch is one visible point
    assert len(view.curves[(3, "loss")].getData()[0]) == 2
    assert one.opts["pen"].color() != view.curves[(3, "loss")].opts["pen"].color()
    view.add(3, {**row, "epoch": 1, "loss": 0.4})  # a resumed epoch replaces its row
    assert view.curves[(3, "loss")].getData()[1].tolist() == [1.0, 0.4]


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


def test_busy_lasts_until_the_runs_outcome_is_shown(qtbot):
    tab = TrainingTab()
    qtbot.addWidget(tab)
    tab.folder_edit.setText("/nonexistent/folder")
    tab.start_button.click()
    assert tab.thread.wait(30_000)  # the thread is done; its last signals wait for the event loop
    assert tab.busy and "not a folder" not in tab.status.text()
    qtbot.waitUntil(lambda: not tab.busy, timeout=30_000)
    assert "not a folder" in tab.status.text() and tab.start_button.isEnabled()


def test_use_model_leaves_the_offer_to_a_connected_window(qtbot, tiny_dir, monkeypatch):
    from app.home import model_store
    from model.train.datasets import scan_folder
    from model.train.loop import TrainConfig, create_run, train_run
    from app.home import cache_dir, models_dir, runs_dir

    cfg = TrainConfig(protocol="holdout", epochs=1, batch_size=4, clip_seconds=1.5, precision="fp32", model_name="m1")
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: QMessageBox.StandardButton.Yes)  # near chance
    train_run(create_run(runs_dir(), cache_dir(), scan_folder(tiny_dir), cfg), models_dir(), cache_dir())
    tab = TrainingTab()
    qtbot.addWidget(tab)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: pytest.fail("the window asks, not the tab"))
    got = []
    tab.model_activated.connect(got.append)
    tab.runs_table.selectRow(0)
    tab.use_button.click()
    assert got == ["m1"] and model_store().active_name() == "m1"


def test_a_run_shows_in_the_status_bar_and_its_cancel_stops_it(qtbot):
    from app.ui.main_window import MainWindow

    w = MainWindow()
    qtbot.addWidget(w)
    tab = w.training_view.ensure_built()

    class Running:  # stands for a TrainThread in the middle of a run
        stops = 0

        def isRunning(self):
            return True

        def request_stop(self):
            Running.stops += 1

    tab.thread = Running()
    tab.activity.emit("Split 1/1, epoch 2/30: batch 3/4", 3.0, 4.0, 95.0)
    assert w.cancel.isVisibleTo(w) and w.progress.isVisibleTo(w) and "epoch 2/30" in w.message.text()
    assert "1 min" in w.eta.text()
    w.cancel.click()
    assert Running.stops == 1
    tab.thread = None
    tab.activity.emit("Stopped. Select run x and press Resume to continue.", 0.0, -1.0, -1.0)
    assert not w.cancel.isVisibleTo(w) and w.message.text().startswith("Stopped")


def test_the_window_builds_and_shows_the_tab_when_it_is_opened(qtbot):
    from app.ui.main_window import MainWindow

    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    w.show_view("training")
    qtbot.waitUntil(lambda: w.training_view.widget is not None, timeout=30_000)
    assert isinstance(w.training_view.widget, TrainingTab) and w.training_view.widget.isVisible()


def test_lazy_tab_imports_off_the_gui_thread_then_builds_on_it(qtbot):
    import threading
    import time

    from PySide6.QtWidgets import QLabel

    from app.ui.lazy_tab import LazyTab

    seen = {}

    def preload():
        seen["preload"] = threading.current_thread() is threading.main_thread()
        time.sleep(0.2)  # a slow import: the event loop keeps running meanwhile
        seen["loaded_at"] = time.perf_counter()

    def build():
        seen["build"] = threading.current_thread() is threading.main_thread()
        seen["built_at"] = time.perf_counter()
        return QLabel("built")

    tab = LazyTab(build, preload=preload)
    qtbot.addWidget(tab)
    ticks = []
    tab.show()
    qtbot.waitUntil(lambda: ticks.append(1) or tab.widget is not None, timeout=5000)
    assert seen["preload"] is False and seen["build"] is True
    assert seen["built_at"] >= seen["loaded_at"]
    assert len(ticks) > 3  # the event loop ran while the preload slept
