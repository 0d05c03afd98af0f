"""Real receivers for alert tests: an SMTP server (aiosmtpd) and a webhook (http.server).

Both listen on 127.0.0.1 on a free port, record what they receive, and can be told to fail.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class MailBox:
    """An aiosmtpd handler: keeps each message; answers ``replies`` first (e.g. a 451)."""

    messages: list[str] = field(default_factory=list)
    recipients: list[list[str]] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)
    tries: int = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.tries += 1
        if self.replies:
            return self.replies.pop(0)
        self.messages.append(envelope.content.decode("utf-8", "replace"))
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"


@contextmanager
def smtp_server(**smtp_parameters: Any) -> Iterator[tuple[MailBox, int]]:
    """A real SMTP server on 127.0.0.1 for the duration of the block.

    ``smtp_parameters`` go to aiosmtpd's SMTP class (``authenticator``, ``auth_require_tls``).
    """
    box = MailBox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port, **smtp_parameters)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


@dataclass
class Hook:
    """What the webhook received, and the statuses it answers with (then 200)."""

    bodies: list[dict[str, Any]] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    always: int | None = None
    tries: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


@contextmanager
def webhook_server() -> Iterator[tuple[Hook, str]]:
    """A real HTTP server on 127.0.0.1 taking POSTs of JSON; yields (hook, url)."""
    hook = Hook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length).decode("utf-8")
            with hook.lock:
                hook.tries += 1
                status = hook.always or (hook.statuses.pop(0) if hook.statuses else 200)
                if status == 200:
                    hook.raw.append(body)
                    hook.bodies.append(json.loads(body))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook, f"http://127.0.0.1:{server.server_address[1]}/apiflag"
    finally:
        server.shutdown()
        server.server_close()
