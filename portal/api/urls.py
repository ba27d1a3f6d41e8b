"""Metal v1 API for the tenancy core (namespace "portal-api")."""

app_name = "portal-api"

urlpatterns: list = []
