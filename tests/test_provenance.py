"""Content-derived code digests: a changed module or feature definition recomputes its stage and
everything downstream; an unchanged rerun reuses every stage; flags record the digest."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from apiflag import pipeline, provenance
from apiflag.orchestration.stagecache import stage_digest
from apiflag.queue.store import flags, open_engine
from apiflag.synth.world import WorldConfig, generate_world

SRC = Path(__file__).resolve().parents[1] / "src" / "apiflag"
MODELS = Path(__file__).resolve().parents[1] / "models"
NIGHT = dt.date(2026, 11, 20)


def _source_copy(tmp_path: Path) -> Path:
    root = tmp_path / "src" / "apiflag"
    shutil.copytree(SRC, root, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def test_a_changed_module_changes_its_stage_and_those_importing_it_only(tmp_path: Path) -> None:
    root = _source_copy(tmp_path)
    before = {s: provenance.stage_code_digest(s, root=root) for s in provenance.STAGE_CODE}
    assert before == {s: provenance.stage_code_digest(s, root=SRC) for s in provenance.STAGE_CODE}
    features = root / "features" / "spec.py"
    features.write_text(
        features.read_text(encoding="utf-8").replace(
            '"Age band on the arrival night', '"Age group on the arrival night', 1
        ),
        encoding="utf-8",
    )
    after = {s: provenance.stage_code_digest(s, root=root) for s in provenance.STAGE_CODE}
    changed = {s for s in before if before[s] != after[s]}
    # features/spec.py is imported by the features stage and by nothing the parser or matcher runs
    assert "features" in changed
    assert "ingest" not in changed and "matching" not in changed
    graph = provenance.import_graph(root)
    for stage in changed:
        assert "apiflag.features" in graph.closure(provenance.STAGE_CODE[stage][0])


def test_a_transitive_import_counts(tmp_path: Path) -> None:
    root = _source_copy(tmp_path)
    # apiflag.linking is not named by the ingest stage, but ingest imports it
    assert "apiflag.linking" in provenance.import_graph(root).closure(["apiflag.ingest"])
    before = provenance.stage_code_digest("ingest", root=root)
    (root / "linking.py").write_text(
        (root / "linking.py").read_text(encoding="utf-8") + "\n# changed\n", encoding="utf-8"
    )
    assert provenance.stage_code_digest("ingest", root=root) != before


def test_model_files_settings_and_libraries_are_part_of_the_digest(tmp_path: Path) -> None:
    models = tmp_path / "models"
    shutil.copytree(MODELS, models)
    base = provenance.stage_code_digest("features", {"history_days": 30}, models=models)
    assert base == provenance.stage_code_digest("features", {"history_days": 30}, models=MODELS)
    assert base != provenance.stage_code_digest("features", {"history_days": 29}, models=models)
    spec = models / "features.yaml"
    spec.write_text(spec.read_text(encoding="utf-8").replace("unit: hours", "unit: minutes", 1))
    assert base != provenance.stage_code_digest("features", {"history_days": 30}, models=models)
    graph = provenance.import_graph()
    closure = graph.closure(provenance.STAGE_CODE["features"][0])
    libraries = provenance.library_versions({x for m in closure for x in graph.external[m]})
    assert {"pandas", "numpy"} <= {name.lower() for name in libraries}


def test_package_version_is_derived_from_the_installed_distribution() -> None:
    import importlib.metadata

    import apiflag

    assert apiflag.__version__ == importlib.metadata.version("apiflag")
    assert provenance.display_version("ab" * 32) == f"{apiflag.__version__}+{'ab' * 6}"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("prov") / "world"
    generate_world(folder, WorldConfig(seed=5, nights=1, arrivals=200, history_nights=0))
    return folder


def test_changed_feature_definition_recomputes_downstream_and_unchanged_rerun_reuses_all(
    world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{world / 'casedb.sqlite'}"

    def run() -> pipeline.NightSummary:
        return pipeline.run_night(NIGHT, world, url, write_report=False)

    first = run()
    assert first.reused_stages == []
    digests = {s: stage_digest(str(NIGHT), s) for s in ("matching", "features", "rules")}
    again = run()
    assert set(again.reused_stages) == {"ingest", "matching", "features", "rules"}
    assert again.stage_digests == first.stage_digests and again.code_digests == first.code_digests
    assert again.inserted == 0 and again.updated == 0

    # a feature definition changes in the source: features and rules recompute, matching not
    root = _source_copy(tmp_path)
    features = root / "features" / "spec.py"
    features.write_text(
        features.read_text(encoding="utf-8").replace(
            '"Age band on the arrival night', '"Age group on the arrival night', 1
        ),
        encoding="utf-8",
    )
    monkeypatch.setattr(provenance, "SOURCE_ROOT", root)
    changed = run()
    assert set(changed.reused_stages) == {"ingest", "matching"}
    assert changed.code_digests["features"] != first.code_digests["features"]
    assert stage_digest(str(NIGHT), "matching") == digests["matching"]
    assert stage_digest(str(NIGHT), "features") != digests["features"]
    assert stage_digest(str(NIGHT), "rules") != digests["rules"]
    # every flag (still new) now records the code that last produced it
    engine = open_engine()
    try:
        with engine.connect() as conn:
            stored = conn.execute(sa.select(flags.c.code_digest, flags.c.status)).all()
    finally:
        engine.dispose()
    assert stored and {row.code_digest for row in stored} == {
        provenance.combined_digest(changed.code_digests)
    }
    assert changed.updated == len(stored)

    # and an unchanged rerun of the changed code reuses all of it again
    assert set(run().reused_stages) == {"ingest", "matching", "features", "rules"}

    # the reviewable copy of the feature specification counts as well
    models = tmp_path / "models"
    shutil.copytree(MODELS, models)
    spec = models / "features.yaml"
    spec.write_text(spec.read_text(encoding="utf-8").replace("unit: hours", "unit: minutes", 1))
    monkeypatch.setattr(provenance, "MODELS_DIR", models)
    assert set(run().reused_stages) == {"ingest", "matching"}


def test_the_run_records_the_settings_it_used(
    world: Path, apiflag_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from apiflag.settings import load_settings

    (apiflag_home / "config.yaml").write_text("capacity: 1\nhistory_days: 7\n", encoding="utf-8")
    url = f"sqlite:///{world / 'casedb.sqlite'}"
    s = pipeline.run_night(
        NIGHT, world, url, settings=load_settings(capacity=2), write_report=False
    )
    assert s.settings["capacity"] == 2 and s.settings["history_days"] == 7
    from apiflag.queue.store import night_runs

    engine = open_engine()
    try:
        with engine.connect() as conn:
            row = conn.execute(sa.select(night_runs)).one()
    finally:
        engine.dispose()
    assert row.capacity == 2
    assert json.loads(row.settings) == s.settings
    assert json.loads(row.code_digests) == s.code_digests
    assert row.code_digest == provenance.combined_digest(s.code_digests)


def test_the_import_graph_is_built_once_when_threads_ask_for_it_together(tmp_path: Path) -> None:
    """Threads (a cluster worker's stages) share one build of the graph instead of parsing side
    by side, which doubles the work and has crashed Python 3.11's ast.parse."""
    import threading

    root = tmp_path / "pkg"
    root.mkdir()
    for i in range(60):
        (root / f"m{i}.py").write_text(
            "\n".join(f"from pkg import m{j}" for j in range(i)) + "\nimport json\n"
        )
    barrier = threading.Barrier(6)
    graphs: list[object] = []

    def ask() -> None:
        barrier.wait()
        graphs.append(provenance.import_graph(root))

    before = provenance._import_graph.cache_info().misses
    threads = [threading.Thread(target=ask) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(graphs) == 6 and all(g is graphs[0] for g in graphs)
    assert provenance._import_graph.cache_info().misses - before == 1
