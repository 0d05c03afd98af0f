"""No function in src/apiflag is longer than MAX_LINES (issue 12 item 5).

A function's length counts from its ``def`` line to its last line (the nested functions it
holds included, decorators not). Each function is named as ``file:line name (length)``.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "apiflag"
MAX_LINES = 120


def long_functions(root: Path, limit: int = MAX_LINES) -> list[tuple[str, int, str, int]]:
    """Return ``(file relative to root, line, name, length)`` of every function over ``limit``."""
    found = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_bytes(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > limit:
                    rel = path.relative_to(root).as_posix()
                    found.append((rel, node.lineno, node.name, length))
    return found


def test_no_function_is_longer_than_the_limit() -> None:
    offenders = long_functions(SRC)
    named = "; ".join(
        f"src/apiflag/{f}:{line} {name} ({n} lines)" for f, line, name, n in offenders
    )
    assert offenders == [], f"functions over {MAX_LINES} lines: {named}"


def test_the_check_finds_a_long_function(tmp_path: Path) -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_LINES))
    (tmp_path / "long.py").write_text(f"def short():\n    return 1\n\n\nasync def long():\n{body}")
    (tmp_path / "edge.py").write_text("def edge():\n" + "    pass\n" * (MAX_LINES - 1))
    assert long_functions(tmp_path) == [("long.py", 5, "long", MAX_LINES + 1)]
