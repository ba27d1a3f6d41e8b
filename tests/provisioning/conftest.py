"""The emulated BMC fixtures of the inventory tests serve the provisioning tests too."""

from tests.inventory.conftest import closed_port, redfish_url, start_redfish  # noqa: F401
