"""API fixtures: a client per token, and a populated Acme organization to aim requests at."""

from types import SimpleNamespace

import pytest
from rest_framework.test import APIClient

from portal import services
from portal.models import Event, Member, ProjectMembership
from tests import factories


@pytest.fixture
def api():
    """api(token) → an APIClient sending `X-Auth-Token` (no token: anonymous)."""

    def client_for(token: str | None = None) -> APIClient:
        client = APIClient()
        if token:
            client.credentials(HTTP_X_AUTH_TOKEN=token)
        return client

    return client_for


@pytest.fixture
def world(alice, adam, carol, lena, bill, charlie, acme, web, ops):
    """Acme with one of everything the endpoints act on, and a read/write token per persona."""
    invitation, _ = services.invite_member(
        organization=acme,
        invitee=charlie.email,
        role="collaborator",
        projects=[web],
        acting_user=alice,
    )
    people = {
        "alice": alice,
        "adam": adam,
        "carol": carol,
        "lena": lena,
        "bill": bill,
        "charlie": charlie,
    }
    return SimpleNamespace(
        **people,
        acme=acme,
        web=web,
        ops=ops,
        tokens={name: factories.make_token(user) for name, user in people.items()},
        web_ssh_key=services.create_ssh_key(
            acting_user=alice, project=web, label="deploy", key=factories.new_ssh_public_key()
        ),
        alice_ssh_key=services.create_ssh_key(
            acting_user=alice, label="laptop", key=factories.new_ssh_public_key()
        ),
        carol_web_api_key=services.create_api_key(acting_user=carol, project=web)[0],
        alice_spare_api_key=services.create_api_key(acting_user=alice, description="spare")[0],
        invitation=invitation,
        carol_on_web=ProjectMembership.objects.get(project=web, member__user=carol),
        lena_member=Member.objects.get(organization=acme, user=lena),
        web_event=Event.objects.get(type="project.created", project=web),
    )


def ids(world) -> dict[str, str]:
    """The ids URL templates refer to, as strings."""
    return {
        "acme": world.acme.uuid,
        "web": world.web.uuid,
        "ops": world.ops.uuid,
        "carol": world.carol.uuid,
        "web_ssh_key": world.web_ssh_key.uuid,
        "alice_ssh_key": world.alice_ssh_key.uuid,
        "carol_web_api_key": world.carol_web_api_key.uuid,
        "alice_spare_api_key": world.alice_spare_api_key.uuid,
        "invitation": world.invitation.uuid,
        "carol_on_web": world.carol_on_web.uuid,
        "lena_member": world.lena_member.uuid,
        "web_event": world.web_event.uuid,
    }
