"""The two lookups every Metal request starts with — the API key behind a token and whether its
caller may see a project — kept in the cache (portal.api.generations) until anything that
decides them changes: any write to users, API keys, organizations, projects, members or project
assignments retires every stored answer (the ACCESS scope). Those writes are rare next to the
requests they serve.

The token itself is still checked against the key's digest on every request, and a key
revoked or a member removed is refused from the next request on.
"""

from django.db.models.signals import m2m_changed, post_delete, post_save

from portal.models import ApiKey, Member, Organization, Project, ProjectMembership, User

from . import generations
from .metal import visible

ACCESS = "access"

_KEY_FIELDS = [f.attname for f in ApiKey._meta.concrete_fields]
# A user as the API needs it; the password hash stays in the database (deferred if read).
_USER_FIELDS = [f.attname for f in User._meta.concrete_fields if f.attname != "password"]


def _freeze(key: ApiKey) -> tuple:
    return (
        tuple(getattr(key, name) for name in _KEY_FIELDS),
        tuple(getattr(key.user, name) for name in _USER_FIELDS),
    )


def _decisive(frozen: tuple) -> tuple:
    """A frozen key without last_used_at, which moves without retiring anything (see
    forget_key)."""
    key_values, user_values = frozen
    return tuple(
        v for n, v in zip(_KEY_FIELDS, key_values, strict=True) if n != "last_used_at"
    ), user_values


def _thaw(frozen: tuple) -> ApiKey:
    key_values, user_values = frozen
    key = ApiKey.from_db("default", _KEY_FIELDS, key_values)
    key.user = User.from_db("default", _USER_FIELDS, user_values)
    return key


def _load_key(lookup: str) -> ApiKey | None:
    return ApiKey.objects.select_related("user").filter(lookup=lookup).first()


def _key_name(lookup: str) -> str:
    return f"api-key:{lookup}"


def api_key(lookup: str) -> ApiKey | None:
    """The API key whose lookup part is `lookup`, with its user; None when there is none."""
    if not generations.enabled():
        return _load_key(lookup)
    found = generations.lookup(_key_name(lookup), (ACCESS,))
    if found.value is not None and not generations.verifying():
        return _thaw(found.value)
    key = _load_key(lookup)
    if key is None:
        return None  # guesses are not remembered: the per-address limit meters them
    frozen = _freeze(key)
    if generations.verifying():
        generations.verify(found, frozen, compare=_decisive)
    generations.store(found, frozen)
    return key


def forget_key(lookup: str) -> None:
    """Drop the stored key after its last_used_at was written (the next request stores it
    afresh), instead of retiring every stored answer."""
    if generations.enabled():
        generations.forget(_key_name(lookup))


# Project ids by uuid as visible_project_id found them: a mapping that never changes, kept so a
# request can name its project's cache scopes before it is authenticated (see
# MetalView.cache_scopes).
_project_ids: dict = {}
_PROJECT_IDS_KEPT = 100_000


def known_project_id(uuid) -> int | None:
    """The id of project `uuid` if this process has seen it; says nothing about access."""
    return _project_ids.get(uuid)


def visible_project_id(request, uuid) -> int | None:
    """The id of the project `uuid` if the caller (its user, narrowed to its key's project)
    may see it, else None. Only a "yes" is kept: access can be granted by writes that send no
    signal (project assignments are bulk-created), while taking it away always deletes or
    saves a row."""

    def load() -> int | None:
        return visible(request, Project).filter(uuid=uuid).values_list("pk", flat=True).first()

    if not generations.enabled():
        return load()
    key = request.auth
    name = f"project:{uuid}:{request.user.pk}:{getattr(key, 'project_id', None)}"
    found = generations.lookup(name, (ACCESS,))
    if found.value is not None and not generations.verifying():
        pk = found.value
    else:
        pk = load()
        if generations.verifying():
            generations.verify(found, pk)
        generations.store(found, pk)
    if pk is not None:
        if len(_project_ids) >= _PROJECT_IDS_KEPT:
            _project_ids.clear()
        _project_ids[uuid] = pk
    return pk


def _written(sender, instance=None, **kwargs) -> None:
    generations.bump(ACCESS)


def login_stamp_only(update_fields) -> bool:
    """A user saved only to stamp last_login at a login: nothing the API caches shows it."""
    return update_fields is not None and set(update_fields) <= {"last_login"}


def _user_saved(sender, instance, update_fields=None, **kwargs) -> None:
    if not login_stamp_only(update_fields):
        generations.bump(ACCESS)


def connect() -> None:
    for model in (ApiKey, Organization, Project, Member, ProjectMembership):
        for signal in (post_save, post_delete):
            signal.connect(_written, sender=model, dispatch_uid=f"access-{model}-{signal}")
    post_save.connect(_user_saved, sender=User, dispatch_uid="access-user-saved")
    post_delete.connect(_written, sender=User, dispatch_uid="access-user-deleted")
    # Staff and superusers are flags on the user; groups and permissions decide nothing in the
    # API, but a change to them is a change to the user.
    m2m_changed.connect(_written, sender=User.groups.through, dispatch_uid="access-user-groups")
