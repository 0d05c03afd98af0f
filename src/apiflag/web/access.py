"""Who may open which page of the review desk: the one table of route x role.

Every route of the application is a key of :data:`ROUTE_ROLES`; its value is the set of roles
that may use it, taken from :data:`apiflag.privacy.roles.PERMISSIONS` so that the desk and the
CLI grant the same things. :data:`PUBLIC` lists the only routes reachable without a session
(the sign-in form and the stylesheet it needs). The application refuses to start with a route
missing from the table, and a test walks every route with every role.
"""

from __future__ import annotations

from apiflag.privacy.roles import PERMISSIONS

__all__ = ["PUBLIC", "ROUTE_ROLES", "allowed"]

PUBLIC: frozenset[tuple[str, str]] = frozenset(
    {("GET", "/login"), ("POST", "/login"), ("GET", "/static/{path:path}")}
)
"""Routes answered without a session; they show no data."""

ROUTE_ROLES: dict[tuple[str, str], frozenset[str]] = {
    ("GET", "/"): PERMISSIONS["desk"],
    ("POST", "/logout"): PERMISSIONS["desk"],
    ("POST", "/role"): PERMISSIONS["desk"],
    ("GET", "/queue"): PERMISSIONS["queue.list"],
    ("GET", "/flags/{flag_id}"): PERMISSIONS["queue.show"],
    ("POST", "/flags/{flag_id}/decide"): PERMISSIONS["queue.decide"],
    ("POST", "/flags/{flag_id}/reopen"): PERMISSIONS["queue.decide"],
    ("POST", "/flags/{flag_id}/hold"): PERMISSIONS["retention.hold"],
    ("POST", "/flags/{flag_id}/reidentify"): PERMISSIONS["reidentify"],
    ("GET", "/reports"): PERMISSIONS["report.view"],
    ("GET", "/reports/{night}"): PERMISSIONS["report.view"],
    ("GET", "/fairness"): PERMISSIONS["fairness.view"],
    ("GET", "/models"): PERMISSIONS["model.view"],
    ("GET", "/stats"): PERMISSIONS["stats"],
    ("GET", "/audit"): PERMISSIONS["audit.view"],
    ("GET", "/audit/verify"): PERMISSIONS["audit.view"],
}
"""(method, path template) -> the roles that may use the route."""


def allowed(method: str, path: str, role: str) -> bool:
    """Return whether ``role`` may use the route ``(method, path)`` (False for unknown routes)."""
    return role in ROUTE_ROLES.get((method, path), frozenset())
