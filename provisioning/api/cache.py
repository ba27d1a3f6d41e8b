"""Which writes retire a cached device list (see portal.api.generations).

A project's device list shows its devices' own columns, their IP assignments, the hrefs of
their SSH keys, their creators and the catalogue rows they run on. A device saved or deleted
retires its project's lists; anything else that shows in them (a bulk update whose projects are
not known without a query, an assignment, a key, a user, the catalogue) retires every device
list: those writes are rare next to the reads they make cheap.
"""

from django.db.models.signals import m2m_changed, post_delete, post_save

from portal.api import access, generations

ALL_DEVICES = "devices"


def project_scope(project_id: int) -> str:
    return f"devices:project:{project_id}"


def list_scopes(project_id: int) -> tuple[str, ...]:
    """What a project's device list is rendered from."""
    return (ALL_DEVICES, project_scope(project_id))


def devices_changed(project_ids=None) -> None:
    """Retire the device lists of `project_ids`, or every device list when not known."""
    if project_ids is None:
        generations.bump(ALL_DEVICES)
    else:
        generations.bump(*(project_scope(pk) for pk in sorted(set(project_ids))))


def _device_written(sender, instance, **kwargs) -> None:
    devices_changed([instance.project_id])


def _anything_written(sender, instance=None, **kwargs) -> None:
    devices_changed()


def _user_saved(sender, instance, update_fields=None, **kwargs) -> None:
    if not access.login_stamp_only(update_fields):
        devices_changed()


def _relation_changed(sender, instance, action, **kwargs) -> None:
    """A many-to-many set changed: a device's keys (its project's lists) or the catalogue's."""
    if not action.startswith("post_"):
        return
    from provisioning.models import Device

    devices_changed([instance.project_id] if isinstance(instance, Device) else None)


def connect() -> None:
    from inventory.models import Facility, IPBlock, IPReservation, Metro, OperatingSystem, Plan
    from portal.models import SSHKey, User
    from provisioning.models import Device, IPAssignment

    for signal in (post_save, post_delete):
        signal.connect(_device_written, sender=Device, dispatch_uid=f"devices-cache-{signal}")
        shown = (IPAssignment, IPReservation, IPBlock, SSHKey, Plan, Metro, Facility)
        for model in (*shown, OperatingSystem):
            signal.connect(
                _anything_written, sender=model, dispatch_uid=f"devices-cache-{model}-{signal}"
            )
    post_save.connect(_user_saved, sender=User, dispatch_uid="devices-cache-user")
    post_delete.connect(_anything_written, sender=User, dispatch_uid="devices-cache-user-delete")
    for through in (
        Device.ssh_keys.through,
        Plan.metros.through,
        OperatingSystem.provisionable_on.through,
    ):
        m2m_changed.connect(
            _relation_changed, sender=through, dispatch_uid=f"devices-cache-{through}"
        )
