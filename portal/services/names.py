"""The rule every named thing (organizations, projects, keys) follows."""

from ..errors import ServiceError


def clean_name(value: str, *, field: str, what: str, max_length: int) -> str:
    value = (value or "").strip()
    if not value:
        raise ServiceError(f"{what} name cannot be blank.", field=field)
    if len(value) > max_length:
        raise ServiceError(f"{what} name is limited to {max_length} characters.", field=field)
    return value
