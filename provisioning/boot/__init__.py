"""The boot path: what servers being provisioned talk to (iPXE scripts, the installer agent's
API, the Metal-compatible metadata service, phone-home and user state)."""
