"""The in-band side of a simulated server: iPXE, the installer agent, and the OS's first boot.

Every request leaves from the address the rack's DHCP gave the server at this boot (the
portal's reservation for its MACs: the portal knows callers by the address it assigned). Each
boot is a chain of short callbacks on the rack's scheduler: one HTTP request per callback,
delays in between are timer entries, so a waiting server holds no thread.

Protocol, as spoken to the portal:

- PXE boot: `GET {portal}/boot/ipxe?mac=<first MAC>` with User-Agent `iPXE/1.0.0 (ironyard
  virtual rack)`. A script with `kernel … ironyard.agent=<url> ironyard.token=<token>` and `boot`
  starts the agent (kernel and initrd are not fetched); `chain <url>` fetches url (loopback
  only, up to MAX_CHAIN deep) and follows it if it is such a script, else the server stays in
  "custom-ipxe"; `exit`, a failed fetch, or anything else falls through to the disk.
- Agent (`Authorization: Bearer <token>`, JSON): `GET {agent}/instructions`, then per step
  progress reports `{"step", "percent", "message"}` (0%, then `progress_updates` more) sent as
  `POST {agent}/progress {"reports": [...]}`, at most one call per `report_interval` seconds of
  work: reports made sooner wait for the next call, and a step's 100% always goes with
  the next call (the next step's 0%: one call where a step ends and the next begins). At the
  end `POST {agent}/done {"reports": [...]}` (then, if the instructions say `"then":
  "reboot"`, the server reboots itself into what was installed), or `POST {agent}/fail
  {"step", "message", "reports": [...]}`. A fast install thus sends its reports with done.
  (The portal also takes a bare `{"step", "percent", "message"}` on /progress and an empty
  /done, as older agents send.) A 4xx stops the agent quietly; a 5xx or no answer is retried
  `retries` times, `retry_delay` apart.
- Disk boot with an OS that has not booted yet: `GET {portal}/metadata` (JSON), `GET
  {portal}/userdata`, `POST` the metadata's `phone_home_url` (else `{portal}/phone-home`) with
  `{"instance_id": <metadata id>}`, and, if the user data holds a line
  `ironyard-user-state: <state> [<code> [<message>]]`, `POST` the metadata's `user_state_url`
  with `{"state", "code" (default 1000), "message"}`.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import re
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from provisioning.virtualrack.config import SLOW_WIPE_FACTOR
from provisioning.virtualrack.server import InbandRequest, Server

if TYPE_CHECKING:
    from provisioning.virtualrack.rack import VirtualRack

IPXE_USER_AGENT = "iPXE/1.0.0 (ironyard virtual rack)"
AGENT_USER_AGENT = "ironyard-agent/1.0 (ironyard virtual rack)"
CLOUD_INIT_USER_AGENT = "Cloud-Init/24.1 (ironyard virtual rack)"
MAX_CHAIN = 8
MAX_REPORTS = 20  # progress reports the portal takes in one agent call
DEFAULT_IMAGE_BYTES = 2 * 10**9  # write_image without size_bytes
MiB = 1024 * 1024
USER_STATE = re.compile(r"^\s*#?\s*ironyard-user-state:\s*(\w+)(?:\s+(\d+))?(?:\s+(.*))?$", re.M)


@dataclass(frozen=True)
class Response:
    """An HTTP answer, read in full."""

    status: int
    body: bytes
    content_type: str

    @property
    def text(self) -> str:
        """The body as text."""
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body as JSON (ValueError if it is not)."""
        return json.loads(self.body)


def send(
    method: str,
    url: str,
    source: str,
    *,
    body: Any = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> Response:
    """One HTTP request from source (a local address), on a fresh connection; OSError on failure."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OSError(f"cannot fetch {url!r}: not an http(s) URL")
    headers = dict(headers or {})
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json")
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    if parts.scheme == "https":
        connection: http.client.HTTPConnection = http.client.HTTPSConnection(
            parts.hostname,
            parts.port,
            timeout=timeout,
            source_address=(source, 0),
            context=ssl.create_default_context(),
        )
    else:
        connection = http.client.HTTPConnection(
            parts.hostname, parts.port, timeout=timeout, source_address=(source, 0)
        )
    try:
        connection.request(method, target, body=data, headers=headers)
        answer = connection.getresponse()
        return Response(answer.status, answer.read(), answer.getheader("Content-Type") or "")
    except http.client.HTTPException as error:
        raise OSError(f"bad HTTP answer: {error!r}") from error
    finally:
        connection.close()


def is_loopback_url(url: str) -> bool:
    """Does url point at a loopback host? The rack never talks to anything else."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# -- iPXE ----------------------------------------------------------------------------------------

_VARIABLE = re.compile(r"\$\{([^}:]+)(?::([^}]+))?\}")


@dataclass
class IpxeScript:
    """What an iPXE script would do, as far as the rack cares."""

    is_ipxe: bool
    action: str  # "boot" (a kernel), "chain", or "exit" (anything else: fall through)
    kernel: str | None = None
    kernel_args: dict[str, str] = field(default_factory=dict)
    initrds: list[str] = field(default_factory=list)
    chain: str | None = None

    @property
    def agent(self) -> tuple[str, str] | None:
        """(agent base URL, token) if this script boots the Ironyard installer agent."""
        if self.action != "boot":
            return None
        agent, token = (
            self.kernel_args.get("ironyard.agent"),
            self.kernel_args.get("ironyard.token"),
        )
        return (agent, token) if agent and token else None


def parse_ipxe(text: str, variables: dict[str, str]) -> IpxeScript:
    """Read an iPXE script up to its first boot, chain or exit (no labels or gotos)."""
    lines = text.splitlines()
    script = IpxeScript(
        is_ipxe=bool(lines) and lines[0].strip().startswith("#!ipxe"), action="exit"
    )
    if not script.is_ipxe:
        return script
    values = dict(variables)

    def expand(word: str) -> str:
        # iPXE expands unknown settings to the empty string.
        return _VARIABLE.sub(lambda m: values.get(_setting(m.group(1), m.group(2)), ""), word)

    for raw in lines[1:]:
        line = raw.split("||")[0].split("&&")[0].strip()
        if not line or line.startswith(("#", ":")):
            continue
        words = line.split()
        command, args = words[0], [expand(w) for w in words[1:]]
        positional = _without_options(args)
        if command == "set" and len(args) >= 1:
            values[args[0]] = " ".join(args[1:])
        elif command in ("kernel", "imgselect") and positional:
            script.kernel = positional[0]
            script.kernel_args = dict(
                arg.split("=", 1) if "=" in arg else (arg, "") for arg in positional[1:]
            )
        elif command in ("initrd", "imgfetch", "module") and positional:
            script.initrds.append(positional[0])
        elif command == "boot" or (command == "imgexec" and not positional):
            script.action = "boot" if script.kernel else "exit"
            return script
        elif command in ("chain", "imgexec") and positional:
            script.action, script.chain = "chain", positional[0]
            return script
        elif command in ("exit", "poweroff", "reboot", "shell", "sanboot", "goto"):
            return script
    return script


def _setting(name: str, kind: str | None) -> str:
    """Key for a ${name:type} setting; only the MAC's hyphenated form differs by type."""
    return f"{name}:hexhyp" if kind == "hexhyp" else name


def _without_options(args: list[str]) -> list[str]:
    """Drop iPXE command options (--name x, --autofree, -n x)."""
    result, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg in ("--name", "-n", "--timeout", "-t"):
            skip = True
        elif arg.startswith("-") and len(result) == 0:
            continue
        else:
            result.append(arg)
    return result


# -- the runner ------------------------------------------------------------------------------------


class Inband:
    """Runs every server's in-band work on the rack's scheduler."""

    def __init__(self, rack: VirtualRack) -> None:
        self.rack = rack
        self.config = rack.config

    def boot(self, server: Server, generation: int, device: str) -> None:
        """Firmware done: ask DHCP for an address, then boot from device."""
        if not server.alive(generation):
            return
        server.update(generation, address=self.rack.lease(server))
        if device == "pxe":
            _Boot(self, server, generation).pxe()
        elif device == "disk":
            _Boot(self, server, generation).disk()
        elif device == "bios":
            server.update(generation, environment="bios-setup")
        else:
            server.update(generation, environment="no-bootable-device")


class _Boot:
    """One boot of one server: everything it does in-band until the next power change."""

    def __init__(self, inband: Inband, server: Server, generation: int) -> None:
        self.inband = inband
        self.rack = inband.rack
        self.config = inband.config
        self.server = server
        self.generation = generation
        spec = server.spec
        mac = spec.macs[0]
        self.address = server.address
        self.variables = {
            "mac": mac,
            "net0/mac": mac,
            "mac:hexhyp": mac.replace(":", "-"),
            "net0/mac:hexhyp": mac.replace(":", "-"),
            "ip": self.address or "",
            "net0/ip": self.address or "",
            "uuid": spec.uuid,
            "serial": spec.serial,
            "manufacturer": spec.manufacturer,
            "product": spec.model,
            "buildarch": "x86_64",
            "platform": "efi",
        }

    # -- plumbing ---------------------------------------------------------------------------

    def alive(self) -> bool:
        return self.server.alive(self.generation)

    def later(self, delay: float, function: Callable, *args: Any) -> None:
        """Continue with function(*args) after delay, unless the server rebooted meanwhile."""

        def run() -> None:
            if self.alive():
                function(*args)

        self.rack.scheduler.call_later(delay, run)

    def set(self, **changes: Any) -> bool:
        return self.server.update(self.generation, **changes)

    def request(
        self, method: str, url: str, agent: str, *, body: Any = None, token: str | None = None
    ) -> Response | None:
        """Send one request from the server's address and record it; None if nothing answered."""
        headers = {"User-Agent": agent, "Accept": "*/*"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if body is not None:
            headers["Accept"] = "application/json"
        source = self.address
        if source is None:
            # No DHCP offer: a server without an address reaches nobody.
            self.server.record(
                InbandRequest(time.monotonic(), method, url, "", None, body, "no address")
            )
            return None
        try:
            response = send(
                method, url, source, body=body, headers=headers, timeout=self.config.http_timeout
            )
        except (TimeoutError, OSError) as error:
            self.server.record(
                InbandRequest(time.monotonic(), method, url, source, None, body, str(error))
            )
            return None
        self.server.record(
            InbandRequest(time.monotonic(), method, url, source, response.status, body)
        )
        return response

    def call(
        self,
        method: str,
        url: str,
        agent: str,
        then: Callable[[Response], None],
        *,
        body: Any = None,
        token: str | None = None,
        on_4xx: Callable[[Response], None] | None = None,
        give_up: str = "gave-up",
        attempt: int = 0,
    ) -> None:
        """Request with retries (no answer or 5xx); then(response) on 2xx/3xx."""
        response = self.request(method, url, agent, body=body, token=token)
        if not self.alive():
            return
        if response is None or response.status >= 500:
            if attempt < self.config.retries:
                self.later(
                    self.config.retry_delay,
                    lambda: self.call(
                        method, url, agent, then, body=body, token=token, on_4xx=on_4xx,
                        give_up=give_up, attempt=attempt + 1,
                    ),
                )  # fmt: skip
            else:
                self.set(environment=give_up)
            return
        if response.status >= 400:
            if on_4xx is not None:
                on_4xx(response)
            return
        then(response)

    @property
    def portal(self) -> str:
        return self.config.portal_url.rstrip("/")

    # -- PXE and iPXE -------------------------------------------------------------------------

    def pxe(self) -> None:
        """DHCP gave us an address and the portal's iPXE endpoint: fetch this server's script.
        Without an offer, PXE gives up and the firmware tries the disk."""
        if self.address is None:
            self.set(environment="no-dhcp-offer")
            self.disk()
            return
        self.set(environment="ipxe")
        query = urlencode({"mac": self.server.spec.macs[0]}, safe=":")
        url = f"{self.portal}/boot/ipxe?{query}"
        response = self.request("GET", url, IPXE_USER_AGENT)
        if not self.alive():
            return
        if response is None or response.status >= 400:
            self.disk()  # iPXE gives up on this device; firmware tries the next one
            return
        self.run_script(response.text, depth=0)

    def run_script(self, text: str, depth: int) -> None:
        script = parse_ipxe(text, self.variables)
        if script.agent:
            agent, token = script.agent
            self.set(environment="agent", custom_ipxe=None)
            _Agent(self, agent.rstrip("/"), token).start()
        elif script.action == "boot":
            # A kernel that is not our agent: the customer's own OS runs, out of our sight.
            self.set(environment="custom-ipxe")
        elif script.action == "chain" and script.chain:
            self.chain(script.chain, depth + 1)
        else:
            self.disk()

    def chain(self, url: str, depth: int) -> None:
        """Follow `chain url`: our own script, a customer's iPXE, or a failure (next device)."""
        self.set(custom_ipxe=url)
        if depth > MAX_CHAIN or not is_loopback_url(url):
            # Nothing leaves loopback: a chain elsewhere counts as the customer's iPXE running.
            self.set(environment="custom-ipxe")
            return
        response = self.request("GET", url, IPXE_USER_AGENT)
        if not self.alive():
            return
        if response is None or response.status >= 400:
            self.disk()
            return
        script = parse_ipxe(response.text, self.variables)
        if script.agent or script.action == "chain":
            self.run_script(response.text, depth)
        else:
            self.set(environment="custom-ipxe")

    # -- disk and first boot ------------------------------------------------------------------

    def disk(self) -> None:
        """Boot the installed OS; its first boot fetches metadata and phones home."""
        with self.server.lock:
            os_, first_booted = self.server.os, self.server.first_booted
        if os_ is None:
            self.set(environment="no-bootable-device")
        elif first_booted:
            self.set(environment="os")
        elif self.address is None:
            self.set(environment="os-no-network")  # no DHCP offer: cloud-init reaches nothing
        else:
            self.set(environment="os-first-boot")
            self.call(
                "GET", f"{self.portal}/metadata", CLOUD_INIT_USER_AGENT, self.got_metadata,
                on_4xx=lambda _: self.set(environment="os-no-metadata"),
                give_up="os-no-metadata",
            )  # fmt: skip

    def got_metadata(self, response: Response) -> None:
        try:
            metadata = response.json()
            if not isinstance(metadata, dict):
                raise ValueError("metadata is not a JSON object")
        except ValueError:
            self.set(environment="os-no-metadata")
            return
        self.call(
            "GET", f"{self.portal}/userdata", CLOUD_INIT_USER_AGENT,
            lambda answer: self.phone_home(metadata, answer.text),
            on_4xx=lambda _: self.phone_home(metadata, ""),
        )  # fmt: skip

    def phone_home(self, metadata: dict, userdata: str) -> None:
        url = metadata.get("phone_home_url") or f"{self.portal}/phone-home"
        self.call(
            "POST", url, CLOUD_INIT_USER_AGENT,
            lambda _: self.user_state(metadata, userdata),
            body={"instance_id": metadata.get("id")},
            on_4xx=lambda _: self.user_state(metadata, userdata),
        )  # fmt: skip

    def user_state(self, metadata: dict, userdata: str) -> None:
        match = USER_STATE.search(userdata)
        url = metadata.get("user_state_url")
        if match and url:
            body = {
                "state": match.group(1),
                "code": int(match.group(2) or 1000),
                "message": (match.group(3) or f"user data reports {match.group(1)}").strip(),
            }
            self.call(
                "POST", url, CLOUD_INIT_USER_AGENT, lambda _: self.initialised(),
                body=body, on_4xx=lambda _: self.initialised(),
            )  # fmt: skip
        else:
            self.initialised()

    def initialised(self) -> None:
        self.set(environment="os", first_booted=True)


class _Agent:
    """The installer agent of one boot: instructions, steps with progress, done or fail."""

    def __init__(self, boot: _Boot, base: str, token: str) -> None:
        self.boot = boot
        self.base = base
        self.token = token
        self.config = boot.config
        server = boot.server
        self.crash = boot.rack.fault_active(server, "agent-crash")
        self.fail = boot.rack.fault_active(server, "agent-fail")
        self.slow_wipe = boot.rack.fault_active(server, "slow-wipe")
        self.steps: list[dict] = []
        self.then: str | None = None  # what to do after done: "reboot", or stay
        self.ran_rescue = False
        self.held: list[dict] = []  # progress reports that travel with the next call
        # Seconds of (simulated) work since the agent last called: pacing by the work, not the
        # clock, keeps a zero-delay install to its one call however busy the rack's host is.
        self.worked = 0.0

    def call(self, method: str, path: str, then: Callable[[Response], None], body: Any = None):
        self.worked = 0.0
        self.boot.call(
            method, f"{self.base}/{path}", AGENT_USER_AGENT, then, body=body, token=self.token,
            on_4xx=lambda _: self.boot.set(environment="agent-stopped"),
            give_up="agent-gave-up",
        )  # fmt: skip

    def start(self) -> None:
        self.call("GET", "instructions", self.got_instructions)

    def got_instructions(self, response: Response) -> None:
        try:
            instructions = response.json()
            steps = instructions.get("steps") or []
            if not all(isinstance(step, dict) and step.get("name") for step in steps):
                raise ValueError("every step needs a name")
        except (ValueError, AttributeError) as error:
            self.report_failure("instructions", f"unreadable instructions: {error}")
            return
        self.steps = steps
        self.then = instructions.get("then")
        self.run_step(0)

    def run_step(self, index: int) -> None:
        if index >= len(self.steps):
            environment = "rescue" if self.ran_rescue else "agent-done"
            body = {"reports": self.take_held()}
            self.call("POST", "done", lambda _: self.done(environment), body=body)
            return
        step = self.steps[index]
        name = step["name"]
        known = ("wipe_disks", "write_image", "configure", "rescue")
        if name not in known:
            self.report_failure(name, f"unknown step {name!r}")
            return
        if self.fail and name in ("wipe_disks", "write_image"):
            self.progress(name, 0, "starting", lambda: self.report_failure(
                name, "simulated failure: I/O error on /dev/" + self.boot.server.spec.disks[0].name
            ))  # fmt: skip
            return
        duration, updates = self.duration(step), self.config.progress_updates
        if name in ("configure", "rescue"):
            updates = 1
        if name == "write_image":
            # The old disk contents are gone from the first written block on.
            self.boot.set(os=None, first_booted=False, disks_wiped=False)
        pause = duration / updates
        self.progress(
            name, 0, self.message(step, 0),
            lambda: self.boot.later(pause, self.tick, index, 1, updates, pause),
        )  # fmt: skip

    def tick(self, index: int, tick: int, updates: int, pause: float) -> None:
        self.worked += pause
        step = self.steps[index]
        name = step["name"]
        if self.crash and name == "write_image" and tick > updates // 2:
            self.boot.set(environment="agent-crashed")  # no done, no fail: the portal must notice
            return
        percent = tick * 100 // updates
        if tick == updates:
            # The step's end goes with the next call: the next step's start, or done.
            self.held.append(self.report(name, percent, self.message(step, percent)))
            self.finish(step)
            self.run_step(index + 1)
            return
        self.progress(
            name, percent, self.message(step, percent),
            lambda: self.boot.later(pause, self.tick, index, tick + 1, updates, pause),
        )  # fmt: skip

    def done(self, environment: str) -> None:
        """The portal has the installer's done: stay (rescue, a wiped disk the portal powers
        off) or, if the instructions say so, reboot into what was installed."""
        self.boot.set(environment=environment)
        if self.then == "reboot":
            self.boot.server.reboot(self.boot.generation, "installer rebooted the server")

    @staticmethod
    def report(name: str, percent: int, message: str) -> dict:
        return {"step": name, "percent": percent, "message": message}

    def take_held(self) -> list[dict]:
        held, self.held = self.held, []
        return held

    def progress(self, name: str, percent: int, message: str, then: Callable[[], None]) -> None:
        self.held.append(self.report(name, percent, message))
        recent = self.worked < self.config.report_interval
        if recent and len(self.held) < MAX_REPORTS - 1:  # leaves room for the step's end
            then()
            return
        self.call("POST", "progress", lambda _: then(), body={"reports": self.take_held()})

    def report_failure(self, name: str, message: str) -> None:
        self.call(
            "POST", "fail", lambda _: self.boot.set(environment="agent-failed"),
            body={"step": name, "message": message, "reports": self.take_held()},
        )  # fmt: skip

    def duration(self, step: dict) -> float:
        """How long a step takes on this server, from the configured speeds."""
        name = step["name"]
        if name == "write_image":
            size = int(step.get("size_bytes") or DEFAULT_IMAGE_BYTES)
            return size / (self.config.write_speed * 10**6)
        if name == "wipe_disks":
            seconds = self.boot.server.spec.disk_bytes / (self.config.wipe_speed * 10**6)
            if self.slow_wipe:
                seconds = max(seconds * SLOW_WIPE_FACTOR, self.config.slow_wipe_seconds)
            return seconds
        return self.config.step_seconds

    def message(self, step: dict, percent: int) -> str:
        """What the real agent says at this point of the step (provisioning/agent)."""
        name = step["name"]
        disks = self.boot.server.spec.disks
        if name == "write_image":
            size = int(step.get("size_bytes") or DEFAULT_IMAGE_BYTES)
            if percent < 100:
                return f"Writing the image: {size * percent // 100 // MiB} of {size // MiB} MiB"
            root = min(disks, key=lambda d: d.size_bytes) if disks else None
            where = f"/dev/{root.name} ({root.size_bytes / 10**9:.0f} GB, the smallest disk)"
            return f"Image on {where}: {size // MiB} MiB, checksum verified"
        if name == "wipe_disks":
            if percent < 100:
                return "Wiping the disks"
            wiped = ", ".join(f"/dev/{d.name} (full discard)" for d in disks)
            return f"Wiped {wiped}; their first and last MiB read back zero"
        if name == "configure":
            if percent < 100:
                return "Configuring the installed system"
            keys = len(step.get("ssh_keys") or ())
            return (
                f"Configured {step.get('hostname', '')}: {keys} SSH key{'s' if keys != 1 else ''}"
                ", network, cloud-init from the portal"
            )
        return "Rescue system up" if percent == 100 else "Starting the rescue system"

    def finish(self, step: dict) -> None:
        """The step's lasting effect on the server."""
        name = step["name"]
        if name == "wipe_disks":
            self.boot.set(os=None, first_booted=False, disks_wiped=True)
        elif name == "write_image":
            image = {k: step.get(k) for k in ("image_url", "checksum", "size_bytes")}
            self.boot.set(os=image, first_booted=False, disks_wiped=False)
        elif name == "configure":
            with self.boot.server.lock:
                current = dict(self.boot.server.os or {})
            current.update(
                hostname=step.get("hostname"),
                ssh_keys=list(step.get("ssh_keys") or []),
                userdata=step.get("userdata"),
            )
            if self.boot.server.os is not None:
                self.boot.set(os=current)
        elif name == "rescue":
            self.ran_rescue = True
            self.boot.set(environment="rescue")
