"""Domain errors raised by services; pages show them as form errors, the API as 403/422."""


class ServiceError(Exception):
    """A request the rules refuse. Carries one or more user-facing messages."""

    status_code = 422

    def __init__(self, *messages: str, field: str | None = None):
        super().__init__(*messages)
        self.messages = list(messages)
        self.field = field

    def __str__(self) -> str:
        return "; ".join(self.messages)


class Forbidden(ServiceError):
    """The caller can see the object but their role does not allow this action."""

    status_code = 403


class Conflict(ServiceError):
    """The action clashes with the current state (an open invitation, a non-empty project…)."""
