"""SQLModel tables, one module per aggregate. Importing this package registers them all."""

from app.models.base import metadata  # isort: skip  (sets the naming convention first)
from app.models.account import Account, AccountEvent, AccountPause, AgingRun
from app.models.allocation import AccountAllocation, AllocationRule
from app.models.assignment import Assignment, AssignmentChunk, AssignmentRejection
from app.models.audit import AuditEvent
from app.models.callback import Callback
from app.models.compliance_incident import ComplianceIncident
from app.models.debtor import ContactConsent, ContactPoint, Debtor, DebtorFlag, RelatedParty
from app.models.debtor_access import DebtorAccess
from app.models.document import AccountDocument, DocumentBlob, DocumentBlobChunk
from app.models.escalation import Escalation, EscalationNote
from app.models.experiment import ExperimentArm, StrategyExperiment
from app.models.field_profile import FieldProfile
from app.models.inbound import UnidentifiedCall
from app.models.interaction import Interaction, InteractionFeedback
from app.models.ledger import CreditMovement, LedgerEntry
from app.models.partner import Partner, PartnerBucket, PartnerClient
from app.models.payment import Payment
from app.models.payment_file import PaymentFile, PaymentFileChunk, PaymentFileLine
from app.models.plan import PaymentPlan, PlanInstallment
from app.models.portal import PortalLink
from app.models.promise import Promise
from app.models.rate_limit import RateLimitHit
from app.models.refresh_token import RefreshToken, RefreshTokenFamily
from app.models.snapshot import PortfolioSnapshot, PortfolioSnapshotDay, PortfolioSnapshotStale
from app.models.strategy import CollectionStrategy
from app.models.target import CommissionTerms, RecoveryTarget
from app.models.user import LoginAttempt, Team, TeamMember, User
from app.models.webhook import UploadProgress, WebhookDelivery, WebhookEvent, WebhookSubscription
from app.models.worklist import WorklistClaim

__all__ = [
    "Account",
    "AccountAllocation",
    "AccountDocument",
    "AccountEvent",
    "AccountPause",
    "AgingRun",
    "AllocationRule",
    "Assignment",
    "AssignmentChunk",
    "AssignmentRejection",
    "AuditEvent",
    "Callback",
    "CollectionStrategy",
    "CommissionTerms",
    "ComplianceIncident",
    "ContactConsent",
    "ContactPoint",
    "CreditMovement",
    "Debtor",
    "DebtorAccess",
    "DebtorFlag",
    "DocumentBlob",
    "DocumentBlobChunk",
    "Escalation",
    "EscalationNote",
    "ExperimentArm",
    "FieldProfile",
    "Interaction",
    "InteractionFeedback",
    "LedgerEntry",
    "LoginAttempt",
    "Partner",
    "PartnerBucket",
    "PartnerClient",
    "Payment",
    "PaymentFile",
    "PaymentFileChunk",
    "PaymentFileLine",
    "PaymentPlan",
    "PlanInstallment",
    "PortalLink",
    "PortfolioSnapshot",
    "PortfolioSnapshotDay",
    "PortfolioSnapshotStale",
    "Promise",
    "RateLimitHit",
    "RecoveryTarget",
    "RefreshToken",
    "RefreshTokenFamily",
    "RelatedParty",
    "StrategyExperiment",
    "Team",
    "TeamMember",
    "UnidentifiedCall",
    "UploadProgress",
    "User",
    "WebhookDelivery",
    "WebhookEvent",
    "WebhookSubscription",
    "WorklistClaim",
    "metadata",
]
