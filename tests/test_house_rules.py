"""House rules a reviewer checks, checked by the suite instead: no function over 60 lines.

(That read-only commands import nothing heavy is tests/test_cli_light.py's job.)"""

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MAX_LINES = 60
EXEMPT: set[tuple[str, str]] = set()  # (path, function name) allowed to be longer: none


def long_functions(root: Path) -> list[str]:
    """'path:line name (n lines)' for every function or method of the app/ and model/ packages
    longer than MAX_LINES, counted from its `def` line to its last line."""
    found = []
    for package in ("app", "model"):
        for path in sorted((root / package).rglob("*.py")):
            relative = path.relative_to(root).as_posix()
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=relative)):
                if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    continue
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_LINES and (relative, node.name) not in EXEMPT:
                    found.append(f"{relative}:{node.lineno} {node.name} ({lines} lines)")
    return found


def test_no_function_over_60_lines():
    offenders = long_functions(REPO)
    assert offenders == [], f"functions over {MAX_LINES} lines (split them):\n" + "\n".join(offenders)


def test_the_check_sees_a_long_function(tmp_path):
    package = tmp_path / "model"
    package.mkdir()
    (tmp_path / "app").mkdir()
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_LINES))
    (package / "long.py").write_text(f"class A:\n    def fine(self):\n        pass\n\n    def long(self):\n{body.replace('    ', '        ')}\n")
    assert long_functions(tmp_path) == [f"model/long.py:5 long ({MAX_LINES + 1} lines)"]
