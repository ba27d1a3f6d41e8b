"""Fixtures that run the lab BMC emulators as real processes on 127.0.0.1 for the driver tests."""

import datetime
import ipaddress
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from inventory.bmc import BmcDriver, BmcEndpoint, driver_for
from tests.emulators.process import EmulatorProcess

SUSHY_MODULE = "tests.emulators.sushy_emulator"
IPMI_MODULE = "inventory.bmc.emulators.ipmi_bmc"

NODE1 = {
    "uuid": "4069f4f8-4bba-5738-80a5-d0df886c53ba",
    "name": "node1",
    "power_state": "Off",
    "nics": [{"mac": "52:54:00:AA:00:01"}, {"mac": "52:54:00:aa:00:02"}],
    "serial_number": "SN-0001",
    "manufacturer": "Acme Servers",
    "model": "R640",
    "cpus": 2,
    "cores": 16,
    "threads": 32,
    "cpu_model": "Xeon Gold 6338",
    "cpu_vendor": "Intel",
    "memory_gib": 128,
    "bios_version": "2.1.7",
    "disks": [{"name": "sda", "size_gib": 480}, {"name": "nvme0n1", "size_gib": 1920}],
}
NODE2 = {
    "uuid": "1b4e28ba-2fa1-11d2-883f-0016d3cca427",
    "name": "node2",
    "power_state": "On",
    "nics": [{"mac": "52:54:00:bb:00:01"}],
    "serial_number": "SN-0002",
    "cpus": 1,
    "cores": 8,
    "threads": 16,
    "memory_gib": 32,
}
USERNAME, PASSWORD = "admin", "s3cret-pw"


@pytest.fixture
def start_redfish(tmp_path: Path) -> Iterator[Callable[..., str]]:
    """Start a sushy-tools lab emulator (fresh state dir, zero power delay); returns its URL."""
    processes: list[EmulatorProcess] = []

    def start(systems=(NODE1,), **options) -> str:
        index = len(processes)
        config = {
            "listen_ip": "127.0.0.1",
            "port": 0,
            "state_dir": str(tmp_path / f"redfish-state-{index}"),
            "power_delay": 0,
            "users": {USERNAME: PASSWORD},
            "systems": list(systems),
            **options,
        }
        process = EmulatorProcess(SUSHY_MODULE, config, tmp_path / f"redfish-{index}.json")
        processes.append(process)
        return process.start()["url"]

    yield start
    for process in processes:
        process.stop()


@pytest.fixture
def redfish_url(start_redfish) -> str:
    """A running emulator with one system (node1) behind Basic auth."""
    return start_redfish()


@pytest.fixture
def make_driver() -> Iterator[Callable[..., BmcDriver]]:
    """Build drivers through the factory and close them after the test."""
    drivers: list[BmcDriver] = []

    def make(driver: str, address: str, **fields) -> BmcDriver:
        fields.setdefault("username", USERNAME)
        fields.setdefault("password", PASSWORD)
        bmc = driver_for(BmcEndpoint(driver=driver, address=address, **fields))
        drivers.append(bmc)
        return bmc

    yield make
    for bmc in drivers:
        bmc.close()


IPMI_NODES = [
    {
        "name": "ipmi1",
        "username": USERNAME,
        "password": PASSWORD,
        "guid": NODE1["uuid"],
        "power_state": "off",
        "manufacturer": "Acme Servers",
        "model": "R640",
        "serial_number": "SN-0001",
    },
    {
        "name": "ipmi2",
        "username": "root",
        "password": "other-pw",
        "guid": NODE2["uuid"],
        "power_state": "on",
    },
]


@pytest.fixture
def ipmi_bmcs(tmp_path: Path) -> Iterator[dict[str, str]]:
    """Two fake IPMI BMCs in one process; maps node name to "127.0.0.1:port"."""
    process = EmulatorProcess(IPMI_MODULE, {"bmcs": IPMI_NODES}, tmp_path / "ipmi.json")
    details = process.start()
    yield {name: f"{bmc['address']}:{bmc['port']}" for name, bmc in details["bmcs"].items()}
    process.stop()


@pytest.fixture
def closed_port() -> int:
    """A TCP/UDP port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Unavailable(BaseHTTPRequestHandler):
    """Answers everything with 503 and a Redfish-style error body."""

    body = b'{"error": {"code": "Base.1.0.GeneralError", "message": "BMC is busy"}}'

    def _answer(self) -> None:
        self.send_response(503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    do_GET = do_POST = do_PATCH = _answer

    def log_message(self, *args) -> None:
        pass  # keep the test output clean


@pytest.fixture
def unavailable_bmc_url() -> Iterator[str]:
    """A local HTTP server that answers 503 to every request."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Unavailable)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lab-bmc")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "bmc.crt", tmp_path / "bmc.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path
