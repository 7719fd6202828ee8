"""Organisations, users and the deployment record; turning an email into an acting :class:`Principal`."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from airlock.access import (
    ROLES_BY_ORGANISATION_KIND,
    Action,
    Credential,
    OrganisationKind,
    Principal,
    Role,
    Scope,
    authorize,
)
from airlock.errors import ConfigurationError, ConflictError, InvalidInputError, NotFoundError
from airlock.review.context import ServiceContext
from airlock.review.inputs import (
    check_slug,
    name_key,
    normalise_email,
    parse_choice,
    require_text,
    shorten,
    slugify,
)
from airlock.review.models import Deployment, Organisation, User
from airlock.review.upgrade import encrypt_legacy_content
from airlock.review.views import DeploymentView, OrganisationView, UserView

DEFAULT_OPERATOR_EMAIL = "operator@localhost"
DEFAULT_AGENCY_NAME = "Evaluation Lab"


class Directory:
    """Who exists in this deployment, and as whom an operation runs."""

    def __init__(self, context: ServiceContext) -> None:
        self._context = context

    def initialise(
        self,
        *,
        agency_name: str = DEFAULT_AGENCY_NAME,
        operator_email: str = DEFAULT_OPERATOR_EMAIL,
        operator_name: str = "Local operator",
    ) -> DeploymentView:
        """Create the deployment: its vault and audit log, its agency and its local operator.

        Harmless when already done: nothing changes and the existing deployment is described.
        """
        context = self._context
        url = context.database.engine.url.render_as_string(hide_password=True)
        with context.database.transaction() as session:
            existing = session.get(Deployment, 1)
            if existing is not None:
                return self._complete(session, existing, url)
            now = context.clock.now()
            agency = Organisation(
                slug=slugify(require_text(agency_name, "agency name")),
                name=agency_name.strip(),
                kind=OrganisationKind.AGENCY,
                created_at=now,
            )
            operator = User(
                email=normalise_email(operator_email),
                name=require_text(operator_name, "operator name"),
                role=Role.OPERATOR,
                organisation=agency,
                created_at=now,
            )
            session.add_all([agency, operator])
            session.flush()
            session.add(Deployment(id=1, initialised_at=now, local_operator_id=operator.id))
            context.vault.initialise(session)
            verifier = context.audit.initialise(session, agency.slug)
            context.audit.append(
                session,
                actor=operator.email,
                action="deployment.initialise",
                target=f"organisation:{agency.slug}",
                details={"master_key": context.vault.provider.key_id},
            )
            context.audit.checkpoint(session)
            return DeploymentView(
                created=True,
                database=url,
                agency=_organisation_view(agency),
                operator=_user_view(operator),
                audit_verifier_key=verifier,
            )

    def _complete(self, session: Session, deployment: Deployment, url: str) -> DeploymentView:
        """An initialised deployment: finish setting up what an earlier Airlock did not have, if anything."""
        context = self._context
        operator = session.get_one(User, deployment.local_operator_id)
        notices: list[str] = []
        if context.vault.initialise(session):
            notices.append("Set up the vault for this deployment, made by an earlier version of Airlock.")
        else:
            context.vault.check_master_key(session)
        verifier = context.audit.initialise(session, operator.organisation.slug)
        moved = encrypt_legacy_content(context, session, operator.email)
        if moved:
            notices.append(f"Encrypted into the vault the content of {moved} submissions kept in plaintext until now.")
        if notices:
            context.audit.append(
                session, actor=operator.email, action="deployment.upgrade", details={"submissions_encrypted": moved}
            )
            context.audit.checkpoint(session)
            session.info["after_commit"].append(lambda: context.vault.finish_shredding(context.database))
        return DeploymentView(
            created=False,
            database=url,
            agency=_organisation_view(operator.organisation),
            operator=_user_view(operator),
            audit_verifier_key=verifier,
            notices=notices,
        )

    def principal(self, email: str | None = None) -> Principal:
        """The user ``email`` as an acting principal; without an email, the local operator."""
        if email is None:
            with self._context.database.transaction(read_only=True) as session:
                deployment = session.get(Deployment, 1)
                if deployment is None:
                    raise not_initialised_error()
                return principal_of(session.get_one(User, deployment.local_operator_id))
        with self._context.operation(email.strip().lower(), "identity.resolve") as session:
            return principal_of(find_user(session, email))

    def add_organisation(self, actor: Principal, *, name: str, kind: str, slug: str | None = None) -> OrganisationView:
        organisation_kind = parse_choice(OrganisationKind, kind, "organisation kind")
        clean_name = require_text(name, "organisation name")
        clean_slug = check_slug(slug) if slug else slugify(clean_name)
        with self._context.operation(actor, "organisation.add", f"organisation:{clean_slug}") as session:
            authorize(actor, Action.ADD_ORGANISATION, what=f"add the organisation {clean_name!r}")
            if session.scalar(select(Organisation).where(Organisation.slug == clean_slug)) is not None:
                raise ConflictError(
                    f"An organisation with the identifier {clean_slug!r} already exists.",
                    "Choose another, or use the existing one.",
                    field="slug",
                )
            _require_a_name_of_its_own(session, clean_name)
            organisation = Organisation(
                slug=clean_slug, name=clean_name, kind=organisation_kind, created_at=self._context.clock.now()
            )
            session.add(organisation)
            session.flush()
            self._context.audit.append(
                session,
                actor=actor.email,
                action="organisation.add",
                target=f"organisation:{clean_slug}",
                details={"kind": organisation_kind.value},
            )
            if organisation_kind is OrganisationKind.DEVELOPER:
                version = self._context.vault.ensure_organisation_key(session, organisation.id)
                self._context.audit.append(
                    session,
                    actor=actor.email,
                    action="key.organisation.create",
                    target=f"organisation:{clean_slug}",
                    details={"version": version},
                )
            return _organisation_view(organisation)

    def add_user(self, actor: Principal, *, email: str, name: str, role: str, organisation: str) -> UserView:
        clean_email = normalise_email(email)
        clean_name = require_text(name, "user's name")
        user_role = parse_choice(Role, role, "role")
        with self._context.operation(actor, "user.add", f"user:{clean_email}") as session:
            target = find_organisation(session, organisation)
            kind = OrganisationKind(target.kind)
            has_users = session.scalar(select(User.id).where(User.organisation_id == target.id).limit(1)) is not None
            authorize(
                actor,
                Action.ADD_USER,
                Scope(
                    target_organisation_id=target.id,
                    target_organisation_kind=kind,
                    target_organisation_has_users=has_users,
                ),
                what=f"add users to {target.slug}",
            )
            if user_role not in ROLES_BY_ORGANISATION_KIND[kind]:
                allowed = ", ".join(sorted(ROLES_BY_ORGANISATION_KIND[kind]))
                raise InvalidInputError(
                    f"The role {user_role} does not exist in {kind} organisations such as {target.slug}; "
                    f"choose one of: {allowed}."
                )
            if kind is OrganisationKind.DEVELOPER and not has_users and user_role is not Role.DEVELOPER_ADMIN:
                raise InvalidInputError(
                    f"The first user of {target.slug} must be its developer_admin, who then adds the others."
                )
            if session.scalar(select(User).where(User.email == clean_email)) is not None:
                raise ConflictError(
                    f"A user with the email {clean_email} already exists.",
                    "Each person has one account; use the existing one.",
                )
            user = User(
                email=clean_email,
                name=clean_name,
                role=user_role,
                organisation=target,
                created_at=self._context.clock.now(),
            )
            session.add(user)
            session.flush()
            self._context.audit.append(
                session,
                actor=actor.email,
                action="user.add",
                target=f"user:{clean_email}",
                details={"role": user_role.value, "organisation": target.slug},
            )
            return _user_view(user)

    def list_organisations(self, actor: Principal) -> list[OrganisationView]:
        with self._context.operation(actor, "directory.list") as session:
            authorize(actor, Action.LIST_DIRECTORY)
            rows = session.scalars(select(Organisation).order_by(Organisation.slug))
            return [_organisation_view(row) for row in rows]

    def list_users(self, actor: Principal, organisation: str | None = None) -> list[UserView]:
        with self._context.operation(actor, "directory.list") as session:
            authorize(actor, Action.LIST_DIRECTORY)
            query = select(User).order_by(User.email)
            if organisation is not None:
                query = query.where(User.organisation_id == find_organisation(session, organisation).id)
            return [_user_view(row) for row in session.scalars(query)]


def principal_of(user: User, credential: Credential | None = None) -> Principal:
    """``user`` as an acting principal; ``credential`` is the session or token the portal authenticated them by."""
    return Principal(
        user_id=user.id,
        email=user.email,
        role=Role(user.role),
        organisation_id=user.organisation_id,
        organisation_kind=OrganisationKind(user.organisation.kind),
        credential=credential,
    )


def not_initialised_error(where: str | None = None) -> ConfigurationError:
    place = f" ({where})" if where else ""
    return ConfigurationError(
        f"This Airlock deployment{place} is not initialised.",
        "Run `airlock init` first, with the same AIRLOCK_HOME or AIRLOCK_DATABASE_URL.",
    )


def find_user(session: Session, email: str) -> User:
    """The user with ``email``, or :class:`NotFoundError`."""
    clean = normalise_email(email)
    user = session.scalar(select(User).where(User.email == clean))
    if user is None:
        raise NotFoundError(
            f"There is no user {shorten(clean)}.",
            "Check the email, or ask an operator to add it with `airlock user add`.",
        )
    return user


def find_organisation(session: Session, slug: str) -> Organisation:
    """The organisation with identifier ``slug``, or :class:`NotFoundError`."""
    clean = slug.strip().lower()
    organisation = session.scalar(select(Organisation).where(Organisation.slug == clean))
    if organisation is None:
        raise NotFoundError(
            f"There is no organisation {shorten(clean)!r}.",
            "List them with `airlock org list` or add it with `airlock org add`.",
        )
    return organisation


def _require_a_name_of_its_own(session: Session, name: str) -> None:
    """Refuse a name that nobody could tell from an existing organisation's: the same once both are normalised
    (:func:`name_key`: compatibility form, case folded, white space collapsed). A second "Acme AI" would let
    someone pose as the developer in a list, a grant or a report."""
    # Queued on the deployment's row (PostgreSQL; SQLite's writers queue anyway), so that two such names added
    # at the same moment cannot both pass.
    session.execute(select(Deployment.id).where(Deployment.id == 1).with_for_update())
    key = name_key(name)
    for existing in session.scalars(select(Organisation).order_by(Organisation.id)):
        if name_key(existing.name) == key:
            raise ConflictError(
                f"An organisation is already named {shorten(existing.name)!r} ({existing.slug}); {shorten(name)!r} "
                "could not be told apart from it.",
                "Use the existing organisation, or choose a name that differs in more than case, spacing or "
                "character width.",
            )


def _organisation_view(organisation: Organisation) -> OrganisationView:
    return OrganisationView(
        slug=organisation.slug,
        name=organisation.name,
        kind=organisation.kind,
        created_at=organisation.created_at,
    )


def _user_view(user: User) -> UserView:
    return UserView(email=user.email, name=user.name, role=user.role, organisation=user.organisation.slug)
