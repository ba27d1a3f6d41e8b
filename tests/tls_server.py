"""The Django app served over HTTPS on 127.0.0.1 for live client tests.

packet-python hard-codes `https://`, so its tests need TLS: Django's own LiveServerThread
with the listening socket wrapped by a trustme-issued certificate. Import the fixtures into a
conftest (`from tests.tls_server import tls_ca, tls_live_server`); requests-based clients
trust the test CA through REQUESTS_CA_BUNDLE, the generated SDKs through `ssl_ca_cert`.
"""

import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme
from django.db import connections
from django.test.testcases import LiveServerThread

HOST = "127.0.0.1"


class TLSLiveServerThread(LiveServerThread):
    """Django's live server thread, answering over TLS."""

    def __init__(self, ssl_context: ssl.SSLContext, connections_override=None):
        super().__init__(HOST, _no_static_files, connections_override=connections_override)
        self.ssl_context = ssl_context

    def _create_server(self, connections_override=None):
        server = super()._create_server(connections_override=connections_override)
        # Wrapping the listening socket makes every accepted connection a TLS one; the
        # handshake then runs in the request's own thread (ThreadedWSGIServer).
        server.socket = self.ssl_context.wrap_socket(
            server.socket, server_side=True, do_handshake_on_connect=False
        )
        return server


def _no_static_files(application):
    return application  # the API serves no static files; Django's handler runs unchanged


@dataclass
class TLSLiveServer:
    """Where the running server is: `url` (https://127.0.0.1:PORT), `netloc`, `ca_path`."""

    port: int
    ca_path: Path

    @property
    def netloc(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def url(self) -> str:
        return f"https://{self.netloc}"


@pytest.fixture(scope="session")
def tls_ca(tmp_path_factory) -> tuple[trustme.CA, Path]:
    """A throwaway certificate authority and its PEM file."""
    ca = trustme.CA()
    path = tmp_path_factory.mktemp("tls") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return ca, path


@pytest.fixture
def tls_live_server(transactional_db, tls_ca, monkeypatch) -> Iterator[TLSLiveServer]:
    """The app over HTTPS for one test. The database is transactional so the server thread
    sees committed rows; an in-memory SQLite connection is shared with it, as Django's own
    live server does. requests (packet-python) trusts the test CA via REQUESTS_CA_BUNDLE."""
    ca, ca_path = tls_ca
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert(HOST).configure_cert(context)

    shared = {}
    for conn in connections.all():
        if conn.vendor == "sqlite" and conn.is_in_memory_db():
            conn.inc_thread_sharing()
            shared[conn.alias] = conn
    thread = TLSLiveServerThread(context, connections_override=shared)
    thread.daemon = True
    thread.start()
    thread.is_ready.wait()
    if thread.error:
        raise thread.error
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca_path))
    try:
        yield TLSLiveServer(port=thread.port, ca_path=ca_path)
    finally:
        thread.terminate()
        for conn in shared.values():
            conn.dec_thread_sharing()
