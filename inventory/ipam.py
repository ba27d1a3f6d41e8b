"""Subnet arithmetic for IPAM: find free, aligned subnets between the ones already taken.

Pure functions over `ipaddress` objects; the database side (locking the block, inserting the
reservation) is in `inventory.services`.
"""

import ipaddress
import itertools
from collections.abc import Iterable, Iterator

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def free_subnets(block: Network, prefix_length: int, taken: Iterable[Network]) -> Iterator[Network]:
    """Yield, lowest first, every aligned /prefix_length inside `block` overlapping nothing taken
    (see free_between)."""
    spans = sorted(
        (int(net.network_address), int(net.broadcast_address) + 1)
        for net in taken
        if net.version == block.version and net.overlaps(block)
    )
    return free_between(block, prefix_length, spans)


def free_between(
    block: Network,
    prefix_length: int,
    spans: Iterable[tuple[int, int]],
    *,
    start: int | None = None,
) -> Iterator[Network]:
    """Yield, lowest first, every aligned /prefix_length inside `block`, from address `start` up
    (the block's first address if None), that overlaps no taken span.

    `spans` are the taken subnets as half-open integer ranges [first, end), disjoint and in
    ascending order, and may start anywhere (those wholly below `start` are skipped). They are
    consumed lazily, one gap at a time, so a caller can stream them from an ordered index and
    stop reading as soon as it has what it needs: the cost is O(spans walked past), not the size
    of the block (a /16 with thousands of /31s, or an IPv6 /32) nor the number of spans.
    """
    if prefix_length < block.prefixlen or prefix_length > block.max_prefixlen:
        raise ValueError(f"/{prefix_length} does not fit in {block}")
    size = 1 << (block.max_prefixlen - prefix_length)
    end = int(block.broadcast_address) + 1
    candidate = max(int(block.network_address), start or 0)
    candidate = -(-candidate // size) * size  # up to the next aligned boundary
    if candidate + size > end:
        return  # before reading a single span
    for taken_start, taken_end in itertools.chain(spans, [(end, end)]):
        while candidate + size <= min(taken_start, end):
            yield type(block)((candidate, prefix_length))
            candidate += size
        if taken_end > candidate:
            # Jump past the taken span, then up to the next aligned boundary.
            candidate = -(-taken_end // size) * size
        if candidate + size > end:
            return


def first_free(block: Network, prefix_length: int, taken: Iterable[Network]) -> Network | None:
    """The lowest free aligned subnet, or None when the block is full at that size."""
    return next(free_subnets(block, prefix_length, taken), None)


def free_hosts(
    network: ipaddress.IPv4Network, taken: Iterable[ipaddress.IPv4Address]
) -> Iterator[ipaddress.IPv4Address]:
    """Yield, lowest first, the host addresses of `network` (not its network or broadcast
    address) that are not taken."""
    edges = [network.network_address, network.broadcast_address]
    used = [ipaddress.ip_network(address) for address in [*edges, *taken]]
    for subnet in free_subnets(network, network.max_prefixlen, used):
        yield subnet.network_address


def server_address(subnet: Network) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The address a server takes in a subnet assigned to it: a lone address is itself; in a
    point-to-point pair (/31, /127) the second one, the first being the gateway side; in a
    larger subnet the second host, after the gateway."""
    if subnet.num_addresses == 1:
        return subnet.network_address
    if subnet.num_addresses == 2:
        return subnet.network_address + 1
    return subnet.network_address + 2


def gateway_address(subnet: Network) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """A subnet's gateway: its first address in a /31 (/127) pair or a lone /32 (/128), which
    have no spare one, else its first host."""
    if subnet.num_addresses <= 2:
        return subnet.network_address
    return subnet.network_address + 1
