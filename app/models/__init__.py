"""SQLModel tables, one module per aggregate. Importing this package registers them all."""

from app.models.base import metadata  # isort: skip  (sets the naming convention first)
from app.models.account import Account, AccountEvent, AccountPause, AgingRun
from app.models.assignment import Assignment, AssignmentChunk, AssignmentRejection
from app.models.audit import AuditEvent
from app.models.debtor import ContactPoint, Debtor, RelatedParty
from app.models.partner import Partner, PartnerBucket, PartnerClient
from app.models.user import LoginAttempt, Team, TeamMember, User

__all__ = [
    "Account",
    "AccountEvent",
    "AccountPause",
    "AgingRun",
    "Assignment",
    "AssignmentChunk",
    "AssignmentRejection",
    "AuditEvent",
    "ContactPoint",
    "Debtor",
    "LoginAttempt",
    "Partner",
    "PartnerBucket",
    "PartnerClient",
    "RelatedParty",
    "Team",
    "TeamMember",
    "User",
    "metadata",
]
