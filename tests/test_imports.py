"""The import graph of src/apiflag: no cycles, and the walker sees what it must."""

from __future__ import annotations

import shutil
from pathlib import Path

from apiflag.provenance import import_graph

SRC = Path(__file__).resolve().parents[1] / "src" / "apiflag"


def test_no_import_cycle_in_apiflag() -> None:
    graph = import_graph(SRC)
    assert len(graph.files) > 50
    cycles = graph.cycles()
    assert cycles == [], "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_walker_sees_function_local_imports_and_finds_a_cycle(tmp_path: Path) -> None:
    pkg = tmp_path / "apiflag"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from apiflag import b\n")
    (pkg / "b.py").write_text("def f():\n    from apiflag.c import g\n    return g\n")
    (pkg / "c.py").write_text("import apiflag.a\n")
    (pkg / "d.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from apiflag import a\n"
    )
    graph = import_graph(pkg)
    assert graph.cycles() == [["apiflag.a", "apiflag.b", "apiflag.c"]]
    assert graph.edges["apiflag.d"] == frozenset()  # type-checking imports do not run


def test_a_package_reexporting_its_submodules_is_no_cycle(tmp_path: Path) -> None:
    pkg = tmp_path / "apiflag"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from apiflag.sub.x import X\n")
    (pkg / "sub" / "x.py").write_text("from apiflag.sub import y\nX = y.Y\n")
    (pkg / "sub" / "y.py").write_text("Y = 1\n")
    assert import_graph(pkg).cycles() == []
    # ... but importing a name the package itself defines is one
    (pkg / "sub" / "y.py").write_text("from apiflag.sub import X\nY = 1\n")
    shutil.copytree(pkg, tmp_path / "again" / "apiflag")
    assert import_graph(tmp_path / "again" / "apiflag").cycles() == [
        ["apiflag.sub", "apiflag.sub.x", "apiflag.sub.y"]
    ]
