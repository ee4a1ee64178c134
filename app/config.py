"""All configuration, read once from the environment (prefix ``CARTERA_``) or a ``.env`` file.

Nothing else in the code base reads ``os.environ``: ask :func:`get_settings`.
"""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, IPvAnyNetwork, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The development signing secret. Production refuses to start while it is in use.
DEFAULT_JWT_SECRET = "cartera-dev-secret-change-me-in-production"
# Development keys for personal data at rest; production refuses them too.
DEFAULT_DATA_KEYS = "1:Y2FydGVyYS1kZXYtZGF0YS1rZXktY2hhbmdlLW1lISE="
DEFAULT_BLIND_INDEX_KEY = "cartera-dev-blind-index-key-change-me-in-production"

# Credit a manager or admin may refund or move on their own, per currency (about USD 250-300).
DEFAULT_CREDIT_SELF_APPROVAL_LIMITS: dict[str, Decimal] = {
    "MXN": Decimal("5000"),
    "CLP": Decimal("500000"),
    "COP": Decimal("1000000"),
    "PEN": Decimal("1000"),
    "BRL": Decimal("1500"),
    "USD": Decimal("300"),
}


class ConfigurationError(RuntimeError):
    """The settings cannot be used as they are (raised at start-up, never per request)."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CARTERA_", env_file=".env", extra="ignore")

    # Secure by default: an unset environment is production (which refuses the published
    # development secrets and keys); development and test are said explicitly.
    env: Literal["development", "test", "production"] = "production"
    # An existing PostgreSQL (postgresql://… or postgresql+asyncpg://…). Empty: the embedded one.
    database_url: SecretStr | None = None
    data_dir: Path = Path(".cartera")
    db_pool_size: int = Field(default=10, ge=1, le=200)
    db_max_overflow: int = Field(default=10, ge=0, le=200)
    # Pooled connections are replaced after this many seconds (no ping before each use: a
    # connection found dead on a transaction's first statement is replaced and the statement
    # run again, app/db.py).
    db_pool_recycle_seconds: int = Field(default=1800, ge=30, le=24 * 3600)
    # A streaming standby of that database (postgresql://…, the same database name) for
    # reads that may be a few seconds behind: reports, CSV exports and the audit trail
    # (app/db.py, Replica). Empty: every read from the primary. Reads fall back to the
    # primary while the standby is down or more than replica_max_lag_seconds behind.
    replica_url: SecretStr | None = None
    replica_max_lag_seconds: float = Field(default=10.0, gt=0, le=3600)

    jwt_algorithm: Literal["HS256", "HS384", "HS512", "RS256"] = "HS256"
    jwt_secret: SecretStr = SecretStr(DEFAULT_JWT_SECRET)
    # PEM texts for RS256; the private key signs, the public key verifies.
    jwt_private_key: SecretStr | None = None
    jwt_public_key: str | None = None
    jwt_issuer: str = "cartera"
    # Staff sessions (app/domain/refresh_tokens.py): a login's refresh tokens rotate on every
    # use for at most refresh_token_days, and one left unused refresh_token_idle_hours ends
    # the session (an app closed overnight logs in again the next shift).
    refresh_token_days: int = Field(default=14, ge=1, le=90)
    refresh_token_idle_hours: int = Field(default=12, ge=1, le=90 * 24)

    # National ids, contact values and documents are sealed with AES-256-GCM under this key
    # ring ("id:base64,id:base64", 32-byte keys; `cartera keys new` makes one); ids and
    # contact values are indexed for exact search with HMAC under the blind-index key. New
    # data is sealed with data_key_id (the highest id when unset); `cartera keys rotate`
    # re-seals older rows and document chunks.
    data_keys: SecretStr = SecretStr(DEFAULT_DATA_KEYS)
    data_key_id: int | None = Field(default=None, ge=1, le=255)
    blind_index_key: SecretStr = SecretStr(DEFAULT_BLIND_INDEX_KEY)
    access_token_minutes: int = Field(default=30, ge=1, le=24 * 60)
    # Who a bearer token names is read from the database and kept this many seconds per
    # process (app/services/auth.py, PrincipalCache). A change made through this process
    # (deactivation, role, password or secret, logout) drops it at once; one made elsewhere
    # (another worker, a script) takes effect within this window. 0: read on every request.
    principal_cache_seconds: float = Field(default=5.0, ge=0, le=60)
    # `POST /worklists/me/next` keeps a collector's ranking this many seconds per process and
    # hands out its following accounts (each still checked afresh and claimed atomically);
    # a night answer "nothing may be contacted now" is kept as long (app/services/
    # worklists.py). 0: every call ranks again.
    worklist_ranking_seconds: float = Field(default=5.0, ge=0, le=60)

    # Brute-force protection of both grants. Failures are counted per name *and* client
    # address (login_max_failures lock that name for that address only) and per address
    # across all names (login_address_max_failures lock the address), in the same window and
    # for the same time.
    login_max_failures: int = Field(default=5, ge=1)
    login_address_max_failures: int = Field(default=50, ge=1)
    login_failure_window_minutes: int = Field(default=15, ge=1)
    login_lock_minutes: int = Field(default=15, ge=1)
    # Proxies (addresses or networks) whose X-Forwarded-For names the client, e.g.
    # ["10.0.0.0/8", "127.0.0.1"]. Empty: the header is ignored and the socket peer is the
    # client (behind an unlisted proxy every client would share the proxy's address).
    trusted_proxies: list[IPvAnyNetwork] = Field(default_factory=list)

    cors_origins: list[str] = Field(default_factory=list)
    # Bearer token a Prometheus scraper sends to /metrics (admins and auditors may use theirs).
    metrics_token: SecretStr | None = Field(default=None, min_length=32)
    # The folder where the workers of `cartera serve --workers N` share their metrics
    # (prometheus_client's own variable, without our prefix); emptied at every start. Unset,
    # the command makes a temporary one per start.
    prometheus_multiproc_dir: Path | None = Field(
        default=None, validation_alias="PROMETHEUS_MULTIPROC_DIR"
    )
    # The job worker (`cartera worker`) answers /healthz and /metrics on this port (0: no
    # server) and interface; /metrics takes the scraper's token when metrics_token is set.
    worker_metrics_port: int = Field(default=9464, ge=0, le=65535)
    worker_metrics_host: str = "127.0.0.1"
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    # Assignment pushes: files (CSV, Excel) may be large; JSON is parsed whole, so less.
    max_upload_bytes: int = Field(default=2 * 1024 * 1024 * 1024, ge=1024)
    max_json_push_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    # Excel workbooks (.xlsx) are zips of XML, read as streams; what one may expand to
    # (app/services/workbooks.py). A worksheet or the shared strings grows with the rows:
    # Excel's largest sheet, 1,048,576 rows of every documented column, is 1.52 GB of XML as
    # openpyxl writes it, 0.85 GB plus 0.20 GB of shared strings as Excel does
    # (bench/workbook_sizes.py). Any other part (styles, relationships, theme, properties,
    # images) is small: Excel's maximum of 64,000 cell styles is about 6 MB. A cell holds at
    # most 32,767 characters in Excel itself.
    workbook_sheet_max_bytes: int = Field(default=2 * 1024**3, ge=1024 * 1024)
    workbook_part_max_bytes: int = Field(default=32 * 1024 * 1024, ge=64 * 1024)
    workbook_expanded_max_bytes: int = Field(default=4 * 1024**3, ge=1024 * 1024)
    workbook_cell_max_chars: int = Field(default=32_767, ge=256, le=1_000_000)
    # Account documents (scans, photos, signed agreements), sealed into the database.
    max_document_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    # A client that sends no part of its body for this long is cut off (408).
    body_idle_seconds: float = Field(default=30.0, gt=0)
    # Processes that validate and seal a push's rows (app/services/assignment_staging.py);
    # None: the machine's CPUs, at most 8; 0: a thread of the job process instead.
    intake_workers: int | None = Field(default=None, ge=0, le=64)
    # Run the job worker inside `cartera serve` (the default with the embedded database).
    worker_in_process: bool = False
    # Jobs (procrastinate, app/jobs/): jobs one worker process runs at once; a job that
    # failed on a transient error (connection lost, serialization failure, deadlock) is
    # tried up to job_max_attempts times, waiting base × 2^(attempt − 1) seconds (capped)
    # in between; a worker silent for job_stalled_seconds has its running jobs retried.
    worker_concurrency: int = Field(default=4, ge=1, le=64)
    job_max_attempts: int = Field(default=5, ge=1, le=50)
    job_retry_base_seconds: float = Field(default=2.0, gt=0, le=3600)
    job_retry_cap_seconds: float = Field(default=300.0, gt=0, le=24 * 3600)
    job_stalled_seconds: float = Field(default=60.0, ge=15, le=3600)
    # Contact law: a country's pack made stricter, e.g.
    # {"MX": {"hours": {"start": "08:00", "end": "21:00"}}}; anything looser is refused.
    compliance_overrides: dict[str, dict[str, Any]] = Field(default_factory=dict)
    # WRONG_NUMBER / DISCONNECTED results after which a contact point is no longer used.
    invalid_contact_after: int = Field(default=2, ge=1, le=20)
    # KYC searches (GET /kyc/search) one user may run in any 60 seconds, counted over every
    # API process (each search is audited).
    kyc_searches_per_minute: int = Field(default=30, ge=1, le=10_000)
    # Phone look-ups of inbound calls (GET /inbound/lookup) one user may run in any 60
    # seconds, counted over every API process (each look-up is audited).
    inbound_lookups_per_minute: int = Field(default=30, ge=1, le=10_000)
    # A callback still not done this many minutes after it fell due is listed as missed.
    callback_grace_minutes: int = Field(default=30, ge=1, le=24 * 60)
    # Maker-checker on credit ("saldo a favor") leaving an account: a manager or admin may
    # refund or transfer up to this amount per currency on their own (included); above it,
    # and for any team lead request, a second manager or admin approves. A currency not
    # listed has no self-approval: every movement waits for a second person. Set as JSON,
    # e.g. CARTERA_CREDIT_SELF_APPROVAL_LIMITS='{"MXN": "5000", "USD": "300"}' (the whole
    # table is replaced). Agency-wide rather than per partner: it guards the agency's own
    # treasury, whoever the creditor is.
    credit_self_approval_limits: dict[str, Decimal] = Field(
        default_factory=lambda: dict(DEFAULT_CREDIT_SELF_APPROVAL_LIMITS)
    )
    # The agency as payment agreements name it: its legal name and, in Mexico, its number
    # in CONDUSEF's Registro de Despachos de Cobranza (REDECO). The defaults are demo values.
    agency_legal_name: str = Field(
        default="Despacho Demostración de Cobranza, S.C.", min_length=1, max_length=200
    )
    agency_redeco_number: str | None = Field(default="DEMO-0000", max_length=40)
    # The debtor's self-service portal: how long a link opens it, how long a session lasts
    # once the debtor proved who they are, how many portal requests one session may make in
    # any 60 seconds (counted over every process: each is audited), the annual rate of the
    # restructuring it offers, and the public address links point at (the request's own
    # address when unset).
    portal_link_days: int = Field(default=7, ge=1, le=30)
    portal_session_minutes: int = Field(default=30, ge=5, le=24 * 60)
    portal_requests_per_minute: int = Field(default=60, ge=1, le=10_000)
    portal_restructuring_rate_pct: Decimal = Field(default=Decimal("0"), ge=0, le=200)
    portal_base_url: str | None = Field(default=None, max_length=200)
    # Events to partners (webhooks, app/services/webhooks.py). Endpoints are called only on
    # public addresses: loopback, private, link-local and other non-global networks are
    # refused at subscription and again at every delivery, unless listed here (e.g.
    # ["127.0.0.1/32"] for a receiver on the same machine in development or tests). In
    # production only https URLs are accepted.
    webhook_allowed_networks: list[IPvAnyNetwork] = Field(default_factory=list)
    # One attempt's time limit (connect, send, answer), seconds.
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    # Retries: exponential backoff from the base, capped, with jitter; a delivery not done
    # within the maximum age of its event is marked failed (retry it by hand).
    webhook_retry_base_seconds: float = Field(default=30.0, gt=0, le=3600)
    webhook_retry_cap_seconds: float = Field(default=3600.0, gt=0, le=24 * 3600)
    webhook_max_age_hours: float = Field(default=72.0, gt=0, le=24 * 30)
    # Mexico's payment rails (app/domain/payment_rails.py): the collection bank that issues
    # each account's referenced SPEI CLABE (its ABM code, its plaza and the name debtors
    # see), and the agency's issuer prefix for convenience-store references. The defaults
    # are demo values; set the ones the bank and the store network gave the agency.
    spei_bank_code: str = Field(default="646", pattern=r"^[0-9]{3}$")
    spei_plaza: str = Field(default="180", pattern=r"^[0-9]{3}$")
    spei_bank_name: str = Field(default="STP", min_length=1, max_length=60)
    store_reference_prefix: str = Field(default="90", pattern=r"^[0-9]{1,6}$")
    # The business date the nightly aging runs for is "today" in this zone.
    aging_time_zone: str = "America/Mexico_City"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # Logs as JSON lines (what a log shipper reads) or as readable console lines; unset,
    # JSON in production and console lines in development and tests.
    log_json: bool | None = None

    @property
    def logs_as_json(self) -> bool:
        return self.env == "production" if self.log_json is None else self.log_json

    @field_validator("database_url", "replica_url")
    @classmethod
    def _blank_is_none(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip():
            return None
        return value

    @field_validator("data_keys")
    @classmethod
    def _readable_key_ring(cls, value: SecretStr) -> SecretStr:
        from app.domain.crypto import KEY_BYTES, parse_key_ring

        for key_id, key in parse_key_ring(value.get_secret_value()).items():
            if not 1 <= key_id <= 255 or len(key) != KEY_BYTES:
                raise ValueError(f"key {key_id}: ids are 1 to 255 and keys {KEY_BYTES} bytes")
        return value

    @property
    def async_database_url(self) -> str | None:
        """The configured URL with the asyncpg driver, or None for the embedded server."""
        if self.database_url is None:
            return None
        return to_asyncpg_url(self.database_url.get_secret_value())

    @property
    def async_replica_url(self) -> str | None:
        """The read replica's URL with the asyncpg driver, or None without one."""
        if self.replica_url is None:
            return None
        return to_asyncpg_url(self.replica_url.get_secret_value(), setting="CARTERA_REPLICA_URL")

    def check_deployable(self) -> None:
        """Refuse settings that would be unsafe in production."""
        if self.env != "production":
            return
        if self.jwt_algorithm == "RS256":
            if self.jwt_private_key is None or not self.jwt_public_key:
                raise ConfigurationError("RS256 needs CARTERA_JWT_PRIVATE_KEY and _PUBLIC_KEY")
        elif self.jwt_secret.get_secret_value() == DEFAULT_JWT_SECRET:
            raise ConfigurationError(
                "CARTERA_ENV=production with the default signing secret: set CARTERA_JWT_SECRET"
            )
        elif len(self.jwt_secret.get_secret_value()) < 32:
            raise ConfigurationError("CARTERA_JWT_SECRET must have at least 32 characters")
        if self.database_url is None:
            raise ConfigurationError("production needs CARTERA_DATABASE_URL (no embedded server)")
        if self.data_keys.get_secret_value() == DEFAULT_DATA_KEYS:
            raise ConfigurationError("production needs its own DATA_KEYS (CARTERA_DATA_KEYS)")
        if self.blind_index_key.get_secret_value() == DEFAULT_BLIND_INDEX_KEY:
            raise ConfigurationError(
                "production needs its own BLIND_INDEX_KEY (CARTERA_BLIND_INDEX_KEY)"
            )


def to_asyncpg_url(url: str, *, setting: str = "CARTERA_DATABASE_URL") -> str:
    """Any libpq-style PostgreSQL URL as SQLAlchemy's asyncpg URL.

    asyncpg spells libpq's ``sslmode`` as ``ssl`` (same values), so managed-database URLs
    such as ``…?sslmode=require`` work unchanged.
    """
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            rest = url[len(prefix) :]
            base, _, query = rest.partition("?")
            if query:
                params = [
                    "ssl=" + p.split("=", 1)[1] if p.startswith("sslmode=") else p
                    for p in query.split("&")
                ]
                rest = base + "?" + "&".join(params)
            return "postgresql+asyncpg://" + rest
    raise ConfigurationError(f"{setting} must be a postgresql:// URL")


def to_libpq_url(url: str) -> str:
    """The asyncpg URL (:func:`to_asyncpg_url`) as libpq reads it (psycopg: the job queue's
    connections), ``ssl`` spelled ``sslmode`` again."""
    plain = to_asyncpg_url(url).removeprefix("postgresql+asyncpg://")
    base, _, query = plain.partition("?")
    if query:
        params = ["sslmode=" + p.split("=", 1)[1] if p.startswith("ssl=") else p
                  for p in query.split("&")]  # fmt: skip
        base = base + "?" + "&".join(params)
    return "postgresql://" + base


@lru_cache
def get_settings() -> Settings:
    return Settings()
