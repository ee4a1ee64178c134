"""SQLModel tables, one module per aggregate. Importing this package registers them all."""

from app.models.base import metadata  # isort: skip  (sets the naming convention first)
from app.models.audit import AuditEvent
from app.models.partner import Partner, PartnerClient
from app.models.user import LoginAttempt, Team, TeamMember, User

__all__ = [
    "AuditEvent",
    "LoginAttempt",
    "Partner",
    "PartnerClient",
    "Team",
    "TeamMember",
    "User",
    "metadata",
]
