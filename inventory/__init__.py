"""Hardware inventory: metros, facilities, plans, operating systems, machines, IPAM, capacity."""
