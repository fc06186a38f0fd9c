"""Packaging: the wheel carries what the code reads, declared dependencies match the imports,
and `install-desktop` writes a valid menu entry, icon and AppStream metainfo."""

from __future__ import annotations

import ast
import configparser
import email
import os
import re
import shutil
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
import zipfile
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

from app import __version__
from app.cli import main
from app.desktop import APP_ID, exec_quote

REPO = Path(__file__).resolve().parents[1]
RESOURCES = [
    "model/train/gtzan/train_filtered.txt", "model/train/gtzan/valid_filtered.txt",
    "model/train/gtzan/test_filtered.txt", "model/train/gtzan/README.md", "model/train/gtzan/LICENSE",
    f"app/resources/{APP_ID}.svg", f"app/resources/{APP_ID}.desktop", f"app/resources/{APP_ID}.metainfo.xml",
]
# Declared because the code needs them, though nothing imports them by name.
USED_WITHOUT_IMPORT: set[str] = set()


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _names(requirements: list[str]) -> set[str]:
    return {_canonical(re.split(r"[\s<>=!~;\[]", req, maxsplit=1)[0]) for req in requirements}


def _declared() -> tuple[set[str], set[str]]:
    """(the dependencies, the optional ones of the extras)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = project.get("optional-dependencies", {}).values()
    return _names(project["dependencies"]), set().union(*(_names(reqs) for reqs in extras))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel built from a copy of the checkout (so the build leaves nothing in the tree)."""
    src = tmp_path_factory.mktemp("src") / "cratedigger"
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(
        ".venv", ".git", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", ".whl", ".gl", "out"))
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out),
                    str(src)], check=True, capture_output=True, text=True)
    (built,) = out.glob("cratedigger-*.whl")
    return built


def test_wheel_carries_code_resources_and_licences(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    info = f"cratedigger-{__version__}.dist-info"
    assert wheel.name == f"cratedigger-{__version__}-py3-none-any.whl"
    assert set(RESOURCES) <= names, set(RESOURCES) - names
    assert {f"{info}/licenses/LICENSE", f"{info}/licenses/model/train/gtzan/LICENSE"} <= names
    sources = {p.relative_to(REPO).as_posix() for pkg in ("app", "model") for p in (REPO / pkg).rglob("*.py")}
    assert sources <= names, sources - names
    assert {n.split("/")[0] for n in names} == {"app", "model", info}  # no tests/, bench/, resources/
    meta = email.message_from_bytes(zipfile.ZipFile(wheel).read(f"{info}/METADATA"))
    requires = {_canonical(re.split(r"[\s<>=!~;\[(]", r, maxsplit=1)[0]) for r in meta.get_all("Requires-Dist")}
    assert {"soundfile", "joblib", "torch", "pyside6"} <= requires and "psutil" not in requires
    assert meta["License-Expression"] == "MIT"
    assert "cratedigger = app.cli:main" in zipfile.ZipFile(wheel).read(f"{info}/entry_points.txt").decode()


def test_unpacked_wheel_finds_its_resources_outside_the_checkout(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    probe = ("import app, model, app.desktop as d; from model.train.splits import FILTERED_DIR, read_list;"
             "print(app.__file__, model.__file__);"
             "print(len(read_list(FILTERED_DIR / 'test_filtered.txt')), d.ICON.is_file(), d.METAINFO.is_file())")
    out = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=dict(os.environ, PYTHONPATH=str(site)),
                         check=True, capture_output=True, text=True).stdout.split()
    assert all(Path(f).is_relative_to(site) for f in out[:2]), out
    assert out[2:] == ["290", "True", "True"]


def _third_party_imports() -> dict[str, set[str]]:
    """Top-level module -> the files importing it, over app/ and model/ (stdlib and our own left out)."""
    found: dict[str, set[str]] = {}
    for path in [*REPO.joinpath("app").rglob("*.py"), *REPO.joinpath("model").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                mods = [node.module]
            else:
                continue
            for mod in mods:
                top = mod.split(".")[0]
                if top not in sys.stdlib_module_names and top not in ("app", "model", "__future__"):
                    found.setdefault(top, set()).add(path.relative_to(REPO).as_posix())
    return found


def test_declared_dependencies_are_exactly_what_the_code_imports():
    declared, optional = _declared()
    dists = packages_distributions()
    imported: set[str] = set()
    for module, where in _third_party_imports().items():
        providers = {_canonical(d) for d in dists.get(module, [module])}  # not installed: an extra's, by name
        assert providers & (declared | optional), f"{module} (imported in {sorted(where)}) comes from {providers}: " \
                                                  "declare it in pyproject.toml"
        imported |= providers & declared
    assert declared - imported <= USED_WITHOUT_IMPORT, f"declared but never imported: {declared - imported}"


def test_version_flag(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"cratedigger {__version__}"


def _desktop_entry(path: Path) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # keys are case-sensitive
    parser.read(path, encoding="utf-8")
    return dict(parser["Desktop Entry"])


def test_install_desktop_writes_entry_icon_and_metainfo_under_xdg_data_home(tmp_path, monkeypatch, capsys):
    data = tmp_path / "xdg data"
    monkeypatch.setenv("XDG_DATA_HOME", str(data))
    assert main(["install-desktop", "--exec", "'/opt/My Apps/cratedigger'"]) == 0
    desktop = data / "applications" / f"{APP_ID}.desktop"
    icon = data / "icons/hicolor/scalable/apps" / f"{APP_ID}.svg"
    metainfo = data / "metainfo" / f"{APP_ID}.metainfo.xml"
    assert capsys.readouterr().out.splitlines() == [f"wrote {desktop}", f"wrote {icon}", f"wrote {metainfo}"]
    entry = _desktop_entry(desktop)
    assert entry["Exec"] == '"/opt/My Apps/cratedigger"' and entry["Icon"] == APP_ID and "TryExec" not in entry
    assert entry["Type"] == "Application" and entry["Categories"].endswith(";")
    assert ET.parse(icon).getroot().tag.endswith("svg")
    root = ET.parse(metainfo).getroot()
    assert root.findtext("id") == APP_ID and root.findtext("launchable") == desktop.name
    assert root.find("releases/release").get("version") == __version__
    assert not list(data.rglob("*.part"))

    assert main(["install-desktop", "--uninstall"]) == 0
    assert not desktop.exists() and not icon.exists() and not metainfo.exists()


def test_install_desktop_default_command_and_errors(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    monkeypatch.setattr(sys, "argv", ["/usr/bin/python3", "-m", "pytest"])
    assert main(["install-desktop"]) == 0
    exec_line = _desktop_entry(tmp_path / "applications" / f"{APP_ID}.desktop")["Exec"]
    assert exec_line == f"{exec_quote(os.path.abspath(sys.executable))} -m app"
    blocker = tmp_path / "a file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_DATA_HOME", str(blocker))
    capsys.readouterr()
    assert main(["install-desktop"]) == 1
    assert capsys.readouterr().err.startswith("cratedigger: cannot write the desktop files under")
    assert main(["install-desktop", "--exec", "'unclosed"]) == 1


def test_exec_quote_follows_the_desktop_entry_spec():
    assert exec_quote("/usr/bin/cratedigger") == "/usr/bin/cratedigger"
    assert exec_quote("/home/a b/100%/x$y") == '"/home/a b/100%%/x\\$y"'
