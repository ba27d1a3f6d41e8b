"""Running an emulator process from a test: start it, wait for its `READY <json>` line, stop
it."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from inventory.bmc.emulators import READY_PREFIX


class EmulatorProcess:
    """A running emulator subprocess; `details` is what it announced when ready."""

    def __init__(self, module: str, config: dict[str, Any], config_path: Path) -> None:
        self.module = module
        self.config_path = config_path
        config_path.write_text(json.dumps(config, indent=2))
        # A file, not a pipe: the emulators log every request, and a full pipe would stall them.
        self.log_path = config_path.with_suffix(".log")
        self.process: subprocess.Popen[str] | None = None
        self.details: dict[str, Any] = {}

    def start(self, timeout: float = 15.0) -> dict[str, Any]:
        """Start the emulator and wait until it announces READY; return what it announced."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        # sushy-tools reads this at import time; an inherited value would override our config.
        env.pop("SUSHY_EMULATOR_CONFIG", None)
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-m", self.module, "--config", str(self.config_path)],
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                env=env,
            )
        deadline = time.monotonic() + timeout
        assert self.process.stdout is not None
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.process.stdout], [], [], 0.1)
            if ready:
                line = self.process.stdout.readline()
                if line.startswith(READY_PREFIX):
                    self.details = json.loads(line[len(READY_PREFIX) :])
                    return self.details
                if not line and self.process.poll() is not None:
                    break
            elif self.process.poll() is not None:
                break
        self.stop()
        log = self.log_path.read_text(errors="replace")
        raise RuntimeError(f"{self.module} did not become ready:\n{log[-4000:]}")

    def stop(self) -> None:
        """Stop the emulator (SIGTERM, then SIGKILL after 5 s)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout:
            self.process.stdout.close()

    def __enter__(self) -> EmulatorProcess:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
