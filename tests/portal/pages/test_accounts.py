"""Sign up, log in (with its rate limit), log out, passwords and the profile."""

import json
import re

import pytest
from django.core import mail
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.urls import reverse

from portal.models import Event, Member, Project, User
from portal.views import errors as error_views
from tests import factories

SIGNUP = {
    "email": "Nia@Example.com",
    "first_name": "Nia",
    "last_name": "Ng",
    "password1": "plinth-otter-harbour",
    "password2": "plinth-otter-harbour",
}


def test_sign_up_creates_account_personal_org_and_lands_on_default_project(client, db):
    response = client.post(reverse("portal:signup"), SIGNUP, follow=True)
    user = User.objects.get(email="nia@example.com")
    project = Project.objects.get(organization__members__user=user)
    assert project.organization.personal
    assert response.redirect_chain[-1][0] == reverse("portal:project", args=[project.uuid])
    assert response.wsgi_request.user == user
    assert b"Default project" in response.content


def test_sign_up_with_a_taken_address_shows_the_error_on_the_field(client, alice):
    response = client.post(reverse("portal:signup"), {**SIGNUP, "email": "ALICE@example.com"})
    assert response.status_code == 200
    assert "already exists" in response.context["form"].errors["email"][0]
    assert User.objects.count() == 1


def test_sign_up_refuses_mismatched_passwords(client, db):
    response = client.post(reverse("portal:signup"), {**SIGNUP, "password2": "something-else-1"})
    assert response.context["form"].errors["password2"]
    assert not User.objects.exists()


def test_log_in_then_out(client, alice):
    response = client.post(
        reverse("portal:login"), {"username": "alice@example.com", "password": factories.PASSWORD}
    )
    assert response.status_code == 302
    assert client.get(reverse("portal:profile")).status_code == 200
    client.post(reverse("portal:logout"))
    assert client.get(reverse("portal:profile")).status_code == 302


def test_log_in_keeps_a_safe_next_and_drops_an_offsite_one(client, alice, acme):
    team = reverse("portal:org-team", args=[acme.uuid])
    data = {"username": "alice@example.com", "password": factories.PASSWORD}
    assert client.post(reverse("portal:login"), {**data, "next": team})["Location"] == team
    client.logout()
    evil = client.post(reverse("portal:login"), {**data, "next": "https://evil.example/"})
    assert evil["Location"] == reverse("portal:home")


def test_wrong_password_shows_an_error(client, alice):
    response = client.post(
        reverse("portal:login"), {"username": "alice@example.com", "password": "nope"}
    )
    assert response.status_code == 200
    assert response.context["form"].non_field_errors()
    assert "_auth_user_id" not in client.session


def test_login_is_blocked_per_account_after_too_many_failures(client, alice, settings):
    settings.LOGIN_RATE_PER_ACCOUNT = "3/m"
    for _ in range(3):
        client.post(reverse("portal:login"), {"username": "alice@example.com", "password": "x"})
    # Even the right password is refused now: the guesser cannot tell it was right.
    response = client.post(
        reverse("portal:login"), {"username": "alice@example.com", "password": factories.PASSWORD}
    )
    assert response.status_code == 429
    assert b"Too many failed sign-in attempts" in response.content
    assert "_auth_user_id" not in client.session


def test_login_is_blocked_per_address_across_accounts(client, alice, carol, settings):
    settings.LOGIN_RATE_PER_IP = "2/m"
    client.post(reverse("portal:login"), {"username": "alice@example.com", "password": "x"})
    client.post(reverse("portal:login"), {"username": "carol@example.com", "password": "x"})
    response = client.post(
        reverse("portal:login"), {"username": "carol@example.com", "password": factories.PASSWORD}
    )
    assert response.status_code == 429


def test_failures_below_the_limit_do_not_block(client, alice, settings):
    settings.LOGIN_RATE_PER_ACCOUNT = "3/m"
    for _ in range(2):
        client.post(reverse("portal:login"), {"username": "alice@example.com", "password": "x"})
    response = client.post(
        reverse("portal:login"), {"username": "alice@example.com", "password": factories.PASSWORD}
    )
    assert response.status_code == 302


def test_password_change_keeps_the_session_and_is_audited(client, alice):
    client.force_login(alice)
    response = client.post(
        reverse("portal:password-change"),
        {
            "old_password": factories.PASSWORD,
            "new_password1": "granite-lantern-mosaic",
            "new_password2": "granite-lantern-mosaic",
        },
    )
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.check_password("granite-lantern-mosaic")
    assert client.get(reverse("portal:profile")).status_code == 200
    assert Event.objects.filter(type="user.password_changed", user=alice).exists()


def test_password_change_with_a_wrong_old_password_is_refused(client, alice):
    client.force_login(alice)
    response = client.post(
        reverse("portal:password-change"),
        {
            "old_password": "wrong",
            "new_password1": "granite-lantern-mosaic",
            "new_password2": "granite-lantern-mosaic",
        },
    )
    assert response.status_code == 200
    assert response.context["form"].errors["old_password"]


@pytest.fixture
def worker(django_capture_on_commit_callbacks):
    """worker(post) → the response, with the tasks it enqueued run inline afterwards, as a
    worker would run them once the request has answered."""
    from portal.celery import app

    def run(post):
        saved, app.conf.task_always_eager = app.conf.task_always_eager, True
        try:
            with django_capture_on_commit_callbacks(execute=True):
                response = post()
                assert not mail.outbox  # nothing is sent while the page answers
            return response
        finally:
            app.conf.task_always_eager = saved

    return run


def test_password_reset_by_email_sets_a_new_password(client, alice, worker, settings):
    settings.SITE_URL = "https://cloud.example.net"
    worker(lambda: client.post(reverse("portal:password-reset"), {"email": "alice@example.com"}))
    assert len(mail.outbox) == 1
    # The link is on SITE_URL, whatever Host header the request came with.
    link = re.search(r"https://cloud.example.net(/password/reset/\S+/)", mail.outbox[0].body)
    form_page = client.get(link.group(1), follow=True)
    assert form_page.context["validlink"]
    response = client.post(
        form_page.redirect_chain[-1][0],
        {
            "new_password1": "quartz-meadow-violin",
            "new_password2": "quartz-meadow-violin",
        },
    )
    assert response["Location"] == reverse("portal:password-reset-complete")
    alice.refresh_from_db()
    assert alice.check_password("quartz-meadow-violin")
    assert Event.objects.filter(type="user.password_changed", body__contains="reset").exists()


def test_password_reset_for_an_unknown_address_sends_nothing(client, alice, worker):
    response = worker(
        lambda: client.post(reverse("portal:password-reset"), {"email": "nobody@example.com"})
    )
    assert response["Location"] == reverse("portal:password-reset-done")
    assert not mail.outbox


def test_password_reset_answers_alike_for_known_and_unknown_addresses(
    client, alice, django_capture_on_commit_callbacks
):
    # Same answer, and the same work while answering: one task enqueued, no lookup-dependent
    # e-mail sent in the request (that took longer for a known address than for an unknown one).
    answers = []
    for email in ("alice@example.com", "nobody@example.com"):
        with django_capture_on_commit_callbacks(execute=False) as enqueued:
            response = client.post(reverse("portal:password-reset"), {"email": email})
        answers.append((response.status_code, response["Location"], len(enqueued)))
    assert answers[0] == answers[1] == (302, reverse("portal:password-reset-done"), 1)
    assert not mail.outbox


def _reset(client, email: str, ip: str = "127.0.0.1"):
    return client.post(reverse("portal:password-reset"), {"email": email}, REMOTE_ADDR=ip)


@pytest.mark.parametrize("email", ["alice@example.com", "nobody@example.com"])
def test_password_reset_is_limited_per_account_known_or_not(
    client, alice, settings, email, django_capture_on_commit_callbacks
):
    settings.PASSWORD_RESET_RATE_PER_ACCOUNT = "3/h"
    # Any spelling of the address spends the same budget, from any client address.
    spellings = [email, email.upper(), f"  {email} "]
    for n, spelling in enumerate(spellings):
        assert _reset(client, spelling, ip=f"192.0.2.{n}").status_code == 302
    with django_capture_on_commit_callbacks(execute=False) as enqueued:
        response = _reset(client, email)
    # The refusal is the same page whether the account exists or not (parametrized).
    assert response.status_code == 429
    assert b"Too many reset requests" in response.content
    assert response.context["form"]["email"].value() == email
    assert not enqueued


def test_password_reset_is_limited_per_client_address_across_accounts(client, alice, settings):
    settings.PASSWORD_RESET_RATE_PER_IP = "2/h"
    assert _reset(client, "alice@example.com").status_code == 302
    assert _reset(client, "nobody@example.com").status_code == 302
    assert _reset(client, "carol@example.com").status_code == 429


def test_profile_update_saves_name_and_time_zone(client, alice):
    client.force_login(alice)
    response = client.post(
        reverse("portal:profile"),
        {
            "first_name": "Alicia",
            "last_name": "Liddell",
            "timezone_name": "Europe/Amsterdam",
        },
    )
    assert response.status_code == 302
    alice.refresh_from_db()
    assert (alice.full_name, alice.timezone) == ("Alicia Liddell", "Europe/Amsterdam")


def test_profile_refuses_an_unknown_time_zone(client, alice):
    client.force_login(alice)
    response = client.post(
        reverse("portal:profile"), {"first_name": "A", "timezone_name": "Mars/Base"}
    )
    assert response.status_code == 200
    assert response.context["form"].errors["timezone_name"]


def test_home_sends_anonymous_visitors_to_log_in(client, db):
    assert client.get("/")["Location"] == reverse("portal:login")


def test_home_sends_a_member_to_their_default_project(client, alice):
    project = Project.objects.get(organization__personal=True, organization__members__user=alice)
    client.force_login(alice)
    assert client.get("/")["Location"] == reverse("portal:project", args=[project.uuid])


def test_home_without_projects_goes_to_the_projects_list(client, bill, acme):
    # bill's own organization is gone; in Acme, billing sees no projects.
    personal = Member.objects.get(user=bill, organization__personal=True).organization
    personal.projects.all().delete()
    personal.delete()
    client.force_login(bill)
    assert client.get("/")["Location"] == reverse("portal:org-projects", args=[acme.uuid])


@pytest.mark.parametrize("path", ["/metal/v1/no-such-thing", "/metal/v1/projects/x/y/z"])
def test_unknown_api_paths_answer_json_404(client, db, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response.json() == {"errors": ["Not found"]}


def test_unknown_page_is_an_html_404(client, db):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert b"<html" in response.content


def test_a_form_over_the_upload_limit_is_a_413_page(client, alice, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    client.force_login(alice)
    response = client.post(reverse("portal:profile"), {"first_name": "x" * 2000})
    # Django's answer was a bare "Bad Request (400)".
    assert response.status_code == 413
    assert b"Too much data" in response.content


def test_the_400_handler_answers_api_paths_in_metals_shape(rf, settings):
    # For the API's plain Django views; DRF views answer the same through the API's handler.
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    too_big = error_views.bad_request(rf.post("/metal/v1/projects"), RequestDataTooBig())
    assert too_big.status_code == 413
    assert json.loads(too_big.content) == {
        "errors": ["The request body is larger than 1000 bytes."]
    }
    other = error_views.bad_request(rf.get("/metal/v1/projects"), SuspiciousOperation())
    assert (other.status_code, json.loads(other.content)) == (400, {"errors": ["Bad request"]})
