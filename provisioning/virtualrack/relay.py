"""A stdin/stdout ↔ TCP relay that QEMU starts once per guest connection (guestfwd `-cmd:`).

Usage: relay.py HOST PORT SOURCE [LOG_DIR]. It connects from SOURCE, a loopback address that
stands for the guest's own (the address DHCP would have given it), so the server sees the guest
as that address. With LOG_DIR, what the server answered is also written to
LOG_DIR/response-<pid>.bin, so a test can read what the firmware was told. Standard library
only: it runs under whatever Python QEMU's shell finds.
"""

import contextlib
import os
import socket
import sys
import threading


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def main() -> None:
    """Relay until both directions are closed."""
    host, port, source = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    log_dir = sys.argv[4] if len(sys.argv) > 4 else None
    upstream = socket.create_connection((host, port), timeout=30, source_address=(source, 0))
    upstream.settimeout(None)

    def guest_to_server() -> None:
        while data := os.read(0, 65536):
            upstream.sendall(data)
        # The server may already have closed: then there is nothing left to tell it.
        with contextlib.suppress(OSError):
            upstream.shutdown(socket.SHUT_WR)

    threading.Thread(target=guest_to_server, daemon=True).start()
    with contextlib.ExitStack() as stack:
        stack.callback(upstream.close)
        log = (
            stack.enter_context(open(os.path.join(log_dir, f"response-{os.getpid()}.bin"), "wb"))
            if log_dir
            else None
        )
        # OSError: the guest went away (QEMU exited), so the relay's job is over.
        with contextlib.suppress(OSError):
            while data := upstream.recv(65536):
                _write_all(1, data)
                if log:
                    log.write(data)
                    log.flush()


if __name__ == "__main__":
    main()
