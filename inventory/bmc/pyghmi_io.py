"""Fixes for two races in pyghmi 1.6.19's I/O, used by client and fake BMC alike.

pyghmi hands socket reads to an I/O thread. A caller that waits for a packet first checks
whether one is queued and then registers an event for the I/O thread to set. A packet that
arrives between those two steps is queued, but nobody sets the event, so the caller sleeps until
its retry timeout: 0.5-1 s stalls on loopback, about one call in five. The replacement below
registers first and then checks, so a packet that raced ahead wakes the caller at once.

pyghmi's I/O thread reads a socket by switching it to non-blocking and then calling recvfrom();
every sender switches the same socket back to blocking before its sendto(). A send from another
thread between those two steps leaves the I/O thread blocked in recvfrom() until another packet
reaches that socket: if none does, every IPMI call in the process hangs for good (seen with a
client and the virtual rack's BMCs in one process, every few dozen logins). The replacement reads
with MSG_DONTWAIT, non-blocking whatever mode the socket is in.
"""

from __future__ import annotations

import socket
import threading

from pyghmi.ipmi.private import session as ipmisession

_installed = False


def _already_queued(myaddr) -> bool:
    """Is a packet for this waiter already waiting to be processed?"""
    if myaddr is None:
        return bool(ipmisession.sessionqueue)
    handlers = ipmisession.Session.bmc_handlers.get(myaddr) or {}
    return any(getattr(handler, "pktqueue", None) for handler in handlers.values())


def _io_wait(timeout, myaddr=None, evq=None):
    """pyghmi's _io_wait, with the queued-packet check moved after the registration."""
    event = threading.Event()
    if evq is not None:
        evq.append(event)
    deadline = timeout + ipmisession._monotonic_time()
    ipmisession.ioqueue.append((deadline, event, myaddr))
    if _already_queued(myaddr):
        event.set()
    elif deadline < ipmisession.selectdeadline:
        # Break the I/O thread out of a select() that would outlast our deadline.
        wake = ipmisession.iosockets[0]
        wake.sendto(b"\x01", (ipmisession.myself, wake.getsockname()[1]))
    event.wait()


def _io_recvfrom(mysocket, size):
    """pyghmi's _io_recvfrom, non-blocking per call rather than by the socket's mode."""
    try:
        return mysocket.recvfrom(size, socket.MSG_DONTWAIT)
    except OSError:
        return None


def install() -> None:
    """Replace pyghmi's _io_wait and _io_recvfrom (idempotent)."""
    global _installed
    if not _installed:
        ipmisession._io_wait = _io_wait
        ipmisession._io_recvfrom = _io_recvfrom
        _installed = True
