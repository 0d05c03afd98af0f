"""Alerts for urgent flags: the duty officer hears of them without waiting for someone to look.

Decides which flags are urgent, what an alert says, how it is delivered and that it is sent
once:

* **urgent**: a queued flag that is a strong case match, or a protection flag on a minor, on a
  flight landing within ``within_hours`` of the run (or landed at most ``landed_minutes`` ago;
  a flight whose landing time is unknown counts as within). Whether a match is strong and a
  traveller a minor is not decided here: :func:`apiflag.queue.combine.combine` decided both
  (the ``strong_case_match`` and ``minor`` columns of ``CombineResult.travellers``).
* **what it says**: track, why it is urgent, flight, arrival airport, landing time and a link
  to the case file (``case_url``); never a name, birth date, document or booking.
* **how**: e-mail over SMTP and/or an HTTP POST of JSON to a webhook, each retried a bounded
  number of times with exponential backoff; a delivery that still fails is reported in the
  run summary and the audit log (``alert.failed``), never dropped silently.
* **once**: every delivery is a row of ``alert_deliveries`` (flag, channel) in the queue
  database, claimed before sending; a rerun of the night sends only what was never sent (a
  failed delivery is tried again). Each delivery is an audit event (``alert.sent``).

Settings, in ``$APIFLAG_HOME/config.yaml`` (no ``alerts:`` key: no alerts)::

    alerts:
      within_hours: 6
      landed_minutes: 60
      case_url: https://desk.example/flags/{flag_id}
      attempts: 3
      backoff_seconds: 2
      email: {host: smtp.example, port: 587, starttls: true, username: apiflag,
              password_env: APIFLAG_SMTP_PASSWORD, from: apiflag@example, to: [duty@example]}
      webhook: {url: https://hooks.example/apiflag, timeout_seconds: 10}
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
import os
import smtplib
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import click
import pandas as pd
from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    inspect,
    select,
)
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from apiflag.audit import append_event
from apiflag.errors import ApiflagError
from apiflag.settings import load_settings as load_app_settings

__all__ = [
    "ALERT_METADATA",
    "CHANNELS",
    "Alert",
    "AlertReport",
    "AlertSettings",
    "DeliveryError",
    "EmailSettings",
    "WebhookSettings",
    "alert_deliveries",
    "alert_night",
    "ensure_table",
    "load_settings",
    "send_alerts",
    "send_test",
    "service_now",
    "urgent_alerts",
    "urgent_mask",
]

CHANNELS: tuple[str, ...] = ("email", "webhook")
REASON_TEXT: dict[str, str] = {
    "strong_case_match": "strong case match",
    "minor_protection": "protection flag on a minor",
}
#: a claim older than this is taken to belong to a run that died while sending
STALE_CLAIM = dt.timedelta(minutes=30)
ACTOR = "apiflag-nightly"

ALERT_METADATA = MetaData()
alert_deliveries = Table(
    "alert_deliveries",
    ALERT_METADATA,
    Column("flag_id", String(40), primary_key=True),
    Column("channel", String(16), primary_key=True),
    Column("night", String(10), nullable=False),
    Column("status", String(16), nullable=False, comment="sending | sent | failed"),
    Column("attempts", Integer, nullable=False),
    Column("claimed_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True)),
    Column("error", Text, comment="last delivery error (no personal data)"),
)


def ensure_table(engine: Engine) -> None:
    """Create ``alert_deliveries`` when missing (two runs creating it at once is fine)."""
    try:
        ALERT_METADATA.create_all(engine, checkfirst=True)
    except SQLAlchemyError:
        if not inspect(engine).has_table(alert_deliveries.name):
            raise


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class EmailSettings:
    """Where e-mail alerts go (SMTP)."""

    host: str
    port: int = 25
    starttls: bool = False
    username: str | None = None
    password_env: str | None = None
    sender: str = "apiflag@localhost"
    recipients: tuple[str, ...] = ()
    timeout_seconds: float = 10.0


@dataclass(frozen=True)
class WebhookSettings:
    """Where webhook alerts go (HTTP POST of JSON)."""

    url: str
    timeout_seconds: float = 10.0


@dataclass(frozen=True)
class AlertSettings:
    """The ``alerts:`` section of ``config.yaml``, validated."""

    case_url: str
    within_hours: float = 6.0
    landed_minutes: float = 60.0
    attempts: int = 3
    backoff_seconds: float = 2.0
    email: EmailSettings | None = None
    webhook: WebhookSettings | None = None

    @property
    def channels(self) -> tuple[str, ...]:
        """The configured channels, in :data:`CHANNELS` order."""
        return tuple(c for c in CHANNELS if getattr(self, c) is not None)

    def link(self, flag_id: str) -> str:
        """Return the case file's address for ``flag_id``."""
        return self.case_url.replace("{flag_id}", flag_id)


class _Reader:
    """Reads one section of config.yaml, failing with one line naming file, key and value."""

    def __init__(self, path: Path, prefix: str, section: Any, allowed: set[str]) -> None:
        if not isinstance(section, dict):
            raise ApiflagError(f"{path}: {prefix}: must be a mapping of settings")
        unknown = sorted(set(section) - allowed)
        if unknown:
            raise ApiflagError(
                f"{path}: {prefix}.{unknown[0]}: unknown setting "
                f"(allowed: {', '.join(sorted(allowed))})"
            )
        self.path, self.prefix, self.data = path, prefix, section

    def fail(self, key: str, why: str) -> ApiflagError:
        return ApiflagError(f"{self.path}: {self.prefix}.{key}: {self.data.get(key)!r} {why}")

    def text(self, key: str, default: str | None = None, *, required: bool = False) -> str | None:
        raw = self.data.get(key, default)
        if raw is None:
            if required:
                raise ApiflagError(f"{self.path}: {self.prefix}.{key}: missing (required)")
            return None
        if not isinstance(raw, str) or not raw.strip():
            raise self.fail(key, "is not a non-empty text")
        return raw.strip()

    def number(self, key: str, default: float, low: float, high: float) -> float:
        raw = self.data.get(key, default)
        ok = isinstance(raw, int | float) and not isinstance(raw, bool)
        if not ok or not math.isfinite(float(raw)) or not low <= float(raw) <= high:
            raise self.fail(key, f"is not a number between {low:g} and {high:g}")
        return float(raw)

    def whole(self, key: str, default: int, low: int, high: int) -> int:
        raw = self.data.get(key, default)
        if isinstance(raw, bool) or not isinstance(raw, int) or not low <= raw <= high:
            raise self.fail(key, f"is not a whole number between {low} and {high}")
        return raw

    def flag(self, key: str, default: bool) -> bool:
        raw = self.data.get(key, default)
        if not isinstance(raw, bool):
            raise self.fail(key, "is not true or false")
        return raw

    def url(self, key: str, *, required: bool = True) -> str | None:
        value = self.text(key, required=required)
        if value is not None and not value.startswith(("http://", "https://")):
            raise self.fail(key, "is not an http:// or https:// address")
        return value

    def addresses(self, key: str) -> tuple[str, ...]:
        raw = self.data.get(key)
        items = [raw] if isinstance(raw, str) else raw
        if not isinstance(items, list) or not items:
            raise self.fail(key, "is not an e-mail address or a non-empty list of them")
        for item in items:
            if not isinstance(item, str) or "@" not in item or any(c.isspace() for c in item):
                raise ApiflagError(
                    f"{self.path}: {self.prefix}.{key}: {item!r} is not an e-mail address"
                )
        return tuple(items)


def _email_settings(path: Path, section: Any) -> EmailSettings:
    r = _Reader(
        path,
        "alerts.email",
        section,
        {"host", "port", "starttls", "username", "password_env", "from", "to", "timeout_seconds"},
    )
    username = r.text("username")
    password_env = r.text("password_env")
    if (username is None) != (password_env is None):
        raise ApiflagError(
            f"{path}: alerts.email: username and password_env go together (the password is "
            "read from the environment variable password_env names, never from this file)"
        )
    sender = r.text("from", "apiflag@localhost") or "apiflag@localhost"
    if "@" not in sender:
        raise r.fail("from", "is not an e-mail address")
    return EmailSettings(
        host=r.text("host", required=True) or "",
        port=r.whole("port", 25, 1, 65535),
        starttls=r.flag("starttls", False),
        username=username,
        password_env=password_env,
        sender=sender,
        recipients=r.addresses("to"),
        timeout_seconds=r.number("timeout_seconds", 10.0, 0.1, 300.0),
    )


def load_settings(section: Mapping[str, Any] | None = None) -> AlertSettings | None:
    """Return the validated ``alerts:`` settings, or None when alerts are not configured.

    Args:
        section: the section itself (tests); default: ``alerts`` of ``$APIFLAG_HOME/config.yaml``.

    Returns:
        The settings, or None when there is no ``alerts:`` key.

    Raises:
        ApiflagError: a bad value, one line naming the file, the key and what is wrong.
    """
    from apiflag.privacy.policy import config_path, read_config

    path = config_path()
    if section is None:
        data = read_config()
        if "alerts" not in data:
            return None
        section = data["alerts"]
    r = _Reader(
        path,
        "alerts",
        section,
        {
            "within_hours",
            "landed_minutes",
            "case_url",
            "attempts",
            "backoff_seconds",
            "email",
            "webhook",
        },
    )
    case_url = r.url("case_url") or ""
    if "{flag_id}" not in case_url:
        raise r.fail("case_url", "has no {flag_id} placeholder for the flag's id")
    email = _email_settings(path, section["email"]) if section.get("email") is not None else None
    webhook = None
    if section.get("webhook") is not None:
        w = _Reader(path, "alerts.webhook", section["webhook"], {"url", "timeout_seconds"})
        webhook = WebhookSettings(
            url=w.url("url") or "", timeout_seconds=w.number("timeout_seconds", 10.0, 0.1, 300.0)
        )
    if email is None and webhook is None:
        raise ApiflagError(f"{path}: alerts: needs email, webhook or both (where to send them)")
    return AlertSettings(
        case_url=case_url,
        within_hours=r.number("within_hours", 6.0, 0.0, 24.0 * 14),
        landed_minutes=r.number("landed_minutes", 60.0, 0.0, 24.0 * 60),
        attempts=r.whole("attempts", 3, 1, 10),
        backoff_seconds=r.number("backoff_seconds", 2.0, 0.0, 600.0),
        email=email,
        webhook=webhook,
    )


# --------------------------------------------------------------------------- which flags


def service_now() -> dt.datetime:
    """Return the current time in the settings' time zone, naive (as flight times are stored)."""
    return dt.datetime.now(load_app_settings().zone).replace(tzinfo=None)


@dataclass(frozen=True)
class Alert:
    """One urgent flag, as an alert says it: no personal data.

    Attributes:
        flag_id: the flag (a pseudonymous id).
        night: the arrival night.
        track: the flag's track.
        reasons: why it is urgent (keys of :data:`REASON_TEXT`).
        flight: carrier and number (``PR428``).
        arrival_airport: where it lands (None when unknown).
        landing: scheduled landing, local time (None when unknown).
        link: the case file's address.
    """

    flag_id: str
    night: str
    track: str
    reasons: tuple[str, ...]
    flight: str
    arrival_airport: str | None
    landing: dt.datetime | None
    link: str

    def landing_text(self) -> str:
        """The landing time for people, in the settings' time zone (named), or ``unknown``."""
        if self.landing is None:
            return "unknown"
        return f"{self.landing:%Y-%m-%d %H:%M} {load_app_settings().time_zone} time"

    def payload(self) -> dict[str, Any]:
        """The webhook's JSON body."""
        landing = None
        if self.landing is not None:
            landing = self.landing.replace(tzinfo=load_app_settings().zone).isoformat()
        return {
            "event": "apiflag.urgent_flag",
            "flag_id": self.flag_id,
            "night": self.night,
            "track": self.track,
            "reasons": list(self.reasons),
            "flight": self.flight,
            "arrival_airport": self.arrival_airport,
            "landing": landing,
            "case_url": self.link,
        }

    def subject(self) -> str:
        """The e-mail subject."""
        when = "landing time unknown" if self.landing is None else f"lands {self.landing:%H:%M}"
        return f"apiflag urgent {self.track} flag: {self.flight} {when}"

    def text(self) -> str:
        """The e-mail body (plain text)."""
        why = "; ".join(REASON_TEXT.get(r, r) for r in self.reasons)
        return (
            "An urgent flag is waiting for a decision.\n\n"
            f"why urgent: {why}\n"
            f"track:      {self.track}\n"
            f"flight:     {self.flight}"
            + (f" to {self.arrival_airport}" if self.arrival_airport else "")
            + "\n"
            f"landing:    {self.landing_text()}\n"
            f"night:      {self.night}\n"
            f"case file:  {self.link}\n\n"
            "This message carries no personal data: open the case file to see who and why.\n"
            "apiflag ranks and explains; a person decides.\n"
        )


def _value(value: Any) -> Any:
    return None if value is None or (not isinstance(value, str) and pd.isna(value)) else value


def urgent_mask(combined: pd.DataFrame) -> pd.Series:
    """Return which rows of ``CombineResult.travellers`` are urgent, queued or not.

    Urgent: a strong case match, or a minor on the protection track (both as combine decided).
    """
    strong = combined["strong_case_match"].astype(bool)
    minor_protection = combined["minor"].astype(bool) & (combined["track"] == "protection")
    return combined["flagged"].astype(bool) & (strong | minor_protection)


def urgent_alerts(
    combined: pd.DataFrame,
    travellers: pd.DataFrame,
    flights: pd.DataFrame,
    settings: AlertSettings,
    night: str,
    now: dt.datetime,
) -> tuple[list[Alert], int]:
    """Return the alerts for a night's urgent flags, and how many land outside the window.

    Args:
        combined: ``CombineResult.travellers`` (flag_id, track, flagged, queued, minor,
            strong_case_match).
        travellers: the warehouse ``travellers`` (traveller_id -> flight_id).
        flights: the warehouse ``flights`` (carrier, number, arrival_airport,
            scheduled_arrival).
        settings: the alert settings (window and case file address).
        night: the night, ``YYYY-MM-DD``.
        now: the current time, naive, in the service's time zone.

    Returns:
        ``(alerts in landing order, urgent flags outside the window)``.
    """
    queued = combined["queued"].astype(bool) & combined["flag_id"].notna()
    urgent = combined.loc[urgent_mask(combined) & queued]
    if urgent.empty:
        return [], 0
    flight_of = travellers.drop_duplicates("traveller_id").set_index("traveller_id")["flight_id"]
    fl = flights.drop_duplicates("flight_id").set_index("flight_id")
    earliest = now - dt.timedelta(minutes=settings.landed_minutes)
    latest = now + dt.timedelta(hours=settings.within_hours)
    alerts: list[Alert] = []
    outside = 0
    for rec in urgent.to_dict("records"):
        fid = flight_of.get(rec["traveller_id"])
        info: dict[str, Any] = fl.loc[fid].to_dict() if fid in fl.index else {}
        landing = _value(info.get("scheduled_arrival"))
        landing = None if landing is None else pd.Timestamp(landing).to_pydatetime()
        if landing is not None and not earliest <= landing <= latest:
            outside += 1
            continue
        reasons = []
        if bool(rec["strong_case_match"]):
            reasons.append("strong_case_match")
        if bool(rec["minor"]) and rec["track"] == "protection":
            reasons.append("minor_protection")
        carrier, number = _value(info.get("carrier")), _value(info.get("number"))
        alerts.append(
            Alert(
                flag_id=str(rec["flag_id"]),
                night=night,
                track=str(rec["track"]),
                reasons=tuple(reasons),
                flight=f"{carrier or ''}{number or ''}" or "unknown flight",
                arrival_airport=_value(info.get("arrival_airport")),
                landing=landing,
                link=settings.link(str(rec["flag_id"])),
            )
        )
    alerts.sort(key=lambda a: (a.landing is not None, a.landing or now, a.flag_id))
    return alerts, outside


# --------------------------------------------------------------------------- delivery


class DeliveryError(Exception):
    """A delivery that did not go through; ``permanent`` ones are not retried."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}"[:300]


def send_email(settings: EmailSettings, alert: Alert) -> None:
    """Send ``alert`` by e-mail, once.

    Raises:
        DeliveryError: the server could not be reached or refused the message (5xx:
            permanent).
    """
    message = EmailMessage()
    message["Subject"] = alert.subject()
    message["From"] = settings.sender
    message["To"] = ", ".join(settings.recipients)
    message.set_content(alert.text())
    password = None
    if settings.password_env:
        password = os.environ.get(settings.password_env)
        if password is None:
            raise DeliveryError(
                f"environment variable {settings.password_env} (alerts.email.password_env) "
                "is not set",
                permanent=True,
            )
    try:
        with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_seconds) as smtp:
            if settings.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.username and password is not None:
                smtp.login(settings.username, password)
            smtp.send_message(message)
    except smtplib.SMTPResponseException as exc:
        raise DeliveryError(_one_line(exc), permanent=500 <= exc.smtp_code < 600) from exc
    except smtplib.SMTPRecipientsRefused as exc:
        raise DeliveryError(_one_line(exc), permanent=True) from exc
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryError(_one_line(exc)) from exc


def post_webhook(settings: WebhookSettings, alert: Alert) -> None:
    """POST ``alert`` as JSON to the webhook, once.

    Raises:
        DeliveryError: no connection, or a status other than 2xx (4xx other than 408 and 429:
            permanent).
    """
    body = json.dumps(alert.payload(), sort_keys=True).encode("utf-8")
    request = urllib.request.Request(
        settings.url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "apiflag-alerts"},
    )
    try:
        with urllib.request.urlopen(request, timeout=settings.timeout_seconds) as response:
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        permanent = 400 <= exc.code < 500 and exc.code not in (408, 429)
        raise DeliveryError(f"HTTP {exc.code} {exc.reason}", permanent=permanent) from exc
    except (OSError, ValueError) as exc:
        raise DeliveryError(_one_line(exc)) from exc
    if not 200 <= status < 300:
        raise DeliveryError(f"HTTP {status}")


def _sender(settings: AlertSettings, channel: str) -> Callable[[Alert], None]:
    if channel == "email" and settings.email is not None:
        email = settings.email
        return lambda alert: send_email(email, alert)
    if channel == "webhook" and settings.webhook is not None:
        webhook = settings.webhook
        return lambda alert: post_webhook(webhook, alert)
    raise ApiflagError(f"alerts: channel {channel!r} is not configured")


def deliver(
    send: Callable[[], None],
    attempts: int,
    backoff_seconds: float,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[bool, int, str]:
    """Call ``send`` until it succeeds, at most ``attempts`` times, waiting longer each time.

    The waits are ``backoff_seconds``, then twice that, four times ... A permanent
    :class:`DeliveryError` stops at once.

    Returns:
        ``(delivered, attempts made, last error or "")``.
    """
    error = ""
    for attempt in range(1, attempts + 1):
        try:
            send()
            return True, attempt, ""
        except DeliveryError as exc:
            error = str(exc)
            if exc.permanent:
                return False, attempt, error
        if attempt < attempts:
            sleep(backoff_seconds * 2 ** (attempt - 1))
    return False, attempts, error


# --------------------------------------------------------------------------- once per flag


@dataclass
class AlertReport:
    """What the alerting step of a run did (no personal data).

    Attributes:
        configured: False when config.yaml has no ``alerts:`` key.
        urgent: urgent flags of the night landing within the window.
        outside_window: urgent flags on flights landing later than the window, or landed
            before it (not alerted).
        sent: deliveries made by this run.
        already_sent: deliveries an earlier run made (not repeated).
        in_progress: deliveries another run is making right now (not repeated).
        failed: one line per delivery that failed after its retries.
        over_capacity: urgent flags the capacity kept out of the queue (no case file, so no
            alert): protection flags on minors, since strong case matches are always queued.
    """

    configured: bool = True
    urgent: int = 0
    outside_window: int = 0
    sent: int = 0
    already_sent: int = 0
    in_progress: int = 0
    failed: list[str] = field(default_factory=list)
    over_capacity: int = 0

    def warnings(self) -> list[str]:
        """What the run summary and the report must say: failures and urgent flags not queued."""
        out = list(self.failed)
        if self.over_capacity:
            out.append(
                f"{self.over_capacity} urgent flag(s) (protection flags on minors) are over "
                "capacity: not queued, so no case file and no alert; raise --capacity"
            )
        return out

    def line(self) -> str:
        """One line for the run summary."""
        if not self.configured:
            return "alerts: not configured (no alerts: in config.yaml)"
        return (
            f"alerts: {self.urgent} urgent flag(s) landing within the window "
            f"({self.outside_window} outside it); deliveries sent {self.sent}, already sent "
            f"{self.already_sent}, in progress elsewhere {self.in_progress}, "
            f"failed {len(self.failed)}"
        )


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _claim(engine: Engine, alert: Alert, channel: str) -> str:
    """Claim one delivery; return ``claimed``, ``sent`` or ``in_progress``.

    Two runs claiming the same delivery at once (PostgreSQL: both insert the same key) leave
    one claimant; the other sees ``in_progress``.
    """
    try:
        return _claim_once(engine, alert, channel)
    except IntegrityError:
        return "in_progress"


def _claim_once(engine: Engine, alert: Alert, channel: str) -> str:
    now = _utcnow()
    key = (alert_deliveries.c.flag_id == alert.flag_id) & (alert_deliveries.c.channel == channel)
    with engine.begin() as conn:
        row = conn.execute(select(alert_deliveries).where(key)).first()
        if row is None:
            conn.execute(
                alert_deliveries.insert().values(
                    flag_id=alert.flag_id,
                    channel=channel,
                    night=alert.night,
                    status="sending",
                    attempts=0,
                    claimed_at=now,
                )
            )
            return "claimed"
        if row.status == "sent":
            return "sent"
        if row.status == "sending" and now - _aware(row.claimed_at) < STALE_CLAIM:
            return "in_progress"
        conn.execute(alert_deliveries.update().where(key).values(status="sending", claimed_at=now))
        return "claimed"


def _record(
    engine: Engine, alert: Alert, channel: str, ok: bool, attempts: int, error: str, actor: str
) -> None:
    key = (alert_deliveries.c.flag_id == alert.flag_id) & (alert_deliveries.c.channel == channel)
    details: dict[str, Any] = {
        "channel": channel,
        "night": alert.night,
        "track": alert.track,
        "reasons": list(alert.reasons),
        "flight": alert.flight,
        "attempts": attempts,
    }
    with engine.begin() as conn:
        before = conn.execute(select(alert_deliveries.c.attempts).where(key)).scalar_one()
        conn.execute(
            alert_deliveries.update()
            .where(key)
            .values(
                status="sent" if ok else "failed",
                attempts=int(before) + attempts,
                sent_at=_utcnow() if ok else None,
                error=None if ok else error,
            )
        )
        if ok:
            append_event(conn, actor, "alert.sent", alert.flag_id, details)
        else:
            append_event(conn, actor, "alert.failed", alert.flag_id, {**details, "error": error})


def send_alerts(
    engine: Engine,
    alerts: list[Alert],
    settings: AlertSettings,
    *,
    actor: str = ACTOR,
    sleep: Callable[[float], None] = time.sleep,
) -> AlertReport:
    """Deliver each alert on each configured channel unless an earlier run already did.

    A channel that failed one alert after all its attempts is not tried again in this run (a
    server that is down would otherwise hold the night up for attempts x timeout per alert):
    its remaining alerts are recorded and reported as failed, ``not attempted``, and the next
    run tries them.

    Args:
        engine: the queue database (see :func:`apiflag.queue.store.open_engine`).
        alerts: from :func:`urgent_alerts`.
        settings: channels, attempts and backoff.
        actor: who sends, for the audit log.
        sleep: how to wait between attempts (tests pass a recorder).

    Returns:
        An :class:`AlertReport` (``urgent`` is ``len(alerts)``).
    """
    ensure_table(engine)
    report = AlertReport(urgent=len(alerts))
    down: dict[str, str] = {}
    for alert in alerts:
        for channel in settings.channels:
            state = _claim(engine, alert, channel)
            if state == "sent":
                report.already_sent += 1
                continue
            if state == "in_progress":
                report.in_progress += 1
                continue
            if channel in down:
                ok, attempts, error = False, 0, f"not attempted: {channel} {down[channel]}"
            else:
                send = functools.partial(_sender(settings, channel), alert)
                ok, attempts, error = deliver(
                    send, settings.attempts, settings.backoff_seconds, sleep
                )
                if not ok:
                    down[channel] = f"failed for flag {alert.flag_id} in this run"
            _record(engine, alert, channel, ok, attempts, error, actor)
            if ok:
                report.sent += 1
            else:
                report.failed.append(
                    f"alert for flag {alert.flag_id} by {channel} failed after {attempts} "
                    f"attempt(s): {error} (recorded in the audit log; a rerun tries again)"
                )
    return report


def alert_night(
    combined: pd.DataFrame,
    travellers: pd.DataFrame,
    flights: pd.DataFrame,
    night: str,
    *,
    settings: AlertSettings | None = None,
    now: dt.datetime | None = None,
    engine: Engine | None = None,
) -> AlertReport:
    """Send the alerts of a saved night (the nightly job calls this right after saving it).

    Args:
        combined: ``CombineResult.travellers``.
        travellers: the warehouse ``travellers``.
        flights: the warehouse ``flights``.
        night: the night, ``YYYY-MM-DD``.
        settings: default :func:`load_settings` (no alerts when it is None).
        now: default :func:`service_now`.
        engine: the queue database (default: a new engine on :func:`apiflag.config.db_url`).

    Returns:
        An :class:`AlertReport` (``configured`` False when alerts are off).
    """
    settings = settings if settings is not None else load_settings()
    if settings is None:
        return AlertReport(configured=False)
    alerts, outside = urgent_alerts(
        combined, travellers, flights, settings, night, now or service_now()
    )
    over = int((urgent_mask(combined) & ~combined["queued"].astype(bool)).sum())
    if not alerts:
        return AlertReport(outside_window=outside, over_capacity=over)
    from apiflag.queue.store import open_engine

    own = engine is None
    bind = engine or open_engine()
    try:
        report = send_alerts(bind, alerts, settings)
    finally:
        if own:
            bind.dispose()
    report.outside_window = outside
    report.over_capacity = over
    return report


def send_test(
    settings: AlertSettings, *, engine: Engine | None = None, actor: str = "apiflag-alerts-test"
) -> dict[str, str]:
    """Send one test alert on every configured channel (retried like real ones).

    Returns:
        Channel -> ``sent`` or the error; each outcome is an ``alert.test`` audit event.
    """
    from apiflag.queue.store import open_engine

    alert = Alert(
        flag_id="TEST",
        night=service_now().date().isoformat(),
        track="test",
        reasons=("test",),
        flight="TEST",
        arrival_airport=None,
        landing=service_now().replace(second=0, microsecond=0),
        link=settings.link("TEST"),
    )
    out: dict[str, str] = {}
    own = engine is None
    bind = engine or open_engine()
    try:
        for channel in settings.channels:
            send = _sender(settings, channel)
            ok, attempts, error = deliver(
                functools.partial(send, alert), settings.attempts, settings.backoff_seconds
            )
            out[channel] = "sent" if ok else error
            append_event(
                bind,
                actor,
                "alert.test",
                channel,
                {"delivered": ok, "attempts": attempts, "error": error},
            )
    finally:
        if own:
            bind.dispose()
    return out


# --------------------------------------------------------------------------- the command line


@click.group("alerts")
def alerts_command() -> None:
    """Alerts for urgent flags (settings: alerts: in $APIFLAG_HOME/config.yaml)."""


@alerts_command.command("test")
def test_command() -> None:
    """Send one test alert (no flag, no personal data) on every configured channel."""
    settings = load_settings()
    if settings is None:
        raise ApiflagError(f"{_config_path()}: no alerts: section; nothing to test")
    results = send_test(settings)
    for channel, outcome in results.items():
        click.echo(f"{channel}: {outcome}")
    failed = [c for c, outcome in results.items() if outcome != "sent"]
    if failed:
        raise ApiflagError(f"test alert not delivered by {', '.join(failed)} (see above)")


@alerts_command.command("status")
@click.option("--night", default=None, help="YYYY-MM-DD (default: every night).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def status_command(night: str | None, fmt: str) -> None:
    """List alert deliveries: flag, channel, status, attempts, last error."""
    from apiflag.queue.store import open_engine

    engine = open_engine()
    try:
        ensure_table(engine)
        query = select(alert_deliveries).order_by(
            alert_deliveries.c.night, alert_deliveries.c.flag_id, alert_deliveries.c.channel
        )
        if night is not None:
            query = query.where(alert_deliveries.c.night == night)
        with engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(query)]
    finally:
        engine.dispose()
    if fmt == "json":
        click.echo(json.dumps(rows, default=str, indent=1))
        return
    for r in rows:
        click.echo(
            f"{r['night']}  {r['flag_id']}  {r['channel']:<8} {r['status']:<8} "
            f"attempts {r['attempts']}" + (f"  {r['error']}" if r["error"] else "")
        )
    if not rows:
        click.echo("no alert deliveries recorded")


def _config_path() -> Path:
    from apiflag.privacy.policy import config_path

    return config_path()
