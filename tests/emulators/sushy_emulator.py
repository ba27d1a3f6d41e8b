"""sushy-tools' fake-driver Redfish emulator, patched into a usable lab BMC.

Stock sushy-tools 2.2.0 (fake driver) delays every power change by a random 1-11 s, ignores
`BootSourceOverrideEnabled: Once`, and reports no serial number, model, CPU or memory facts.
This module patches those in without forking sushy-tools, which is why sushy-tools is pinned:
the patches rely on its internals (FakeDriver's stored dicts, the Flask app, its templates).

Run it as a process:

    python -m tests.emulators.sushy_emulator --config rack.json

The config is JSON:

    {
      "listen_ip": "127.0.0.1",          # 127.x.y.z only
      "port": 0,                         # 0 = any free port
      "state_dir": "/tmp/run-123",       # must be fresh per run: sushy-tools persists state there
      "power_delay": [0, 0],             # seconds (min, max), or one number; 0 = next read
      "users": {"admin": "secret"},      # optional: HTTP Basic auth
      "tls_cert": "cert.pem", "tls_key": "key.pem",   # optional: HTTPS
      "disable_power_off": false,        # optional: refuse power-off with 400, like some BMCs
      "systems": [{"uuid": "...", "name": "node1", "power_state": "Off",
                   "nics": [{"mac": "52:54:00:00:00:01"}],
                   "serial_number": "SN1", "manufacturer": "Acme", "model": "R1",
                   "cpus": 2, "cores": 16, "threads": 32,          # cores/threads per CPU
                   "cpu_model": "Xeon Gold 6338", "cpu_vendor": "Intel",
                   "memory_gib": 128, "bios_version": "1.2.3",
                   "disks": [{"name": "sda", "size_gib": 480}]}]
    }

Once listening it prints `READY {"url": "http://127.0.0.1:PORT"}` on stdout.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import logging
import os
import random
import re
import ssl
import sys
import time
from pathlib import Path
from typing import Any

import bcrypt

from inventory.bmc.emulators import announce_ready, require_loopback

PINNED_SUSHY_TOOLS = "2.2.0"
_DELAY_KEY = "IRONYARD_POWER_DELAY"
_SYSTEM_PATH = re.compile(r"^/redfish/v1/Systems/(?P<identity>[^/]+)/?$")
_PROCESSOR_PATH = re.compile(r"^/redfish/v1/Systems/[^/]+/Processors/[^/]+/?$")
# Defaults of the stored system dict that the stock fake driver requires.
_SYSTEM_DEFAULTS = {"power_state": "Off", "external_notifier": False, "nics": []}


def _import_sushy_tools():
    """Import sushy-tools' emulator after checking it is the version these patches target."""
    version = importlib.metadata.version("sushy-tools")
    if version != PINNED_SUSHY_TOOLS:
        raise RuntimeError(
            f"sushy_emulator patches sushy-tools {PINNED_SUSHY_TOOLS} internals; found {version}"
        )
    # The module builds its Flask app at import time and would read this file.
    os.environ.pop("SUSHY_EMULATOR_CONFIG", None)
    from sushy_tools import error
    from sushy_tools.emulator import main
    from sushy_tools.emulator.resources.systems import fakedriver

    return main, fakedriver, error


emulator_main, fakedriver, sushy_error = _import_sushy_tools()


class LabFakeDriver(fakedriver.FakeDriver):
    """FakeDriver with a configurable power delay, real `Once` overrides and inventory."""

    def set_power_state(self, identity, state):
        """Queue the power change like the stock driver, but due after our configured delay."""
        super().set_power_state(identity, state)
        low, high = self._config.get(_DELAY_KEY, (1, 11))
        system = self._get(identity)
        pending = system.get("pending_power")
        if pending:
            # A due time of "now" is applied lazily by the stock driver on the next read.
            pending["apply_time"] = time.time() + random.uniform(low, high)
            self._update(system, pending_power=pending)

    def _update_if_needed(self, system):
        was_off = system.get("power_state") == "Off"
        pending = system.get("pending_power")
        system = super()._update_if_needed(system)
        powered_on = pending and was_off and system.get("power_state") == "On"
        if powered_on and system.get("boot_enabled") == "Once":
            # A one-time override is consumed by the boot it applied to.
            self._update(
                system,
                boot_device=system.get("persistent_boot_device", "Hdd"),
                boot_enabled="Continuous",
            )
        return system

    def set_boot_device(self, identity, boot_source):
        """Store the target together with how long it lasts (the stock driver drops that)."""
        import flask  # a sushy-tools dependency; only needed inside a request

        enabled = "Continuous"
        if flask.has_request_context():
            boot = (flask.request.get_json(silent=True) or {}).get("Boot") or {}
            enabled = boot.get("BootSourceOverrideEnabled") or "Continuous"
        if enabled == "Once":
            self._update(identity, boot_device=boot_source, boot_enabled="Once")
        elif enabled == "Disabled":
            system = self._get(identity)
            device = system.get("persistent_boot_device", "Hdd")
            self._update(system, boot_device=device, boot_enabled="Continuous")
        else:
            self._update(
                identity,
                boot_device=boot_source,
                boot_enabled="Continuous",
                persistent_boot_device=boot_source,
            )

    def _facts(self, identity) -> dict[str, Any]:
        return self._get(identity)

    def _require(self, identity, key):
        value = self._facts(identity).get(key)
        if value is None:
            raise sushy_error.NotSupportedError(f"{key} not configured")
        return value

    def get_total_memory(self, identity):
        """Memory in GiB, from the system's `memory_gib`."""
        return self._require(identity, "memory_gib")

    def get_total_cpus(self, identity):
        """Number of CPU sockets, from the system's `cpus`."""
        return self._require(identity, "cpus")

    def get_processors(self, identity):
        """One processor per configured CPU, all alike."""
        facts = self._facts(identity)
        count = self._require(identity, "cpus")
        return [
            {
                "id": f"CPU{index}",
                "Id": f"CPU{index}",  # processor.json's @odata.id reads this spelling
                "socket": f"CPU {index}",
                "model": facts.get("cpu_model", "Generic x86-64"),
                "vendor": facts.get("cpu_vendor", "Generic"),
                "cores": facts.get("cores", 1),
                "threads": facts.get("threads", facts.get("cores", 1)),
            }
            for index in range(count)
        ]

    def get_versions(self, identity):
        """BIOS version, from the system's `bios_version`."""
        return {"BiosVersion": self._require(identity, "bios_version")}

    def get_simple_storage_collection(self, identity):
        """One controller holding the system's configured `disks`."""
        disks = self._require(identity, "disks")
        return {
            "controller0": {
                "Id": "controller0",
                "Name": "Lab",
                "DeviceList": [
                    {"Name": disk["name"], "CapacityBytes": int(disk["size_gib"] * 1024**3)}
                    for disk in disks
                ],
            }
        }


def _enrich_system(doc: dict[str, Any], facts: dict[str, Any]) -> None:
    """Add what the stock system.json template cannot express."""
    for key, field in (
        ("serial_number", "SerialNumber"),
        ("manufacturer", "Manufacturer"),
        ("model", "Model"),
        ("sku", "SKU"),
    ):
        if facts.get(key) is not None:
            doc[field] = facts[key]
    summary = doc.setdefault("ProcessorSummary", {})
    if facts.get("cpus"):
        cpus = facts["cpus"]
        summary["Count"] = cpus
        if facts.get("cpu_model"):
            summary["Model"] = facts["cpu_model"]
        if facts.get("cores"):
            summary["CoreCount"] = cpus * facts["cores"]
        if facts.get("threads"):
            summary["LogicalProcessorCount"] = cpus * facts["threads"]
    boot = doc.setdefault("Boot", {})
    boot["BootSourceOverrideEnabled"] = facts.get("boot_enabled", "Continuous")
    boot["BootSourceOverrideEnabled@Redfish.AllowableValues"] = ["Once", "Continuous", "Disabled"]
    allowed = boot.setdefault("BootSourceOverrideTarget@Redfish.AllowableValues", [])
    if "BiosSetup" not in allowed:
        # The fake driver stores any target; advertise the one callers use for firmware setup.
        allowed.append("BiosSetup")
    if boot.get("HttpBootUri") == "None":
        del boot["HttpBootUri"]  # the template renders Python's None as a string


def _enrich_response(response):
    """Flask after_request hook: patch system and processor documents on the way out."""
    import flask

    if flask.request.method != "GET" or response.status_code != 200:
        return response
    path = flask.request.path
    system_match = _SYSTEM_PATH.match(path)
    if system_match is None and not _PROCESSOR_PATH.match(path):
        return response
    doc = json.loads(response.get_data())
    if system_match:
        facts = emulator_main.app.systems._facts(system_match["identity"])
        _enrich_system(doc, facts)
    else:
        # The template renders counts as strings; Redfish says integers.
        for field in ("TotalCores", "TotalThreads"):
            if isinstance(doc.get(field), str) and doc[field].isdigit():
                doc[field] = int(doc[field])
    response.set_data(json.dumps(doc))
    return response


def _parse_delay(value: Any) -> tuple[float, float]:
    if value is None:
        return (1.0, 11.0)  # sushy-tools' own behaviour, for a realistic demo
    if isinstance(value, int | float):
        return (float(value), float(value))
    low, high = value
    if low < 0 or high < low:
        raise ValueError(f"power_delay must be 0 <= min <= max, got {value!r}")
    return (float(low), float(high))


def write_htpasswd(path: Path, users: dict[str, str]) -> None:
    """Write an htpasswd file; bcrypt cost 4, since the default 12 costs ~300 ms per request."""
    lines = [
        f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()}"
        for user, password in users.items()
    ]
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)


def build_app(config: dict[str, Any]):
    """Configure and patch sushy-tools' Flask app from our JSON config; return the app."""
    state_dir = Path(config["state_dir"])
    state_dir.mkdir(parents=True, exist_ok=True)
    systems = [{**_SYSTEM_DEFAULTS, **system} for system in config.get("systems", [])]
    for system in systems:
        system.setdefault("name", system["uuid"])
    extra: dict[str, Any] = {
        "SUSHY_EMULATOR_FAKE_DRIVER": True,
        "SUSHY_EMULATOR_STATE_DIR": str(state_dir),
        "SUSHY_EMULATOR_FAKE_SYSTEMS": systems,
        _DELAY_KEY: _parse_delay(config.get("power_delay")),
        "SUSHY_EMULATOR_DISABLE_POWER_OFF": bool(config.get("disable_power_off")),
    }
    if config.get("users"):
        auth_file = state_dir / "htpasswd"
        write_htpasswd(auth_file, config["users"])
        extra["SUSHY_EMULATOR_AUTH_FILE"] = str(auth_file)
    fakedriver.FakeDriver = LabFakeDriver  # the app looks the class up through the module
    app = emulator_main.app
    app.configure(extra_config=extra)
    app.after_request(_enrich_response)
    return app


def serve(config: dict[str, Any]) -> None:
    """Bind, announce the real URL on stdout, and serve until killed."""
    from werkzeug.serving import make_server

    host = require_loopback(config.get("listen_ip", "127.0.0.1"))
    app = build_app(config)
    ssl_context = None
    if config.get("tls_cert"):
        ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ssl_context.load_cert_chain(config["tls_cert"], config["tls_key"])
    server = make_server(
        host, int(config.get("port", 0)), app, threaded=True, ssl_context=ssl_context
    )
    scheme = "https" if ssl_context else "http"
    announce_ready({"url": f"{scheme}://{host}:{server.server_port}"})
    server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, type=Path, help="JSON config file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    serve(json.loads(args.config.read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
