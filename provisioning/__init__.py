"""Provisioning: devices, operations and steps, BMC drivers, the boot path, the virtual rack."""
