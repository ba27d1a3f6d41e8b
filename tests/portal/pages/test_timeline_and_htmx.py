"""Timelines (newest first, paginated, user's time zone) and the htmx contract: fragments, full
pages for history restores, Vary, CSRF."""

import datetime as dt
import re

import pytest
from django.test import Client
from django.urls import reverse

from portal import audit
from portal.models import Event


def _events(project, actor, count):
    for i in range(count):
        audit.record("test.event", actor=actor, text=f"{{actor}} did thing {i}", project=project)


def test_project_timeline_is_newest_first_and_paginated(client, alice, web):
    _events(web, alice, 30)
    client.force_login(alice)
    first = client.get(reverse("portal:project-timeline", args=[web.uuid]))
    texts = [e.interpolated for e in first.context["page"].object_list]
    assert texts[0] == "Alice did thing 29"
    assert len(texts) == 25
    assert b'hx-push-url="true"' in first.content
    assert b'href="?page=2"' in first.content
    second = client.get(reverse("portal:project-timeline", args=[web.uuid]), {"page": 2})
    assert "Alice did thing 0" in second.content.decode()


def test_timeline_shows_who_where_and_when_in_the_users_time_zone(client, alice, web):
    alice.timezone = "Asia/Tokyo"
    alice.save()
    event = Event.objects.create(
        type="t",
        body="b",
        interpolated="Alice poked the project",
        project=web,
        organization=web.organization,
        modified_by=alice,
        ip="203.0.113.9",
        via="web",
        created_at=dt.datetime(2026, 1, 2, 3, 4, tzinfo=dt.UTC),
    )
    client.force_login(alice)
    content = client.get(reverse("portal:project-timeline", args=[web.uuid])).content.decode()
    assert event.interpolated in content
    assert "2 Jan 2026, 12:04:00 JST" in content  # seconds: an install's phases are seconds apart
    assert "203.0.113.9" in content


def test_timeline_page_link_over_htmx_returns_only_the_timeline(client, alice, web):
    _events(web, alice, 30)
    client.force_login(alice)
    response = client.get(
        reverse("portal:project-timeline", args=[web.uuid]),
        {"page": 2},
        headers={"HX-Request": "true"},
    )
    assert b"<html" not in response.content
    assert response.content.lstrip().startswith(b'<div id="timeline"')
    assert "HX-Request" in response["Vary"]


def test_history_restore_gets_the_full_page(client, alice, web):
    client.force_login(alice)
    response = client.get(
        reverse("portal:project-timeline", args=[web.uuid]),
        headers={"HX-Request": "true", "HX-History-Restore-Request": "true"},
    )
    assert b"<html" in response.content
    assert "HX-Request" in response["Vary"]


def test_boosted_request_gets_the_full_page(client, alice):
    client.force_login(alice)
    response = client.get(
        reverse("portal:profile"), headers={"HX-Request": "true", "HX-Boosted": "true"}
    )
    assert b"<html" in response.content


def test_full_pages_vary_on_hx_request_too(client, alice):
    client.force_login(alice)
    assert "HX-Request" in client.get(reverse("portal:profile"))["Vary"]


def test_org_timeline_includes_project_and_org_events(client, alice, acme, web):
    client.force_login(alice)
    content = client.get(reverse("portal:org-timeline", args=[acme.uuid])).content.decode()
    assert "created project web" in content
    assert "created organization Acme" in content


def test_base_page_wires_htmx_csrf_and_theme(client, alice):
    client.force_login(alice)
    content = client.get(reverse("portal:profile")).content.decode()
    assert 'hx-headers=\'{"x-csrftoken": "' in content
    assert '"historyRestoreAsHxRequest": false' in content
    assert "htmx" in content
    # Nothing is loaded from another origin (no CDN): every src/href is site-relative.
    assert re.search(r'(?:src|href)="(?:https?:)?//', content) is None
    assert 'id="theme-toggle"' in content
    assert 'href="#main"' in content
    assert 'id="main"' in content


def test_flash_messages_ride_out_of_band_on_fragments(client, alice):
    client.force_login(alice)
    response = client.post(
        reverse("portal:ssh-keys"), {"key": "garbage"}, headers={"HX-Request": "true"}
    )
    assert b'id="messages"' in response.content
    assert b'hx-swap-oob="true"' in response.content


@pytest.fixture
def csrf_client():
    return Client(enforce_csrf_checks=True)


def test_post_without_csrf_token_is_refused(csrf_client, alice):
    csrf_client.force_login(alice)
    response = csrf_client.post(
        reverse("portal:profile"), {"first_name": "Eve", "timezone_name": "UTC"}
    )
    assert response.status_code == 403
    alice.refresh_from_db()
    assert alice.first_name == "Alice"


def test_htmx_post_with_the_csrf_header_is_accepted(csrf_client, alice):
    csrf_client.force_login(alice)
    csrf_client.get(reverse("portal:profile"))
    token = csrf_client.cookies["csrftoken"].value
    response = csrf_client.post(
        reverse("portal:profile"),
        {"first_name": "Alicia", "timezone_name": "UTC"},
        headers={"HX-Request": "true", "X-CSRFToken": token},
    )
    assert response.status_code == 200
    assert response["HX-Redirect"] == reverse("portal:profile")
    alice.refresh_from_db()
    assert alice.first_name == "Alicia"


def test_login_form_is_csrf_protected(csrf_client, alice):
    response = csrf_client.post(
        reverse("portal:login"), {"username": "alice@example.com", "password": "x"}
    )
    assert response.status_code == 403
