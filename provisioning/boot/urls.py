"""The boot path at the portal's root (namespace "boot"): iPXE and the installer agent under
boot/, the metadata service at the paths Metal's metadata host uses."""

from django.urls import path, re_path

from . import views as v
from .access import from_boot_network as guarded

app_name = "boot"

urlpatterns = [
    path("boot/ipxe", guarded(v.ipxe), name="ipxe"),
    path("boot/agent/v1/instructions", guarded(v.agent_instructions), name="agent-instructions"),
    path("boot/agent/v1/progress", guarded(v.agent_progress), name="agent-progress"),
    path("boot/agent/v1/done", guarded(v.agent_done), name="agent-done"),
    path("boot/agent/v1/fail", guarded(v.agent_fail), name="agent-fail"),
    path("boot/files/<path:path>", guarded(v.files), name="files"),
    path("metadata", guarded(v.metadata), name="metadata"),
    path("nocloud/<str:document>", guarded(v.nocloud), name="nocloud"),
    path("userdata", guarded(v.userdata), name="userdata"),
    re_path(r"^2009-04-04/meta-data/?$", guarded(v.ec2_metadata), name="ec2-meta-data"),
    re_path(
        r"^2009-04-04/meta-data/(?P<key>.+)$", guarded(v.ec2_metadata), name="ec2-meta-data-key"
    ),
    path("2009-04-04/user-data", guarded(v.userdata), name="ec2-user-data"),
    path("phone-home", guarded(v.phone_home), name="phone-home"),
    path("user-state", guarded(v.user_state), name="user-state"),
]
