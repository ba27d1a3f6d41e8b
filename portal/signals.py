"""Signal receivers: remember where a user last signed in from."""

from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from .audit import client_ip


@receiver(user_logged_in)
def remember_login_address(sender, request, user, **kwargs) -> None:
    """Store the client address of each sign-in (shown on the profile page)."""
    if request is None:
        return
    address = client_ip(request)
    if address != user.last_login_ip:
        type(user).objects.filter(pk=user.pk).update(last_login_ip=address)
        user.last_login_ip = address
