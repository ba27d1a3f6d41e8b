"""Portal pages (namespace "portal")."""

from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from . import forms, views

app_name = "portal"

password_reset_urls = [
    path("password/reset/", views.password_reset, name="password-reset"),
    path(
        "password/reset/sent/",
        auth_views.PasswordResetDoneView.as_view(template_name="portal/password_reset_done.html"),
        name="password-reset-done",
    ),
    path(
        "password/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(
            template_name="portal/password_reset_confirm.html",
            form_class=forms.ResetPasswordForm,
            success_url=reverse_lazy("portal:password-reset-complete"),
        ),
        name="password-reset-confirm",
    ),
    path(
        "password/reset/complete/",
        auth_views.PasswordResetCompleteView.as_view(
            template_name="portal/password_reset_complete.html"
        ),
        name="password-reset-complete",
    ),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("signup/", views.signup, name="signup"),
    *password_reset_urls,
    path("account/profile/", views.profile, name="profile"),
    path("account/password/", views.password_change, name="password-change"),
    path("account/api-keys/", views.api_keys, name="api-keys"),
    path("account/api-keys/<uuid:key_id>/delete/", views.api_key_delete, name="api-key-delete"),
    path("account/ssh-keys/", views.ssh_keys, name="ssh-keys"),
    path("ssh-keys/<uuid:key_id>/edit/", views.ssh_key_edit, name="ssh-key-edit"),
    path("ssh-keys/<uuid:key_id>/delete/", views.ssh_key_delete, name="ssh-key-delete"),
    path("account/invitations/", views.my_invitations, name="my-invitations"),
    path(
        "account/invitations/<uuid:invitation_id>/<str:answer>/",
        views.invitation_answer,
        name="invitation-answer",
    ),
    path(
        "invitations/<uuid:invitation_id>/<str:token>/",
        views.invitation_respond,
        name="invitation-respond",
    ),
    path("orgs/new/", views.org_create, name="org-create"),
    path("orgs/<uuid:org_id>/", views.org_detail, name="org"),
    path("orgs/<uuid:org_id>/projects/", views.org_projects, name="org-projects"),
    path("orgs/<uuid:org_id>/settings/", views.org_settings, name="org-settings"),
    path("orgs/<uuid:org_id>/delete/", views.org_delete, name="org-delete"),
    path("orgs/<uuid:org_id>/team/", views.org_team, name="org-team"),
    path("orgs/<uuid:org_id>/team/invite/", views.org_invite, name="org-invite"),
    path(
        "orgs/<uuid:org_id>/team/<uuid:member_id>/",
        views.member_update,
        name="member-update",
    ),
    path(
        "orgs/<uuid:org_id>/team/<uuid:member_id>/remove/",
        views.member_remove,
        name="member-remove",
    ),
    path(
        "orgs/<uuid:org_id>/invitations/<uuid:invitation_id>/resend/",
        views.invitation_resend,
        name="invitation-resend",
    ),
    path(
        "orgs/<uuid:org_id>/invitations/<uuid:invitation_id>/revoke/",
        views.invitation_revoke,
        name="invitation-revoke",
    ),
    path("orgs/<uuid:org_id>/timeline/", views.org_timeline, name="org-timeline"),
    path("projects/<uuid:project_id>/", views.project_overview, name="project"),
    path("projects/<uuid:project_id>/settings/", views.project_settings, name="project-settings"),
    path("projects/<uuid:project_id>/delete/", views.project_delete, name="project-delete"),
    path("projects/<uuid:project_id>/members/", views.project_members, name="project-members"),
    path(
        "projects/<uuid:project_id>/members/<uuid:membership_id>/remove/",
        views.project_membership_remove,
        name="project-membership-remove",
    ),
    path("projects/<uuid:project_id>/ssh-keys/", views.project_ssh_keys, name="project-ssh-keys"),
    path("projects/<uuid:project_id>/api-keys/", views.project_api_keys, name="project-api-keys"),
    path(
        "projects/<uuid:project_id>/api-keys/<uuid:key_id>/delete/",
        views.project_api_key_delete,
        name="project-api-key-delete",
    ),
    path("projects/<uuid:project_id>/timeline/", views.project_timeline, name="project-timeline"),
]
