"""Subnet arithmetic for IPAM: find free, aligned subnets between the ones already taken.

Pure functions over `ipaddress` objects; the database side (locking the block, inserting the
reservation) is in `inventory.services`.
"""

import ipaddress
from collections.abc import Iterable, Iterator

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def free_subnets(block: Network, prefix_length: int, taken: Iterable[Network]) -> Iterator[Network]:
    """Yield, lowest first, every aligned /prefix_length inside `block` overlapping nothing taken.

    Walks the gaps between taken subnets instead of enumerating all candidates, so a /16 with
    thousands of /31s costs O(taken), not O(2^15).
    """
    if prefix_length < block.prefixlen or prefix_length > block.max_prefixlen:
        raise ValueError(f"/{prefix_length} does not fit in {block}")
    size = 1 << (block.max_prefixlen - prefix_length)
    start = int(block.network_address)
    end = int(block.broadcast_address) + 1
    spans = sorted(
        (int(net.network_address), int(net.broadcast_address) + 1)
        for net in taken
        if net.version == block.version and net.overlaps(block)
    )
    candidate = start
    for taken_start, taken_end in [*spans, (end, end)]:
        while candidate + size <= min(taken_start, end):
            yield ipaddress.ip_network((candidate, prefix_length))
            candidate += size
        if taken_end > candidate:
            # Jump past the taken span, then up to the next aligned boundary.
            candidate = -(-taken_end // size) * size
        if candidate >= end:
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


def parse_network(text: str) -> Network:
    """A strict CIDR (host bits clear), with a clear error."""
    try:
        return ipaddress.ip_network(text.strip(), strict=True)
    except ValueError as exc:
        raise ValueError(f"'{text}' is not a network in CIDR form ({exc}).") from exc


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
