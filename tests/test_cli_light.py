"""Read-only commands answer without importing torch, scikit-learn or UMAP (they take seconds to load)."""

import json
import subprocess
import sys

import numpy as np
import pytest

from app.home import model_store
from app.library import mapping
from app.library.vectors import principal_axes
from library_factory import CLASSES, MODEL_NAME, grouped_library

HEAVY = ("torch", "sklearn", "umap", "numba", "pynndescent")

# Runs every read-only command in one fresh interpreter and reports, after each, which heavy
# modules it had loaded by then and its exit code.
PROBE = """
import json, sys
from app.cli import main
heavy = {heavy!r}
report = []
for argv in json.loads(sys.argv[1]):
    code = main(argv)
    report.append([argv[0], code, sorted(m for m in heavy if m in sys.modules)])
print(json.dumps(report))
"""


@pytest.fixture
def mapped_library(tmp_path):
    """Five analysed tracks, the test model active (a real, randomly initialised BBNN) and a map."""
    from model.bbnn import BBNN
    from model.store import Manifest

    model_store().save(BBNN(len(CLASSES)), Manifest(name=MODEL_NAME, classes=CLASSES, source="test"), activate=True)
    lib, _ = grouped_library(groups=1, per_group=5)
    lib.record_error("/music/broken.mp3", "undecodable", "not audio")
    mapping.build_map(lib)
    return lib


def test_read_only_commands_import_nothing_heavy(mapped_library, tmp_path):
    lib = mapped_library
    first, last = lib.track(1)["path"], lib.track(5)["path"]
    listing = tmp_path / "tracks.txt"
    listing.write_text(f"{first}\n{last}\n")
    commands = [["status"], ["errors"], ["show", first], ["genres", "--json"], ["similar", "-n", "3", first],
                ["path", "--steps", "2", first, last], ["clusters"],
                ["export-m3u", "--cluster", "0", str(tmp_path / "c.m3u8")],
                ["export-m3u", "--similar", first, str(tmp_path / "s.m3u8")],
                ["export-m3u", "--tracks", str(listing), str(tmp_path / "t.m3u8")]]
    done = subprocess.run([sys.executable, "-c", PROBE.format(heavy=HEAVY), json.dumps(commands)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert [name for name, _, _ in report] == [c[0] for c in commands]
    assert all(code == 0 for _, code, _ in report), report
    assert {name: loaded for name, _, loaded in report if loaded} == {}
    assert (tmp_path / "c.m3u8").read_text().count(".mp3") == 5


@pytest.mark.parametrize("rows, dims, k", [(40, 416, 16), (5000, 48, 16), (600, 416, 16), (7, 20, 6)])
def test_principal_axes_match_scikit_learn(rows, dims, k):
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(rows)
    factors = rng.normal(size=(rows, 20)) * np.linspace(5, 1, 20)  # correlated columns, distinct variances
    x = (factors @ rng.normal(size=(20, dims)) + 0.3 * rng.normal(size=(rows, dims))).astype(np.float32)
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    ours = principal_axes(x, k)
    theirs = PCA(n_components=k, random_state=0).fit(x).components_
    assert ours.shape == theirs.shape
    # the same axes (signs included), and the same projections of the data
    signs = np.sign((ours * theirs).sum(axis=1))
    assert np.all(signs > 0)
    assert np.allclose(x @ ours.T, x @ theirs.T, atol=2e-3 * np.abs(x @ theirs.T).max())
