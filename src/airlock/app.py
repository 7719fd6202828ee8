"""The composition root: one object that opens a deployment and holds its services.

Front ends (the CLI, the REST API and the web pages) build an :class:`Airlock` and call its services; they hold no
domain logic of their own.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from airlock.access.gate import ContentGate
from airlock.audit import AuditLog
from airlock.audit.models import AuditHead
from airlock.clock import Clock, SystemClock
from airlock.config import Settings, load_settings
from airlock.errors import ConfigurationError
from airlock.review import Directory, Reviews, Submissions
from airlock.review.context import ServiceContext
from airlock.review.directory import DEFAULT_AGENCY_NAME, DEFAULT_OPERATOR_EMAIL, not_initialised_error
from airlock.review.findings import Findings
from airlock.review.models import Deployment
from airlock.review.oversight import Oversight
from airlock.review.reviews import sweep_review_clock
from airlock.review.samples import Samples
from airlock.review.sessions import WebSessions
from airlock.review.tokens import ApiTokens
from airlock.review.upgrade import legacy_content_waiting
from airlock.review.views import DeploymentView
from airlock.store import Database, open_database
from airlock.vault import BlobStore, FileKeyProvider, MasterKeyProvider, Vault, environment_provider
from airlock.vault.keys import new_key, write_key_file
from airlock.vault.models import VaultState
from airlock.vulns import models as _clearinghouse_tables  # noqa: F401 (the vault's blobs refer to its reports)

if TYPE_CHECKING:
    from airlock.review.evaluations import Evaluations
    from airlock.review.reporting import Reports
    from airlock.vulns.clearinghouse import Clearinghouse

LOCAL_KEY_NOTICE = (
    "The master key was written to {path} (readable by you only). That suits a laptop or a test "
    "deployment; in production keep the key in a secret store and pass it as AIRLOCK_MASTER_KEY. Back it "
    "up: without it, nothing confidential in this deployment can ever be read."
)


def master_key_provider(settings: Settings) -> MasterKeyProvider:
    """The provider the settings name: ``AIRLOCK_MASTER_KEY`` if set, otherwise the key file."""
    if settings.master_key is not None:
        return environment_provider(settings.master_key.get_secret_value())
    return FileKeyProvider(settings.resolved_master_key_file)


@dataclass
class Airlock:
    settings: Settings
    database: Database
    clock: Clock
    vault: Vault = field(init=False)
    audit: AuditLog = field(init=False)
    context: ServiceContext = field(init=False)
    directory: Directory = field(init=False)
    reviews: Reviews = field(init=False)
    submissions: Submissions = field(init=False)
    oversight: Oversight = field(init=False)
    findings: Findings = field(init=False)
    samples: Samples = field(init=False)
    tokens: ApiTokens = field(init=False)
    sessions: WebSessions = field(init=False)

    def __post_init__(self) -> None:
        settings = self.settings
        self.vault = Vault(lambda: master_key_provider(settings), BlobStore(settings.blob_directory), self.clock)
        self.audit = AuditLog(
            self.vault, self.clock, witness=settings.audit_witness_file, shred_ledger=settings.resolved_shred_ledger
        )
        self.context = ServiceContext(
            database=self.database,
            clock=self.clock,
            settings=settings,
            vault=self.vault,
            audit=self.audit,
            gate=ContentGate(self.audit),
            sweep_clock=sweep_review_clock,
        )
        self.directory = Directory(self.context)
        self.reviews = Reviews(self.context)
        self.submissions = Submissions(self.context)
        self.oversight = Oversight(self.context)
        self.findings = Findings(self.context)
        self.samples = Samples(self.context)
        self.tokens = ApiTokens(self.context)
        self.sessions = WebSessions(self.context)

    # The two services that load the heavy parts (Inspect and the runner; the statistics, plots and PDF renderer)
    # are made on first use, so a command that lists reviews does not pay seconds for them.

    @functools.cached_property
    def evaluations(self) -> Evaluations:
        from airlock.review.evaluations import Evaluations

        return Evaluations(self.context)

    @functools.cached_property
    def reports(self) -> Reports:
        from airlock.review.reporting import Reports

        return Reports(self.context, self.findings)

    @functools.cached_property
    def clearinghouse(self) -> Clearinghouse:
        from airlock.vulns.clearinghouse import Clearinghouse

        return Clearinghouse(self.context)

    @classmethod
    def open(
        cls, settings: Settings | None = None, clock: Clock | None = None, *, must_be_initialised: bool = True
    ) -> Airlock:
        """Open the deployment that ``settings`` name, upgrading its schema if needed.

        With ``must_be_initialised`` (the default) a deployment that ``airlock init`` has not set up is
        refused before anything is created on disk, and so is a master key that is missing or not the
        deployment's own.
        """
        settings = settings or load_settings()
        if settings.restore_marker_file.exists():
            # Until the restore has destroyed again every key its shred ledger names, the deployment must not serve.
            raise ConfigurationError(
                f"A restore into {settings.home.resolve()} did not finish, so this deployment must not be used.",
                "Empty the home (and the database), then run `airlock backup restore` again.",
            )
        where = str(settings.sqlite_path.parent) if settings.uses_sqlite else "AIRLOCK_DATABASE_URL"
        if must_be_initialised and settings.uses_sqlite and not settings.sqlite_path.exists():
            raise not_initialised_error(where)
        database = open_database(settings.resolved_database_url)
        airlock = cls(settings=settings, database=database, clock=clock or SystemClock())
        try:
            if must_be_initialised:
                if not airlock.is_initialised():
                    raise not_initialised_error(where)
                airlock._require_current_setup()
        except BaseException:
            database.dispose()
            raise
        return airlock

    def _require_current_setup(self) -> None:
        """Refuse a deployment an earlier Airlock made until ``airlock init`` has finished upgrading it, and a
        master key that is not the deployment's. Completing an interrupted key rotation is audited."""
        with self.database.transaction(read_only=True) as session:
            outdated = (
                session.get(VaultState, 1) is None
                or session.get(AuditHead, 1) is None
                or legacy_content_waiting(session)
            )
        if outdated:
            raise ConfigurationError(
                "This deployment was made by an earlier version of Airlock and still needs upgrading.",
                "Run `airlock init` once: it sets up the vault and audit log and encrypts what was kept in plaintext.",
            )
        with self.database.transaction(read_only=True) as session:
            completed_rotation = self.vault.check_master_key(session)
        if completed_rotation:
            with self.context.operation("airlock", "key.master.rotate") as session:
                self.audit.append(
                    session,
                    actor="airlock",
                    action="key.master.rotation_completed",
                    details={"master_key": self.vault.provider.key_id},
                )

    def is_initialised(self) -> bool:
        with self.database.transaction(read_only=True) as session:
            return session.get(Deployment, 1) is not None

    def initialise(
        self, *, agency_name: str = DEFAULT_AGENCY_NAME, operator_email: str = DEFAULT_OPERATOR_EMAIL
    ) -> DeploymentView:
        """Set up the deployment (master key file if none is configured, vault, audit log, agency, operator).

        On an initialised deployment nothing is created, not even a key file: a lost key must be restored,
        never silently replaced.
        """
        notices: list[str] = []
        key_file = self.settings.resolved_master_key_file
        with self.database.transaction(read_only=True) as session:
            has_vault = session.get(VaultState, 1) is not None
        if not has_vault and self.settings.master_key is None and not key_file.exists():
            write_key_file(key_file, new_key())
            notices.append(LOCAL_KEY_NOTICE.format(path=key_file))
        deployment = self.directory.initialise(agency_name=agency_name, operator_email=operator_email)
        notices += deployment.notices
        pinned = self.settings.audit_key_file
        if not pinned.exists():
            pinned.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            pinned.write_text(deployment.audit_verifier_key + "\n", encoding="ascii")
            notices.append(
                f"The audit log's public key is in {pinned}; give a copy to your auditors, who verify the log with it."
            )
        return deployment.model_copy(update={"notices": notices})

    def audit_verifier_key(self) -> str:
        """The pinned public key of the audit log, as written at initialisation."""
        return self.settings.audit_key_file.read_text(encoding="ascii")

    def close(self) -> None:
        self.database.dispose()
