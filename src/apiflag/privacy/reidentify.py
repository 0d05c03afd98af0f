"""Controlled re-identification: a supervisor with a case reference may see a masked flag's originals.

:func:`reidentify` refuses (``ApiflagError``, exit 1) unless the role is ``supervisor`` (and the
current user may act as one, see :mod:`apiflag.privacy.roles`), a case reference and a reason
are given, and the flag's night has not been deleted. Every attempt, refused or allowed, is an
audit event (``privacy.reidentify`` or ``privacy.reidentify_refused``) with the case reference
and the number of values shown, never the values; the reason is logged with the person's own
values replaced by pseudonyms. Originals come from the vault (masked nights) or from the
warehouse as it is (nights not masked yet), so the answer is the same before and after masking.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import sqlalchemy as sa

from apiflag import config
from apiflag.audit import append_event
from apiflag.errors import ApiflagError
from apiflag.privacy import store
from apiflag.privacy.keys import is_pseudonym
from apiflag.privacy.masking import PersonalDictionary, as_text
from apiflag.privacy.policy import WAREHOUSE_COLUMNS
from apiflag.privacy.roles import current_role, current_user

__all__ = ["reidentify"]


def _flag(engine: sa.Engine, flag_id: str) -> dict[str, Any]:
    if "flags" not in sa.inspect(engine).get_table_names():
        raise ApiflagError(f"flag {flag_id}: no queue in {engine.url.render_as_string()}")
    flags = sa.Table("flags", sa.MetaData(), autoload_with=engine)
    with engine.connect() as conn:
        row = conn.execute(sa.select(flags).where(flags.c.flag_id == flag_id)).mappings().first()
    if row is None:
        raise ApiflagError(f"flag {flag_id}: no such flag")
    return dict(row)


def _rows(night: str, table: str, mask: Any) -> pd.DataFrame:
    path = config.warehouse_dir(night) / f"{table}.parquet"
    if not path.is_file():
        return pd.DataFrame()
    frame = pq.read_table(path).to_pandas()
    return frame[mask(frame)] if len(frame) else frame


def _traveller_rows(night: str, traveller_id: str) -> dict[str, pd.DataFrame]:
    travellers = _rows(night, "travellers", lambda f: f["traveller_id"] == traveller_id)
    if travellers.empty:
        raise ApiflagError(f"traveller {traveller_id}: not in the warehouse of night {night}")
    row = travellers.iloc[0]
    pnr_id = row.get("pnr_traveller_id")
    booking_id = row.get("booking_id")
    owners = {traveller_id} | ({str(pnr_id)} if isinstance(pnr_id, str) else set())
    out = {"travellers": travellers}
    out["documents"] = _rows(night, "documents", lambda f: f["owner_id"].isin(owners))
    if isinstance(pnr_id, str):
        out["pnr_travellers"] = _rows(
            night, "pnr_travellers", lambda f: f["pnr_traveller_id"] == pnr_id
        )
    if isinstance(booking_id, str):
        out["booking_contacts"] = _rows(
            night,
            "booking_contacts",
            lambda f: (
                (f["booking_id"] == booking_id)
                & (f["pnr_traveller_id"].isna() | (f["pnr_traveller_id"] == pnr_id))
            ),
        )
        out["payments"] = _rows(night, "payments", lambda f: f["booking_id"] == booking_id)
    return out


def _dates(night: str) -> pd.DataFrame:
    path = config.home() / "privacy" / f"night={night}" / "masked_dates.parquet"
    return pq.read_table(path).to_pandas() if path.is_file() else pd.DataFrame()


def _row_key(table: str, row: pd.Series) -> str:
    if table == "documents":
        return f"{row['owner_id']}/{row.get('seq', 0)}"
    for column in ("traveller_id", "pnr_traveller_id", "booking_id"):
        if column in row and isinstance(row[column], str):
            return str(row[column])
    return ""


def _originals(night: str, rows: dict[str, pd.DataFrame]) -> tuple[dict[str, Any], list[str]]:
    """Return the personal fields of the rows with pseudonyms still to resolve from the vault."""
    dates = _dates(night)
    shown: dict[str, Any] = {}
    refs: list[str] = []
    for table, frame in rows.items():
        policy = WAREHOUSE_COLUMNS.get(table, {})
        items = []
        for _, row in frame.iterrows():
            item: dict[str, Any] = {}
            for column, _kind in policy.items():
                if column not in row:
                    continue
                value = row[column]
                if value is None or (not isinstance(value, str) and pd.isna(value)):
                    if dates.empty:
                        continue
                    hit = dates[
                        (dates["table"] == table)
                        & (dates["row_key"] == _row_key(table, row))
                        & (dates["column"] == column)
                    ]
                    if hit.empty:
                        continue
                    value = str(hit.iloc[0]["pseudonym"])
                text = as_text(value)
                if is_pseudonym(text):
                    refs.append(text)
                item[column] = text
            if table == "booking_contacts" and "kind" in row:
                item["kind"] = row["kind"]
            if item:
                items.append(item)
        if items:
            shown[table] = items
    return shown, refs


def reidentify(
    flag_id: str,
    *,
    case_ref: str | None,
    role: str,
    reason: str,
    actor: str | None = None,
    db_url: str | None = None,
    signed_in: bool = False,
) -> dict[str, Any]:
    """Return the original personal values behind a flag, for a supervisor with a case reference.

    Args:
        flag_id: the flag.
        case_ref: the case reference that justifies it (required).
        role: the role claimed (must be ``supervisor`` and allowed for the current user).
        reason: why (required; logged with the person's own values pseudonymised).
        actor: who asks (default :func:`apiflag.privacy.roles.current_user`).
        db_url: the queue database.
        signed_in: the caller (the review desk) has already checked ``role`` against the
            signed-in account ``actor``; the login running the process is then not consulted.

    Returns:
        ``{flag_id, night, traveller_id, case_ref, values: {table: [{column: original}]}}``.

    Raises:
        ApiflagError: wrong role, missing case reference or reason, unknown flag, or a night
            deleted after the maximum period. Each refusal is audited.
    """
    who = actor or current_user()
    engine = store.engine(db_url)

    def refuse(why: str, code: str) -> ApiflagError:
        append_event(
            engine,
            who,
            "privacy.reidentify_refused",
            f"flag:{flag_id}",
            {"role": role, "why": code, "case_ref": case_ref or ""},
        )
        return ApiflagError(f"reidentify {flag_id}: {why}")

    if role != "supervisor":
        raise refuse(f"role {role} may not re-identify (only supervisor)", "role")
    try:
        if not signed_in:
            current_role(role)
    except ApiflagError as exc:
        raise refuse(str(exc), "user_role") from None
    if not case_ref or not case_ref.strip():
        raise refuse("a case reference is required (--case-ref)", "no_case_ref")
    if not reason.strip():
        raise refuse("a reason is required (--reason)", "no_reason")
    flag = _flag(engine, flag_id)
    night = str(flag.get("night"))[:10]
    with engine.connect() as conn:
        state = store.night_states(conn).get(night, ("", 0))[0]
    if state == "deleted" or not config.warehouse_dir(night).is_dir():
        raise refuse(f"night {night} was deleted after the maximum period", "deleted")
    rows = _traveller_rows(night, str(flag["traveller_id"]))
    shown, refs = _originals(night, rows)
    with engine.begin() as conn:
        opened = store.open_vault(conn, night, refs)
        logged = PersonalDictionary()
        for table in shown.values():
            for item in table:
                for column, value in item.items():
                    original = opened.get(value, value)
                    item[column] = original
                    if column != "kind":
                        logged.add("name" if "name" in column else "text", original)
        missing = sorted(set(refs) - set(opened))
        append_event(
            conn,
            who,
            "privacy.reidentify",
            f"flag:{flag_id}",
            {
                "role": role,
                "case_ref": case_ref,
                "reason": logged.sweep(reason)[0],
                "night": night,
                "values_shown": sum(len(i) for t in shown.values() for i in t),
                "unresolved": len(missing),
                "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            },
        )
    return {
        "flag_id": flag_id,
        "night": night,
        "traveller_id": str(flag["traveller_id"]),
        "case_ref": case_ref,
        "values": shown,
    }
