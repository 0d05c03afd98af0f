"""The import graph of src/apiflag: no cycles, and the walker sees what it must."""

from __future__ import annotations

import ast
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


def private_imports(root: Path) -> list[tuple[str, str, str]]:
    """Return ``(module, imported module, name)`` of each private name imported across packages.

    A package's modules may share its private names (``features.build`` reads
    ``features.common._ts``); no module reads another package's (``edifact.fast`` once read
    ``ingest._Batch``).
    """
    found = []
    top = root.name
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        module = ".".join(parts)
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_bytes())):
            if not isinstance(node, ast.ImportFrom):
                continue
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            if target.split(".")[0] != top:
                continue
            is_package = root.parent.joinpath(*target.split("."), "__init__.py").is_file()
            if package == (target if is_package else target.rpartition(".")[0]):
                continue  # the importer's own package
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    found.append((module, target, alias.name))
    return found


def test_no_module_imports_a_private_name_of_another_package() -> None:
    found = private_imports(SRC)
    assert found == [], "private names imported across packages: " + "; ".join(
        f"{m} imports {t}.{n}" for m, t, n in found
    )


def test_the_private_import_check_can_fail(tmp_path: Path) -> None:
    pkg = tmp_path / "apiflag"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from apiflag.sub.a import _x\n")  # its own
    (pkg / "sub" / "a.py").write_text("_x = 1\ny = 2\n")
    (pkg / "sub" / "b.py").write_text("from .a import _x\n")  # a sibling: the package's own
    (pkg / "c.py").write_text(
        "from apiflag.sub.a import y\nfrom apiflag.sub import _x\n"
        "def f():\n    from apiflag.sub.a import _x\n"
    )
    assert sorted(private_imports(pkg)) == [
        ("apiflag.c", "apiflag.sub", "_x"),
        ("apiflag.c", "apiflag.sub.a", "_x"),
    ]
