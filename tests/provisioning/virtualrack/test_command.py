"""`manage.py virtual_rack` as `make run` starts it: READY line, inventory file, SIGTERM."""

import json
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from inventory.bmc import BmcEndpoint, PowerState, driver_for

MANAGE = Path(__file__).resolve().parents[3] / "manage.py"


def test_command_writes_the_inventory_serves_bmcs_and_stops_on_sigterm(tmp_path):
    state_file = tmp_path / "rack.json"
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and manage.py
        [
            sys.executable,
            str(MANAGE),
            "virtual_rack",
            "--servers=3",
            "--ipmi=3",
            "--bmc-port=0",
            "--ipmi-port=0",
            "--zero-delay",
            "--portal-url=http://127.0.0.1:9",
            "--fault=bmc-5xx:node02",
            f"--state-file={state_file}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines: queue.Queue[str] = queue.Queue()
        # A thread, not select(): the text wrapper may already hold the READY line in its buffer.
        threading.Thread(
            target=lambda: [lines.put(line) for line in process.stdout], daemon=True
        ).start()
        ready = None
        deadline = time.monotonic() + 30
        while ready is None and time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.5)
            except queue.Empty:
                if process.poll() is not None:
                    break
                continue
            if line.startswith("READY "):
                ready = json.loads(line[6:])
        assert ready is not None, process.stderr.read() if process.poll() is not None else ""
        assert ready["servers"] == 3

        inventory = json.loads(state_file.read_text())
        names = [s["name"] for s in inventory["servers"]]
        assert names == ["node01", "node02", "node03"]
        bmc = inventory["servers"][0]["bmc"]
        assert bmc["address"] == ready["redfish_url"]
        with driver_for(BmcEndpoint(**bmc)) as driver:
            driver.power_on()
            assert driver.power_state() is PowerState.ON
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    saved = json.loads(state_file.read_text())
    assert saved["servers"][0]["state"]["power"] == "on"
    assert saved["servers"][1]["state"]["power"] == "off"
