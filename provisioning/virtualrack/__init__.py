"""The virtual rack: simulated servers that stand in for hardware in the demo and the tests.

Each server has a BMC (Redfish through the rack's one chassis-manager endpoint, or its own IPMI
BMC) and an in-band side that, when powered on, really boots over the network against the
portal: iPXE script, installer agent, first boot with metadata and phone-home, each request from
the loopback address the portal reserved for it, which it takes from the rack's DHCP (`dhcp`)
at every boot. See `inband` for the protocol and `config` for the knobs.
"""

from provisioning.virtualrack.config import FAULT_KINDS, Fault, RackConfig, ServerSpec
from provisioning.virtualrack.rack import VirtualRack
from provisioning.virtualrack.server import Event, InbandRequest, Server

__all__ = [
    "FAULT_KINDS",
    "Event",
    "Fault",
    "InbandRequest",
    "RackConfig",
    "Server",
    "ServerSpec",
    "VirtualRack",
]
