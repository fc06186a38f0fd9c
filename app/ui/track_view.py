"""The Track panel: tags, cover art, the genre bar chart, MusiCNN's top tags beside it, and the
per-window genre timeline (the previous model's, said so, until the active model has analysed the track).
What it shows (the track's row, its analysis, tags and cover art from the file) is read off the GUI thread."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QFormLayout, QGridLayout, QGroupBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from app.library.fspath import display_path, from_db
from app.library.tags import read_cover

from .context import AppContext
from .library_view import format_duration
from .map_view import palette

FIELDS = [("Title", "title"), ("Artist", "artist"), ("Album", "album"), ("Album artist", "album_artist"),
          ("Tag genre", "tag_genre"), ("Year", "year"), ("Track", "track_no"), ("Duration", "duration"),
          ("Format", "codec"), ("File", "path")]


def _chart(title: str) -> pg.PlotWidget:
    """A fixed (not zoomable) chart on the window's background."""
    chart = pg.PlotWidget(title=title)
    chart.setBackground(None)
    chart.setMouseEnabled(False, False)
    chart.setMinimumHeight(220)
    return chart


class TrackView(QWidget):
    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.track_id: int | None = None
        self.shown: int | None = None  # the track whose details are drawn
        self.heading = QLabel("Select a track in the library or on the map.")
        self.heading.setStyleSheet("font-size: 16pt; font-weight: 600")
        self.cover = QLabel("no cover art")
        self.cover.setFixedSize(220, 220)
        self.cover.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.cover.setStyleSheet("border: 1px solid palette(mid)")
        self.values: dict[str, QLabel] = {}
        form = QFormLayout()
        for label, key in FIELDS:
            value = QLabel("")
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            value.setWordWrap(True)
            self.values[key] = value
            form.addRow(label + ":", value)
        tags_box = QGroupBox("Tags")
        tags_box.setLayout(form)
        self.play = QPushButton("▶ Play")
        self.play.clicked.connect(lambda: self.track_id and ctx.play_requested.emit(self.track_id))
        self.similar = QPushButton("More like this")
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.bars = _chart("Genres (mean over windows)")
        self._duration: float | None = None
        self.tag_bars = _chart("Tags (MusiCNN)")
        self.tag_note = QLabel("")
        self.tag_note.setWordWrap(True)
        self.tag_note.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.timeline = _chart("Genre by window")
        self.timeline.setLabel("bottom", "time (min)")
        top = QHBoxLayout()
        top.addWidget(self.cover)
        top.addWidget(tags_box, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.play)
        buttons.addWidget(self.similar)
        buttons.addWidget(self.status, 1)
        charts = QGridLayout()
        charts.addWidget(self.bars, 0, 0)
        charts.addWidget(self.tag_bars, 0, 1)
        charts.addWidget(self.tag_note, 0, 1)
        charts.addWidget(self.timeline, 1, 0, 1, 2)
        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addLayout(top)
        layout.addLayout(buttons)
        layout.addLayout(charts, 1)
        ctx.track_selected.connect(self.show_track)
        ctx.library_changed.connect(lambda: self.track_id is not None and self.show_track(self.track_id))

    def show_track(self, track_id: int) -> None:
        """Read the track's details in the background; they are drawn when they arrive."""
        self.track_id = track_id
        self.ctx.jobs.submit("track", lambda library: track_details(library, track_id), self._show_details)

    def _show_details(self, details: dict | None) -> None:
        if details is None or details["track"]["id"] != self.track_id:
            return
        track, error, analysis = details["track"], details["error"], details["analysis"]
        self._duration = track["duration"]
        name = track["title"] or Path(display_path(track["path"])).name
        self.heading.setText(" - ".join(x for x in (track["artist"], name) if x))
        broken = error is not None or track.get("missing")
        for _, key in FIELDS:
            value = track.get(key)
            if key == "path":
                value = display_path(value)
            elif key == "duration":
                value = format_duration(value) if value and value > 0 else "unknown"
            elif key == "codec" and broken:
                value = "not readable" if error else value
            self.values[key].setText("" if value is None else str(value))
        self.play.setEnabled(not broken)
        self._show_cover(details["cover"])
        self.bars.clear()
        self.timeline.clear()
        self.bars.getAxis("left").setTicks(None)
        self.timeline.setTitle("Genre by window")
        if track.get("missing"):
            self.status.setText("The file is gone from its folder (a drive unplugged, or moved away).")
        self._draw_tags(details["tags"], details["tagger"])
        self.shown = track["id"]
        if analysis is None:
            if error:
                self.status.setText(f"Not analysed: {error['reason']} – {error['detail']}")
            elif not track.get("missing"):
                self.status.setText("Not analysed yet with the active model.")
            return
        windows = len(analysis["window_starts"])
        if analysis["model"] == self.ctx.model_name:
            self.status.setText(f"Analysed by {analysis['model']} from {windows} windows.")
        else:
            self.status.setText(f"Genres from {analysis['model']} ({windows} windows): {self.ctx.model_name} has not "
                                "analysed this track yet; scan to analyse it.")
        self._draw(analysis)

    def _show_cover(self, data: bytes | None) -> None:
        pix = QPixmap()
        if data and pix.loadFromData(data):
            self.cover.setPixmap(pix.scaled(self.cover.size(), Qt.AspectRatioMode.KeepAspectRatio,
                                            Qt.TransformationMode.SmoothTransformation))
        else:
            self.cover.setPixmap(QPixmap())
            self.cover.setText("no cover art")

    def _draw(self, analysis: dict) -> None:
        classes = analysis["classes"]
        probs = analysis["probs"]
        colours = palette(len(classes))
        order = np.argsort(probs)  # horizontal bars, the strongest genre on top
        y = np.arange(len(classes))
        self.bars.addItem(pg.BarGraphItem(x0=0, y=y, height=0.7, width=probs[order],
                                          brushes=[pg.mkBrush(*colours[i]) for i in order]))
        self.bars.getAxis("left").setTicks([[(k, classes[i]) for k, i in enumerate(order)]])
        self.bars.setXRange(0, 1)
        self.bars.setYRange(-0.6, len(classes) - 0.4)
        # the timeline: one stacked bar per 30 s window, each genre's share in its colour
        starts = analysis["window_starts"] / 60.0
        window_probs = analysis["window_probs"]
        clip = 661_794 / 22050 / 60.0
        lower = np.zeros(len(starts))
        for c, colour in enumerate(colours):
            upper = lower + window_probs[:, c]
            self.timeline.addItem(pg.BarGraphItem(x0=starts, x1=starts + clip, y0=lower, y1=upper,
                                                  brush=pg.mkBrush(*colour), pen=None))
            lower = upper
        end = max(float(starts.max() + clip), (self._duration or 0) / 60.0)
        self.timeline.setXRange(0, end)
        self.timeline.setYRange(0, 1)
        legend_items = [(classes[i], colours[i]) for i in np.argsort(-probs)[:4]]
        self.timeline.setTitle("Genre by window: " +
                               "  ".join(f"<span style='color: rgb{c}'>■ {name}</span>" for name, c in legend_items))

    def _musicnn_installed(self) -> bool:
        try:
            return self.ctx.store.musicnn() is not None
        except Exception:  # a damaged manifest counts as absent here; the Model view says more
            return False

    def _draw_tags(self, top: list[tuple[str, float]], tagger: str | None) -> None:
        """MusiCNN's ten most probable tags as bars, or a line saying why there are none."""
        self.tag_bars.clear()
        if not top:
            if tagger is not None:
                note = "Not tagged yet: scan again to hear it with MusiCNN."
            elif self._musicnn_installed():
                note = "MusiCNN is switched off (Model view): the genre model listens alone."
            else:
                note = ("MusiCNN (mood, style and decade tags) is not installed: get it in the Model view or with "
                        "'cratedigger model fetch musicnn'.")
            self.tag_note.setText(note)
            self.tag_note.show()
            self.tag_bars.hide()
            return
        self.tag_note.hide()
        self.tag_bars.show()
        names = [t for t, _ in top][::-1]  # horizontal bars, the strongest tag on top
        probs = np.array([p for _, p in top][::-1])
        y = np.arange(len(names))
        self.tag_bars.addItem(pg.BarGraphItem(x0=0, y=y, height=0.7, width=probs, brush=pg.mkBrush(90, 140, 200)))
        self.tag_bars.getAxis("left").setTicks([list(enumerate(names))])
        self.tag_bars.setXRange(0, 1)
        self.tag_bars.setYRange(-0.6, len(names) - 0.4)


def track_details(library, track_id: int) -> dict | None:
    """Everything the panel shows about a track (runs on a worker thread): None if it is gone."""
    track = library.track(track_id)
    if track is None:
        return None
    return {"track": track, "error": library.track_error(track_id),
            "analysis": library.latest_analysis(track_id),  # the previous model's until the active one's comes
            "cover": read_cover(from_db(track["path"])), "tags": library.top_tags(track_id, 10),
            "tagger": library.tagger_name()}
