"""The ingest stage: archive, parse or quarantine, assemble, write, reconcile one night."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

from apiflag import warehouse
from apiflag.ingest.assemble import assemble_night, select_night
from apiflag.ingest.pool import parse_night, workers_for
from apiflag.ingest.reconcile import IngestReport, reconcile
from apiflag.ingest.sources import archive_arrivals, archive_path, night_source, write_if_changed

__all__ = ["ingest_night"]


def ingest_night(night: dt.date, source: Path, *, workers: int | None = None) -> IngestReport:
    """Ingest one arrival night from a folder of PAXLST and PNRGOV files.

    Args:
        night: the local arrival date in Japan.
        source: a synthetic-world-shaped folder or a night folder (see
            :func:`apiflag.ingest.sources.night_source`).
        workers: parser processes; ``None`` picks up to 2 when the night is large, 1 parses
            in this process. The result never depends on it.

    Returns:
        The report; its ``reconciliation`` is also written to
        ``warehouse/night=<D>/reconciliation.json``.

    Raises:
        ApiflagError: the source folder is missing or holds no night folder.
    """
    folder = night_source(source, night)
    # 1. archive every arrival, keep the first of identical resends
    arrived = archive_arrivals(night, folder)
    if workers is None:
        workers = workers_for(arrived.distinct_bytes)
    # 2. parse in file order; batches come back in order whichever worker finished first
    parsed = parse_night(arrived.tasks, night, workers)
    # 3. which messages belong to the night, and the flight each PNR push is for
    chosen = select_night(night, parsed.metas, parsed.parts["flights"])
    # 4. assemble, order pushes, link, write
    assembled = assemble_night(chosen, parsed.metas, parsed.parts)
    outputs: dict[str, Any] = {
        **assembled.tables,
        "quarantine": parsed.quarantine,
        "record_quarantine": parsed.losses.table(),
        **parsed.carriers.tables(),
    }
    out = warehouse.night_dir(night)
    warehouse.write_tables(night, outputs)
    _sync_quarantine_copies(out / "quarantine", parsed.quarantined)
    # 5. the counts
    reconciliation = reconcile(night, folder, arrived.arrivals, parsed, chosen, assembled)
    reconciliation["carriers"] = parsed.carriers.summary()
    reconciliation.update(parsed.losses.reconciliation(reconciliation["carriers"]))
    text = json.dumps(reconciliation, indent=2, default=str) + "\n"
    write_if_changed(out / "reconciliation.json", text.encode())
    return IngestReport(night=night, source=folder, warehouse=out, reconciliation=reconciliation)


def _sync_quarantine_copies(folder: Path, quarantined: list[dict[str, Any]]) -> None:
    """Keep exactly one copy of each quarantined file under the night's ``quarantine/``."""
    wanted = {q["file"].replace("/", "__"): q["sha256"] for q in quarantined}
    if folder.is_dir():
        for stale in folder.iterdir():
            if stale.name not in wanted:
                stale.unlink()
    for name, sha in wanted.items():
        target = folder / name
        if target.is_file() and target.stat().st_size == archive_path(sha).stat().st_size:
            continue
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(archive_path(sha), target)
