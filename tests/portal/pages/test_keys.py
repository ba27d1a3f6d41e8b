"""API keys (secret shown once) and SSH keys (fingerprints, garbage keeps the input)."""

import pytest
from django.urls import reverse

from portal.models import ApiKey, SSHKey
from portal.tokens import TOKEN_PREFIX
from tests import factories


def test_api_key_secret_is_shown_once_then_masked(client, alice):
    client.force_login(alice)
    response = client.post(reverse("portal:api-keys"), {"description": "laptop", "read_only": "on"})
    key = ApiKey.objects.get(user=alice)
    secret = response.context["secret"]
    assert secret.startswith(TOKEN_PREFIX + key.lookup)
    assert secret.encode() in response.content
    assert key.read_only
    later = client.get(reverse("portal:api-keys"))
    assert secret.encode() not in later.content
    assert key.masked.encode() in later.content


def test_api_key_created_over_htmx_returns_the_keys_fragment_with_the_secret(client, alice):
    client.force_login(alice)
    response = client.post(
        reverse("portal:api-keys"), {"description": "ci"}, headers={"HX-Request": "true"}
    )
    assert b"<html" not in response.content
    assert b'id="api-keys"' in response.content
    assert response.context["secret"].encode() in response.content
    assert b"data-copy-target" in response.content


def test_api_key_delete_revokes_it(client, alice, alice_api_key):
    client.force_login(alice)
    page = client.get(reverse("portal:api-keys"))
    assert b"hx-confirm" in page.content
    client.post(reverse("portal:api-key-delete", args=[alice_api_key.uuid]))
    assert not ApiKey.objects.filter(pk=alice_api_key.pk).exists()


def test_collaborator_creates_and_deletes_a_project_key(client, carol, web):
    client.force_login(carol)
    client.post(reverse("portal:project-api-keys", args=[web.uuid]), {"description": "deploy"})
    key = ApiKey.objects.get(project=web)
    assert key.user == carol
    client.post(reverse("portal:project-api-key-delete", args=[web.uuid, key.uuid]))
    assert not ApiKey.objects.filter(pk=key.pk).exists()


def test_personal_key_page_does_not_list_project_keys(client, alice, web_api_key, alice_api_key):
    client.force_login(alice)
    assert list(client.get(reverse("portal:api-keys")).context["keys"]) == [alice_api_key]


def test_ssh_key_added_with_fingerprints_and_tags(client, alice):
    client.force_login(alice)
    text = factories.new_ssh_public_key("alice@laptop")
    client.post(reverse("portal:ssh-keys"), {"label": "", "key": text, "tags": "work, home, work"})
    key = SSHKey.objects.get(user=alice)
    assert key.label == "alice@laptop"
    assert key.tags == ["work", "home"]
    page = client.get(reverse("portal:ssh-keys")).content.decode()
    assert key.fingerprint_sha256 in page
    assert key.fingerprint in page


def test_ssh_key_garbage_shows_the_error_by_the_field_and_keeps_the_input(client, alice):
    client.force_login(alice)
    response = client.post(
        reverse("portal:ssh-keys"),
        {"label": "mine", "key": "ssh-rsa not-a-key", "tags": "a"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert b"<html" not in response.content
    form = response.context["form"]
    assert form.errors["key"]
    assert b"ssh-rsa not-a-key" in response.content
    assert b'value="mine"' in response.content
    assert b"is-invalid" in response.content
    assert not SSHKey.objects.exists()


@pytest.mark.parametrize(
    ("tags", "message"),
    [
        (", ".join(f"t{n}" for n in range(101)), "At most 100 tags."),
        ("x" * 256, "Tags are at most 255 characters."),
    ],
)
def test_ssh_key_tags_are_limited(client, alice, alice_ssh_key, tags, message):
    client.force_login(alice)
    text = factories.new_ssh_public_key("alice@desk")
    added = client.post(reverse("portal:ssh-keys"), {"key": text, "tags": tags})
    assert added.context["form"].errors["tags"] == [message]
    edit = reverse("portal:ssh-key-edit", args=[alice_ssh_key.uuid])
    edited = client.post(edit, {"label": "laptop", "tags": tags})
    assert edited.context["form"].errors["tags"] == [message]
    assert list(SSHKey.objects.values_list("tags", flat=True)) == [[]]


def test_duplicate_ssh_key_is_a_form_error(client, alice, alice_ssh_key):
    client.force_login(alice)
    response = client.post(reverse("portal:ssh-keys"), {"label": "x", "key": alice_ssh_key.key})
    assert "already been added" in response.context["form"].errors["key"][0]


def test_ssh_key_edit_label_and_tags(client, alice, alice_ssh_key):
    client.force_login(alice)
    response = client.post(
        reverse("portal:ssh-key-edit", args=[alice_ssh_key.uuid]),
        {"label": "desk", "tags": "office"},
    )
    assert response["Location"] == reverse("portal:ssh-keys")
    alice_ssh_key.refresh_from_db()
    assert (alice_ssh_key.label, alice_ssh_key.tags) == ("desk", ["office"])


def test_project_ssh_key_edit_returns_to_the_project(client, carol, web, web_ssh_key):
    client.force_login(carol)
    response = client.post(
        reverse("portal:ssh-key-edit", args=[web_ssh_key.uuid]), {"label": "deploy-2", "tags": ""}
    )
    assert response["Location"] == reverse("portal:project-ssh-keys", args=[web.uuid])


def test_ssh_key_delete(client, alice, alice_ssh_key):
    client.force_login(alice)
    client.post(reverse("portal:ssh-key-delete", args=[alice_ssh_key.uuid]))
    assert not SSHKey.objects.filter(pk=alice_ssh_key.pk).exists()


def test_limited_collaborator_sees_project_keys_without_edit_buttons(
    client, lena, web, web_ssh_key
):
    client.force_login(lena)
    page = client.get(reverse("portal:project-ssh-keys", args=[web.uuid]))
    assert b"deploy" in page.content
    assert b"Add a key" not in page.content
    assert b"Delete" not in page.content
