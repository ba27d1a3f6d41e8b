"""Usage and billing pages (namespace "usage")."""

from django.urls import path

from . import views as v

app_name = "usage"

urlpatterns = [
    path("projects/<uuid:project_id>/usage/", v.project_usage, name="project-usage"),
    path("orgs/<uuid:org_id>/billing/", v.org_billing, name="org-billing"),
    path(
        "invoices/<uuid:invoice_id>.<str:fmt>",
        v.invoice_download,
        name="invoice-download",
    ),
]
