"""Who may see what: the four roles, and the redaction each one gets.

Roles: ``analyst`` (works the queue: sees personal data, decides), ``supervisor`` (everything an
analyst may, plus re-identification of masked records with a case reference), ``auditor`` (sees
explanations and the audit log with personal data redacted) and ``model_owner`` (sees models,
explanations and statistics, never personal data).

The current role comes from ``$APIFLAG_HOME/config.yaml``::

    roles:
      tanaka: analyst
      sato: [supervisor, analyst]   # several roles: the first is the default
      audit-office: auditor

and the ``APIFLAG_ROLE`` environment variable, which picks one of the user's configured roles.
Once the queue database holds accounts (:mod:`apiflag.privacy.accounts`, ``apiflag users``), they
replace that mapping: the user is the account mapped to the operating-system login and the roles
are the account's. Before that, the user is ``APIFLAG_USER`` or the login name. With a ``roles`` mapping, a user missing from it
has no role and a role outside the user's list is refused; without one (a laptop, the demo),
``APIFLAG_ROLE`` is taken as given and the default is ``analyst``.

Redaction replaces each personal value by its keyed pseudonym (so an auditor can still see that
two flags concern the same person) and empties free text that may name anyone (``observed``,
notes); the same values are swept out of every other string of the record (sentences).
"""

from __future__ import annotations

import copy
import getpass
import os
from pathlib import Path
from typing import Any

from apiflag.errors import ApiflagError
from apiflag.privacy.masking import PersonalDictionary
from apiflag.privacy.policy import REDACT, ROLES, config_path, kind_by_name, read_config

__all__ = [
    "PERMISSIONS",
    "ROLES",
    "allowed_roles",
    "can",
    "cli_account",
    "current_role",
    "current_user",
    "redact_for",
    "migrate_from_config",
    "require",
    "sees_personal_data",
]


PERMISSIONS: dict[str, frozenset[str]] = {
    "queue.list": frozenset({"analyst", "supervisor", "auditor"}),
    "queue.show": frozenset({"analyst", "supervisor", "auditor"}),
    "queue.decide": frozenset({"analyst", "supervisor"}),
    "explain": frozenset({"analyst", "supervisor", "auditor", "model_owner"}),
    "audit.view": frozenset({"supervisor", "auditor"}),
    "audit.verify": frozenset(ROLES),
    "stats": frozenset(ROLES),
    "model.train": frozenset({"model_owner"}),
    "model.promote": frozenset({"model_owner", "supervisor"}),
    "retention.hold": frozenset({"supervisor"}),
    "reidentify": frozenset({"supervisor"}),
    "rescreen.masked": frozenset({"supervisor"}),
    "personal_data": frozenset({"analyst", "supervisor"}),
    "desk": frozenset(ROLES),
    "report.view": frozenset(ROLES),
    "fairness.view": frozenset({"supervisor", "auditor", "model_owner"}),
    "model.view": frozenset({"supervisor", "auditor", "model_owner"}),
}
"""action -> roles allowed to do it; ``personal_data`` is who sees values unredacted."""

#: Keys holding lists of personal values, and the kind of each element.
LIST_KINDS = {"phones": "phone", "emails": "email", "aliases": "name", "payer_names": "name"}
#: Keys holding lists of documents: each element's ``number`` is a document number.
DOCUMENT_LISTS = frozenset({"documents"})


def cli_account() -> Any:
    """Return the :class:`~apiflag.privacy.accounts.Account` the CLI acts as, or None.

    None while the queue database holds no account (or does not exist yet).

    Raises:
        ApiflagError: accounts exist and this login has none, or it is disabled.
    """
    from apiflag import config
    from apiflag.privacy.accounts import cli_account as account_of_login
    from apiflag.queue.store import open_engine

    url = config.db_url()
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        return None
    engine = open_engine(url)
    try:
        return account_of_login(engine)
    finally:
        engine.dispose()


def current_user() -> str:
    """Return the account the CLI acts as; without accounts ``APIFLAG_USER`` or the login name."""
    account = cli_account()
    if account is not None:
        return str(account.name)
    return os.environ.get("APIFLAG_USER") or getpass.getuser()


def allowed_roles(user: str) -> tuple[str, ...] | None:
    """Return the roles ``config.yaml`` gives ``user`` (None when no ``roles`` mapping exists).

    Raises:
        ApiflagError: the mapping is malformed or names an unknown role.
    """
    mapping = read_config().get("roles")
    if mapping is None:
        return None
    if not isinstance(mapping, dict):
        raise ApiflagError(f"{config_path()}: roles: must map user names to roles")
    value = mapping.get(user)
    if value is None:
        return ()
    roles = (value,) if isinstance(value, str) else tuple(value) if isinstance(value, list) else ()
    for role in roles:
        if role not in ROLES:
            raise ApiflagError(
                f"{config_path()}: roles: {user}: unknown role {role!r} (roles: {', '.join(ROLES)})"
            )
    if not roles:
        raise ApiflagError(f"{config_path()}: roles: {user}: give a role or a list of roles")
    return roles


def current_role(requested: str | None = None) -> str:
    """Return the role the current user acts in.

    Args:
        requested: a role asked for on the command line (``--role``); default ``APIFLAG_ROLE``,
            then the user's first configured role (``analyst`` without a ``roles`` mapping).

    Returns:
        One of :data:`ROLES`.

    Raises:
        ApiflagError: the role is unknown, the user has no role, or the role is not one of the
            user's configured roles.
    """
    wanted = requested or os.environ.get("APIFLAG_ROLE") or None
    if wanted is not None and wanted not in ROLES:
        raise ApiflagError(f"role {wanted!r}: unknown (roles: {', '.join(ROLES)})")
    account = cli_account()
    allowed: tuple[str, ...] | None
    if account is not None:
        user, allowed = str(account.name), tuple(account.roles)
    else:
        user = current_user()
        allowed = allowed_roles(user)
    if allowed is None:
        return wanted or "analyst"
    if not allowed:
        raise ApiflagError(f"user {user}: has no role in {config_path()} (roles:)")
    if wanted is None:
        return allowed[0]
    if wanted not in allowed:
        raise ApiflagError(
            f"user {user}: may not act as {wanted} (configured: {', '.join(allowed)})"
        )
    return wanted


def can(role: str, action: str) -> bool:
    """Return whether ``role`` may do ``action`` (see :data:`PERMISSIONS`)."""
    return role in PERMISSIONS.get(action, frozenset())


def require(role: str, action: str) -> None:
    """Refuse ``action`` for ``role`` with a one-line error naming who may do it.

    Raises:
        ApiflagError: the role may not do it (exit 1).
    """
    if not can(role, action):
        allowed = sorted(PERMISSIONS.get(action, frozenset()))
        raise ApiflagError(
            f"role {role}: may not {action} (allowed: {', '.join(allowed) or 'nobody'})"
        )


def sees_personal_data(role: str) -> bool:
    """Return whether ``role`` sees personal values unredacted (analyst, supervisor)."""
    return can(role, "personal_data")


def _kind(key: str) -> str | None:
    return kind_by_name(key)


def _collect(value: Any, dictionary: PersonalDictionary, key: str = "") -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            if str(k) in DOCUMENT_LISTS and isinstance(v, list):
                for doc in v:
                    if isinstance(doc, dict) and doc.get("number"):
                        dictionary.add("document", doc["number"])
            _collect(v, dictionary, str(k))
    elif isinstance(value, list | tuple):
        for item in value:
            _collect(item, dictionary, key)
    elif value is not None and not isinstance(value, bool | int | float):
        kind = LIST_KINDS.get(key) or _kind(key)
        if kind is not None and kind != REDACT:
            dictionary.add(kind, value)


def _redact(value: Any, dictionary: PersonalDictionary, key: str = "") -> Any:
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if str(k) in DOCUMENT_LISTS and isinstance(v, list):
                out[k] = [
                    {**d, "number": dictionary.add("document", d["number"])}
                    if isinstance(d, dict) and d.get("number")
                    else _redact(d, dictionary, str(k))
                    for d in v
                ]
                out[k] = [_redact(d, dictionary, "") for d in out[k]]
            else:
                out[k] = _redact(v, dictionary, str(k))
        return out
    if isinstance(value, list | tuple):
        return type(value)(_redact(v, dictionary, key) for v in value)
    if value is None or isinstance(value, bool | int | float):
        return value
    kind = LIST_KINDS.get(key) or _kind(key)
    if kind == REDACT:
        return None
    if kind is not None:
        return dictionary.add(kind, value)
    if isinstance(value, str):
        return dictionary.sweep(value)[0]
    return value


def redact_for(role: str, record: Any) -> Any:
    """Return what ``role`` may see of ``record`` (a dict, list or value; never modified).

    Analysts and supervisors get the record unchanged. Auditors and model owners get a copy
    where every personal field (names, birth dates, documents, contacts, locators, seats,
    frequent-flyer numbers, payers, at any depth) is its keyed pseudonym, ``observed`` values and
    notes are ``None``, and those values are swept out of every other string (sentences).

    Args:
        role: one of :data:`ROLES`.
        record: a queue item, explanation or audit event as JSON-ready data.

    Returns:
        The record as the role may see it.

    Raises:
        ApiflagError: the role is unknown.
    """
    if role not in ROLES:
        raise ApiflagError(f"role {role!r}: unknown (roles: {', '.join(ROLES)})")
    if sees_personal_data(role):
        return copy.deepcopy(record)
    dictionary = PersonalDictionary()
    _collect(record, dictionary)
    return _redact(record, dictionary)


def migrate_from_config(engine: Any, *, actor: str) -> list[str]:
    """Create an account (without a password) for every user of ``config.yaml``'s ``roles:``.

    Each account's login is its name, as the mapping meant. Existing accounts are left alone.

    Returns:
        The names of the accounts created.

    Raises:
        ApiflagError: the mapping is malformed.
    """
    from apiflag.privacy.accounts import add_account, get_account

    mapping = read_config().get("roles") or {}
    if not isinstance(mapping, dict):
        raise ApiflagError("config.yaml: roles: must map user names to roles")
    created = []
    for user in sorted(mapping):
        if get_account(engine, str(user)) is not None:
            continue
        add_account(engine, str(user), allowed_roles(str(user)) or (), login=str(user), actor=actor)
        created.append(str(user))
    return created
