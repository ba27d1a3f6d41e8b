"""Template context shared by every page."""

from functools import cached_property

from .models import Invitation, Organization


class Navigation:
    """The navbar's organizations and current pick, queried only if a template asks."""

    def __init__(self, request):
        self.request = request

    @cached_property
    def orgs(self) -> list[Organization]:
        return list(Organization.objects.for_user(self.request.user))

    @cached_property
    def current_org(self) -> Organization | None:
        # A page about an org or project sets request.current_org; other pages keep the last one.
        picked = getattr(self.request, "current_org", None)
        if picked is not None:
            return picked
        remembered = self.request.session.get("current_org")
        for org in self.orgs:
            if str(org.uuid) == remembered:
                return org
        return self.orgs[0] if self.orgs else None

    @cached_property
    def invitation_count(self) -> int:
        return Invitation.objects.addressed_to(self.request.user).count()


def navigation(request):
    """`nav` for signed-in users: org switcher and pending invitation badge."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"nav": Navigation(request)}
