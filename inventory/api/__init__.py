"""Metal v1 API for the inventory: catalogue, capacity and project IP reservations."""
