"""Operator commands: the same paths as sign-up and the API key pages."""

import io

import pytest
from django.core.management import CommandError, call_command

from inventory.models import Facility, IPBlock, Metro, OperatingSystem, Plan
from portal.models import ApiKey, Member, Organization, Project, User
from portal.tokens import split_lookup


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue().strip()


def test_create_user_signs_up_with_personal_org_and_default_project(db):
    run("create_user", "Ops@Example.com", "--password", "S3cure-pass!", "--staff")
    user = User.objects.get(email="ops@example.com")
    assert user.is_staff and user.check_password("S3cure-pass!")
    assert Member.objects.get(user=user).organization.personal
    assert Project.objects.for_user(user).count() == 1


def test_create_user_refuses_an_existing_address(alice):
    with pytest.raises(CommandError, match="already exists"):
        run("create_user", "alice@example.com", "--password", "x")


def test_create_api_key_prints_only_a_working_token(alice, web):
    token = run(
        "create_api_key",
        "alice@example.com",
        "--project",
        str(web.uuid),
        "--read-only",
        "--description",
        "ci",
    )
    assert "\n" not in token
    key = ApiKey.objects.get(lookup=split_lookup(token))
    assert (key.project, key.read_only, key.description) == (web, True, "ci")


def test_create_api_key_refuses_a_project_the_user_cannot_see(alice, charlie, web):
    with pytest.raises(CommandError, match="has no project"):
        run("create_api_key", "charlie@example.com", "--project", str(web.uuid))


def test_seed_demo_is_idempotent(db):
    def counts():
        models = (
            User,
            Organization,
            Project,
            Member,
            Metro,
            Facility,
            Plan,
            OperatingSystem,
            IPBlock,
        )
        return [m.objects.count() for m in models]

    run("seed_demo")
    first = counts()
    run("seed_demo")
    assert counts() == first
    assert first[4:] == [3, 3, 4, 7, 9]
    demo = User.objects.get(email="demo@ironyard.local")
    assert demo.check_password("ironyard-demo")
    assert Project.objects.for_user(demo).filter(organization__name="Acme Robotics").count() == 2
