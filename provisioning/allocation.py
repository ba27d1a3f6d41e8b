"""Allocation: take N available machines of a plan in a location, under concurrency.

Rows are claimed with `SELECT … FOR UPDATE SKIP LOCKED` (PostgreSQL), so concurrent requests
take different machines instead of queueing on the same ones, then flipped to `allocated` with
a compare-and-set update. The Device→Machine one-to-one is the database's own guarantee that a
machine never serves two devices. On SQLite the IMMEDIATE transaction mode serialises writers.
"""

from collections.abc import Sequence

from django.db.models.expressions import RawSQL

from inventory.models import Facility, Machine, Metro, Plan
from portal.errors import ServiceError

# The state written into the claim's SQL as a literal, not bound as a parameter: a prepared
# statement's generic plan (psycopg prepares a statement on its fifth run) cannot otherwise use
# the partial index of available machines (inventory's machine_available), and sorts them all.
AVAILABLE = RawSQL(f"'{Machine.State.AVAILABLE}'", ())  # noqa: S611 (a constant)


class InsufficientCapacity(ServiceError):
    """Not enough available machines of the plan in any of the requested locations."""


def _claim(plan: Plan, count: int, **location) -> list[Machine]:
    candidates = list(
        Machine.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("facility__metro")
        .filter(plan=plan, state=AVAILABLE, **location)
        # Longest enrolled first, in the order of the partial index of available machines:
        # ordered by id, PostgreSQL may rather walk the primary key, which it assumes has
        # available machines spread evenly, past every machine in use (the oldest ones).
        .order_by("created_at", "pk")[:count]
    )
    if len(candidates) < count:
        return []
    ids = [m.pk for m in candidates]
    flipped = Machine.objects.filter(pk__in=ids, state=Machine.State.AVAILABLE).update(
        state=Machine.State.ALLOCATED
    )
    if flipped != count:
        # Another writer changed one of them between our read and our update (only possible
        # without row locks); give up this location rather than hand out a busy machine.
        raise InsufficientCapacity("Capacity changed while allocating; please retry.")
    for machine in candidates:
        machine.state = Machine.State.ALLOCATED
    return candidates


def allocate(
    *,
    plan: Plan,
    count: int,
    metros: Sequence[Metro] = (),
    facilities: Sequence[Facility] = (),
) -> list[Machine]:
    """Claim `count` machines in the caller's transaction: all in the first location (in the
    given priority order) that has enough; metros and facilities empty means anywhere."""
    if facilities:
        locations = [{"facility": f} for f in facilities]
    elif metros:
        locations = [{"facility__metro": m} for m in metros]
    else:
        locations = [
            {"facility__metro_id": metro_id}
            for metro_id in plan.metros.order_by("code").values_list("pk", flat=True)
        ]
    for location in locations:
        machines = _claim(plan, count, **location)
        if machines:
            return machines
    where = ", ".join([f.code for f in facilities] or [m.code for m in metros] or ["any metro"])
    noun = "server" if count == 1 else "servers"
    raise InsufficientCapacity(
        f"Not enough capacity: {count} {plan.slug} {noun} are not available in {where}.",
        field="plan",
    )
