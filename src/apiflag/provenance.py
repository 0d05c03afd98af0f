"""What code produced an output: the import graph of apiflag and content-derived code digests.

A stage's code digest is the SHA-256 over the source of every apiflag module the stage imports
(transitively, read from the source files with :mod:`ast`, function-local imports included),
the reviewable model files it reads (rule catalogue, ``models/matcher.json``,
``models/features.yaml``), the settings it reads and the versions of the third-party libraries
those modules import. Nothing is a hand-kept tag: editing a feature definition changes the
features digest, and everything downstream of it, by itself.

The same graph backs the import-cycle test (``tests/test_imports.py``).
"""

from __future__ import annotations

import ast
import hashlib
import importlib.metadata
import sys
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

__all__ = [
    "MODELS_DIR",
    "SOURCE_ROOT",
    "ImportGraph",
    "code_digest",
    "import_graph",
    "library_versions",
    "package_version",
]

#: The folder of the ``apiflag`` package whose sources are digested.
SOURCE_ROOT = Path(__file__).resolve().parent
#: The checkout's reviewable model files (``rules/``, ``matcher.json``, ``features.yaml``).
MODELS_DIR = SOURCE_ROOT.parents[1] / "models"


def package_version() -> str:
    """Return the installed distribution's version (display only; digests name the code)."""
    try:
        return importlib.metadata.version("apiflag")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking_block(node: ast.AST) -> bool:
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported_names(
    tree: ast.Module, module: str, is_package: bool, known: Iterable[str]
) -> set[str]:
    """Return every dotted name ``module`` imports at run time (``if TYPE_CHECKING`` excluded).

    ``from package import submodule`` names the submodule only (``known`` are the modules that
    exist), so that a package re-exporting its submodules is no cycle with them.
    """
    modules = set(known)
    package = module if is_package else module.rpartition(".")[0]
    names: set[str] = set()
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if _type_checking_block(node):
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            subs = {f"{target}.{alias.name}" for alias in node.names}
            names.update(subs)
            if not subs <= modules:
                names.add(target)
        stack.extend(ast.iter_child_nodes(node))
    return names


@dataclass(frozen=True)
class ImportGraph:
    """apiflag's modules, their source files and what each imports.

    Attributes:
        files: module name -> source file.
        edges: module name -> the apiflag modules it imports.
        external: module name -> top-level names of the non-apiflag, non-stdlib modules it imports.
    """

    files: Mapping[str, Path]
    edges: Mapping[str, frozenset[str]]
    external: Mapping[str, frozenset[str]]

    def closure(self, modules: Iterable[str]) -> list[str]:
        """Return ``modules`` and every apiflag module they import, transitively, sorted."""
        seen: set[str] = set()
        todo = [m for m in modules]
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            if name not in self.files:
                raise KeyError(f"{name}: not an apiflag module")
            seen.add(name)
            todo.extend(self.edges[name])
        return sorted(seen)

    def cycles(self) -> list[list[str]]:
        """Return each group of modules that import each other (strongly connected, size > 1)."""
        index: dict[str, int] = {}
        low: dict[str, int] = {}
        stack: list[str] = []
        on_stack: set[str] = set()
        out: list[list[str]] = []
        counter = 0
        for root in sorted(self.files):
            if root in index:
                continue
            work: list[tuple[str, list[str]]] = [(root, sorted(self.edges[root]))]
            index[root] = low[root] = counter
            counter += 1
            stack.append(root)
            on_stack.add(root)
            while work:
                node, children = work[-1]
                if children:
                    child = children.pop()
                    if child not in index:
                        index[child] = low[child] = counter
                        counter += 1
                        stack.append(child)
                        on_stack.add(child)
                        work.append((child, sorted(self.edges[child])))
                    elif child in on_stack:
                        low[node] = min(low[node], index[child])
                    continue
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        out.append(sorted(group))
        return sorted(out)


def import_graph(root: Path | None = None) -> ImportGraph:
    """Return the import graph of the package at ``root`` (default: this installation's).

    Built once per root and process, under a lock: stages running in threads (a cluster
    worker's) would otherwise parse the package side by side, which costs the work twice and
    has crashed Python 3.11's ``ast.parse`` ("AST constructor recursion depth mismatch").
    """
    with _GRAPH_LOCK:
        return _import_graph(root or SOURCE_ROOT)


_GRAPH_LOCK = threading.Lock()


@lru_cache(maxsize=8)
def _import_graph(root: Path) -> ImportGraph:
    top = root.name
    files = {_module_name(root, p): p for p in sorted(root.rglob("*.py"))}
    edges: dict[str, frozenset[str]] = {}
    external: dict[str, frozenset[str]] = {}
    stdlib = sys.stdlib_module_names
    for name, path in files.items():
        tree = ast.parse(path.read_bytes(), filename=str(path))
        imported = _imported_names(tree, name, path.name == "__init__.py", files)
        edges[name] = frozenset(m for m in imported if m in files and m != name)
        external[name] = frozenset(
            first
            for m in imported
            if (first := m.split(".")[0]) and first != top and first not in stdlib
        )
    return ImportGraph(files=files, edges=edges, external=external)


@lru_cache(maxsize=1)
def _providers() -> Mapping[str, list[str]]:
    """Which distributions provide each top-level module (read once per process)."""
    return importlib.metadata.packages_distributions()


@lru_cache(maxsize=256)
def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def library_versions(top_level: Iterable[str]) -> dict[str, str]:
    """Return ``{distribution: version}`` of the distributions providing these modules.

    The installed distributions are read once per process (a library is not upgraded under a
    running night).
    """
    out: dict[str, str] = {}
    for name in top_level:
        for dist in _providers().get(name, []):
            if (version := _version(dist)) is not None:
                out[dist] = version
    return dict(sorted(out.items()))


def _file_bytes_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def code_digest(
    modules: Iterable[str],
    *,
    files: Iterable[Path] = (),
    settings: Mapping[str, object] | None = None,
    root: Path | None = None,
) -> str:
    """Return the digest of the code, model files and settings a stage runs with.

    Args:
        modules: the apiflag modules the stage calls (their imports are followed).
        files: model files or folders the stage reads (a folder counts every file below it).
        settings: the settings the stage reads (names and values).
        root: the package source folder (default: this installation's).

    Returns:
        A SHA-256 hex digest.
    """
    graph = import_graph(root)
    closure = graph.closure(modules)
    h = hashlib.sha256()

    def put(text: str) -> None:
        h.update(text.encode("utf-8"))
        h.update(b"\0")

    for name in closure:
        put(f"module {name}={_file_bytes_digest(graph.files[name])}")
    libraries = library_versions(sorted({x for m in closure for x in graph.external[m]}))
    for dist, version in libraries.items():
        put(f"library {dist}={version}")
    for entry in files:
        paths = sorted(p for p in entry.rglob("*") if p.is_file()) if entry.is_dir() else [entry]
        for path in paths:
            put(f"file {path.name}={_file_bytes_digest(path) if path.is_file() else '-'}")
    for key, value in sorted((settings or {}).items()):
        put(f"setting {key}={value!r}")
    return h.hexdigest()


#: Per stage: the apiflag modules it calls and the model files (under :data:`MODELS_DIR`) it
#: reads. The rule catalogue's folder is the one :func:`apiflag.rules.catalogue.default_rules_dir`
#: names (``$APIFLAG_RULES_DIR`` may move it), so it is passed in by the caller.
STAGE_CODE: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "ingest": (("apiflag.ingest",), ()),
    "matching": (
        ("apiflag.casedb", "apiflag.matching.match", "apiflag.matching.identifiers"),
        ("matcher.json",),
    ),
    "features": (("apiflag.features",), ("features.yaml",)),
    "rules": (("apiflag.rules",), ()),
    "model": (("apiflag.model.scoring", "apiflag.model.inputs"), ()),
    "combine": (("apiflag.queue.combine", "apiflag.queue.store"), ()),
}


def stage_code_digest(
    stage: str,
    settings: Mapping[str, object] | None = None,
    *,
    extra_files: Iterable[Path] = (),
    root: Path | None = None,
    models: Path | None = None,
) -> str:
    """Return the code digest of one nightly stage (see :data:`STAGE_CODE`).

    Args:
        stage: a key of :data:`STAGE_CODE`.
        settings: the settings the stage reads.
        extra_files: further files or folders it reads (the rule catalogue's folder).
        root: the package source folder (default: this installation's).
        models: the model-files folder (default :data:`MODELS_DIR`).
    """
    modules, names = STAGE_CODE[stage]
    folder = models or MODELS_DIR
    return code_digest(
        modules,
        files=[*(folder / n for n in names), *extra_files],
        settings=settings,
        root=root,
    )


def stage_code_digests(
    settings: Mapping[str, Mapping[str, object]] | None = None,
    *,
    rules_dir: Path | None = None,
) -> dict[str, str]:
    """Return the code digest of every stage of :data:`STAGE_CODE`.

    Args:
        settings: per stage, the settings it reads (stages not named read none).
        rules_dir: the rule catalogue's folder (default: the checkout's ``models/rules``).
    """
    rules = rules_dir or MODELS_DIR / "rules"
    out = {}
    for stage in STAGE_CODE:
        extra = [rules] if stage == "rules" else []
        out[stage] = stage_code_digest(stage, (settings or {}).get(stage), extra_files=extra)
    return out


def combined_digest(digests: Mapping[str, str]) -> str:
    """Return one SHA-256 over ``{stage: digest}`` (what a flag records as its code digest)."""
    h = hashlib.sha256()
    for stage, digest in sorted(digests.items()):
        h.update(f"{stage}={digest}\0".encode())
    return h.hexdigest()


def display_version(digest: str) -> str:
    """Return ``<package version>+<first 12 hex digits>``: a short, derived label for people."""
    return f"{package_version()}+{digest[:12]}"
