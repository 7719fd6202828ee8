"""Organisations, users and roles: who may add whom, and what each organisation kind may hold."""

from __future__ import annotations

import pytest

from airlock.access import Role
from airlock.app import Airlock
from airlock.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from tests.support.world import AGENCY, World, database_snapshot


def test_initialising_twice_changes_nothing(airlock: Airlock) -> None:
    before = database_snapshot(airlock.database)
    again = airlock.directory.initialise()
    assert not again.created
    assert again.operator.email == "operator@localhost"
    assert database_snapshot(airlock.database) == before


def test_without_an_email_the_local_operator_acts(airlock: Airlock) -> None:
    operator = airlock.directory.principal()
    assert (operator.email, operator.role) == ("operator@localhost", Role.OPERATOR)


def test_the_operator_adds_organisations_and_users(airlock: Airlock) -> None:
    operator = airlock.directory.principal()
    organisation = airlock.directory.add_organisation(operator, name="Initech Labs", kind="developer")
    assert organisation.slug == "initech-labs"
    user = airlock.directory.add_user(
        operator, email="Ceo@Initech.TEST", name="Bill", role="developer_admin", organisation="initech-labs"
    )
    assert (user.email, user.role, user.organisation) == ("ceo@initech.test", "developer_admin", "initech-labs")


def test_a_developer_admin_adds_colleagues_only_to_their_own_organisation(airlock: Airlock, world: World) -> None:
    added = airlock.directory.add_user(
        world.acme_admin, email="new@acme.test", name="New", role="developer_member", organisation="acme-ai"
    )
    assert added.organisation == "acme-ai"
    with pytest.raises(PermissionDeniedError, match="own organisation"):
        airlock.directory.add_user(
            world.acme_admin, email="spy@globex.test", name="Spy", role="developer_admin", organisation="globex"
        )


@pytest.mark.parametrize("who", ["lead", "reviewer", "auditor", "acme_member", "partner"])
def test_other_roles_cannot_add_users(airlock: Airlock, world: World, who: str) -> None:
    before = database_snapshot(airlock.database)
    with pytest.raises(PermissionDeniedError):
        airlock.directory.add_user(
            getattr(world, who), email="x@acme.test", name="X", role="developer_member", organisation="acme-ai"
        )
    assert database_snapshot(airlock.database) == before


@pytest.mark.parametrize(
    ("role", "organisation"),
    [("reviewer", "acme-ai"), ("developer_admin", AGENCY), ("partner", "acme-ai"), ("lead_reviewer", "grid-cert")],
)
def test_a_role_must_belong_to_the_organisation_kind(
    airlock: Airlock, world: World, role: str, organisation: str
) -> None:
    before = database_snapshot(airlock.database)
    adder = world.acme_admin if organisation == "acme-ai" else world.operator
    with pytest.raises(InvalidInputError, match=f"role {role} does not exist"):
        airlock.directory.add_user(adder, email="x@x.test", name="X", role=role, organisation=organisation)
    assert database_snapshot(airlock.database) == before


def test_an_unknown_role_lists_the_roles(airlock: Airlock, world: World) -> None:
    before = database_snapshot(airlock.database)
    with pytest.raises(InvalidInputError, match="Unknown role 'approver'; choose one of: developer_admin"):
        airlock.directory.add_user(world.operator, email="x@x.test", name="X", role="approver", organisation="acme-ai")
    assert database_snapshot(airlock.database) == before


def test_duplicates_are_refused(airlock: Airlock, world: World) -> None:
    before = database_snapshot(airlock.database)
    with pytest.raises(ConflictError, match="already exists"):
        airlock.directory.add_organisation(world.operator, name="ACME  AI", kind="developer")
    with pytest.raises(ConflictError, match="already exists"):
        airlock.directory.add_user(
            world.acme_admin, email="ADMIN@acme.test", name="Twin", role="developer_member", organisation="acme-ai"
        )
    assert database_snapshot(airlock.database) == before


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("email", "not-an-email", "not an email address"),
        ("name", "   ", "user's name is empty"),
        ("organisation", "nowhere", "no organisation 'nowhere'"),
    ],
)
def test_bad_user_fields_are_refused(airlock: Airlock, world: World, field: str, value: str, message: str) -> None:
    fields = {"email": "ok@acme.test", "name": "Ok", "role": "developer_member", "organisation": "acme-ai"}
    fields[field] = value
    with pytest.raises((InvalidInputError, NotFoundError), match=message):
        airlock.directory.add_user(world.operator, **fields)


def test_an_unknown_organisation_kind_is_refused(airlock: Airlock, world: World) -> None:
    with pytest.raises(InvalidInputError, match="Unknown organisation kind 'supplier'"):
        airlock.directory.add_organisation(world.operator, name="V", kind="supplier")


def test_an_unknown_acting_user_is_not_found(airlock: Airlock) -> None:
    with pytest.raises(NotFoundError, match=r"no user nobody@x\.test"):
        airlock.directory.principal("nobody@x.test")


def test_the_directory_is_visible_to_agency_staff_only(airlock: Airlock, world: World) -> None:
    assert {o.slug for o in airlock.directory.list_organisations(world.auditor)} >= {"acme-ai", "globex"}
    assert [u.email for u in airlock.directory.list_users(world.lead, organisation="globex")] == ["admin@globex.test"]
    with pytest.raises(PermissionDeniedError):
        airlock.directory.list_users(world.acme_admin)


def test_the_operator_adds_only_the_first_user_of_a_developer_who_must_be_its_administrator(
    airlock: Airlock, world: World
) -> None:
    """Otherwise an operator could make themselves a developer account and read content unseen."""
    operator = world.operator
    airlock.directory.add_organisation(operator, name="Initech", kind="developer")
    with pytest.raises(InvalidInputError, match="first user of initech must be its developer_admin"):
        airlock.directory.add_user(
            operator, email="m@initech.test", name="M", role="developer_member", organisation="initech"
        )
    airlock.directory.add_user(
        operator, email="a@initech.test", name="A", role="developer_admin", organisation="initech"
    )
    with pytest.raises(PermissionDeniedError, match="manages its own users"):
        airlock.directory.add_user(
            operator, email="ghost@initech.test", name="G", role="developer_member", organisation="initech"
        )
