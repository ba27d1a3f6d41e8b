"""The live server the browser tests (and every live client) use answers plain HTTP as it is:
no redirect to https:// (a browser would then speak TLS to a plain port), no secure-only cookies.
Needs no browser: urllib sees the raw first response."""

import urllib.request

import pytest

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a 3xx surfaces as an HTTPError instead of being followed


def test_live_server_answers_pages_over_plain_http(live_server):
    opener = urllib.request.build_opener(_NoRedirects)
    with opener.open(f"{live_server.url}/signup/") as response:  # raises on a 301 to https
        assert response.status == 200
        cookies = response.headers.get_all("Set-Cookie")
    assert any(c.startswith("csrftoken=") for c in cookies)
    assert not any("secure" in c.lower() for c in cookies)
