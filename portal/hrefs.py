"""Metal-style hrefs (`/metal/v1/<collection>/<uuid>`) for every model that has one.

Higher apps (inventory, provisioning) add their models with `register()`; the portal core
never imports them.
"""

API_ROOT = "/metal/v1"

_collections: dict[str, str] = {
    "user": "users",
    "organization": "organizations",
    "project": "projects",
    "projectmembership": "memberships",
    "invitation": "invitations",
    "apikey": "api-keys",
    "sshkey": "ssh-keys",
    "event": "events",
}


def register(model_name: str, collection: str) -> None:
    """Declare the API collection of a model (lower-case model name)."""
    _collections[model_name] = collection


def href_for(obj) -> str:
    """The API href of a model instance."""
    model_name = obj._meta.model_name
    if model_name == "member":
        return f"{API_ROOT}/organizations/{obj.organization.uuid}/members/{obj.uuid}"
    return f"{API_ROOT}/{_collections[model_name]}/{obj.uuid}"


def href(collection: str, uuid) -> str:
    """An href from a collection name and an id."""
    return f"{API_ROOT}/{collection}/{uuid}"
