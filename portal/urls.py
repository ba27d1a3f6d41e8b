"""Portal pages (namespace "portal")."""

from django.urls import path

from . import views

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path("invitations/<uuid:invitation_id>/<str:token>/", views.home, name="invitation-respond"),
]
