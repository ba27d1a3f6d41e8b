"""The Django app served over HTTPS on 127.0.0.1 for live client tests.

packet-python hard-codes `https://`, so its tests need TLS: Django's own LiveServerThread
with the listening socket wrapped by a trustme-issued certificate. Import the three fixtures
into a conftest (`from tests.tls_server import _tls_server_thread, tls_ca, tls_live_server`).
requests-based clients trust the test CA through REQUESTS_CA_BUNDLE, the generated SDKs
through `ssl_ca_cert`.
"""

import contextlib
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme
from django.core.servers.basehttp import ThreadedWSGIServer
from django.db import connections
from django.test.testcases import LiveServerThread

HOST = "127.0.0.1"


class _Server(ThreadedWSGIServer):
    """Django's threaded test server, made to finish its request threads when it stops.

    Clients keep connections alive (urllib3 pools), and a request thread holds its database
    connection until its client hangs up; PostgreSQL then refuses to drop the test database.
    So closing the server hangs up every open connection and joins the threads.
    """

    daemon_threads = False
    block_on_close = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._open_requests: set = set()
        self._open_lock = threading.Lock()

    def process_request(self, request, client_address):
        with self._open_lock:
            self._open_requests.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self._open_lock:
            self._open_requests.discard(request)
        super().shutdown_request(request)

    def server_close(self):
        with self._open_lock:
            pending = list(self._open_requests)
        for request in pending:
            with contextlib.suppress(OSError):
                request.shutdown(socket.SHUT_RDWR)
        super().server_close()  # ThreadingMixIn joins the request threads here

    def _close_connections(self):
        # A request thread closes its own connections, never the in-memory SQLite one it
        # borrowed from the test thread: that one belongs to the test thread.
        shared = self.connections_override or {}
        for conn in connections.all(initialized_only=True):
            if conn.alias not in shared:
                conn.close()


class TLSLiveServerThread(LiveServerThread):
    """Django's live server thread, answering over TLS."""

    server_class = _Server

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


@pytest.fixture(scope="session")
def _tls_server_thread(tls_ca) -> Iterator[TLSLiveServer]:
    """One HTTPS server for the session, as pytest-django runs its live_server: an in-memory
    SQLite connection is shared with the server thread for the whole session, since request
    threads may still be closing their connection just after a test has its answer."""
    ca, ca_path = tls_ca
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    # "localhost" too: a second name for the same server, as the API's own host name.
    ca.issue_cert(HOST, "localhost").configure_cert(context)
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
    try:
        yield TLSLiveServer(port=thread.port, ca_path=ca_path)
    finally:
        thread.terminate()
        for conn in shared.values():
            conn.dec_thread_sharing()


@pytest.fixture
def tls_live_server(transactional_db, _tls_server_thread, monkeypatch) -> TLSLiveServer:
    """The app over HTTPS for one test. The database is transactional so the server thread
    sees committed rows; requests (packet-python) trusts the test CA via REQUESTS_CA_BUNDLE."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(_tls_server_thread.ca_path))
    return _tls_server_thread
