"""Device IP assignments as the inventory API sees them.

Assignments belong to provisioning, which inventory never imports: at start-up provisioning
registers how to answer `/ips/{id}` for an assignment id, and how to list what devices hold
of given reservations. Until it does (inventory alone), reservations simply have no
assignments.
"""

from collections.abc import Callable, Iterable

_hooks: dict[str, Callable | None] = {"view": None, "held": None}


def register(*, view: Callable, held: Callable) -> None:
    """`view(request, id)` answers /ips/{id} for an id that is no reservation; `held(ids)`
    maps each of those reservation ids to the [(assignment uuid, network)] devices hold."""
    _hooks.update(view=view, held=held)


def view() -> Callable | None:
    return _hooks["view"]


def held(reservation_ids: Iterable[int]) -> dict[int, list[tuple]]:
    """{reservation id: [(assignment uuid, network), …]} for every id asked about."""
    ids = list(reservation_ids)
    found = {pk: [] for pk in ids}
    hook = _hooks["held"]
    if hook is not None:
        found.update(hook(ids))
    return found
