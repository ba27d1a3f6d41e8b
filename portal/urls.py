"""Portal pages (namespace "portal")."""

from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from . import forms
from .views import accounts, keys, organizations, projects, team

app_name = "portal"

password_reset_urls = [
    path("password/reset/", accounts.password_reset, name="password-reset"),
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
    path("", accounts.home, name="home"),
    path("login/", accounts.login_view, name="login"),
    path("logout/", accounts.logout_view, name="logout"),
    path("signup/", accounts.signup, name="signup"),
    *password_reset_urls,
    path("account/profile/", accounts.profile, name="profile"),
    path("account/password/", accounts.password_change, name="password-change"),
    path("account/api-keys/", keys.api_keys, name="api-keys"),
    path("account/api-keys/<uuid:key_id>/delete/", keys.api_key_delete, name="api-key-delete"),
    path("account/ssh-keys/", keys.ssh_keys, name="ssh-keys"),
    path("ssh-keys/<uuid:key_id>/edit/", keys.ssh_key_edit, name="ssh-key-edit"),
    path("ssh-keys/<uuid:key_id>/delete/", keys.ssh_key_delete, name="ssh-key-delete"),
    path("account/invitations/", accounts.my_invitations, name="my-invitations"),
    path(
        "account/invitations/<uuid:invitation_id>/<str:answer>/",
        accounts.invitation_answer,
        name="invitation-answer",
    ),
    path(
        "invitations/<uuid:invitation_id>/<str:token>/",
        accounts.invitation_respond,
        name="invitation-respond",
    ),
    path("orgs/new/", organizations.org_create, name="org-create"),
    path("orgs/<uuid:org_id>/", organizations.org_detail, name="org"),
    path("orgs/<uuid:org_id>/projects/", organizations.org_projects, name="org-projects"),
    path("orgs/<uuid:org_id>/settings/", organizations.org_settings, name="org-settings"),
    path("orgs/<uuid:org_id>/delete/", organizations.org_delete, name="org-delete"),
    path("orgs/<uuid:org_id>/team/", team.org_team, name="org-team"),
    path("orgs/<uuid:org_id>/team/invite/", team.org_invite, name="org-invite"),
    path(
        "orgs/<uuid:org_id>/team/<uuid:member_id>/",
        team.member_update,
        name="member-update",
    ),
    path(
        "orgs/<uuid:org_id>/team/<uuid:member_id>/remove/",
        team.member_remove,
        name="member-remove",
    ),
    path(
        "orgs/<uuid:org_id>/invitations/<uuid:invitation_id>/resend/",
        team.invitation_resend,
        name="invitation-resend",
    ),
    path(
        "orgs/<uuid:org_id>/invitations/<uuid:invitation_id>/revoke/",
        team.invitation_revoke,
        name="invitation-revoke",
    ),
    path("orgs/<uuid:org_id>/timeline/", organizations.org_timeline, name="org-timeline"),
    path("projects/<uuid:project_id>/", projects.project_overview, name="project"),
    path(
        "projects/<uuid:project_id>/settings/", projects.project_settings, name="project-settings"
    ),
    path("projects/<uuid:project_id>/delete/", projects.project_delete, name="project-delete"),
    path("projects/<uuid:project_id>/members/", projects.project_members, name="project-members"),
    path(
        "projects/<uuid:project_id>/members/<uuid:membership_id>/remove/",
        projects.project_membership_remove,
        name="project-membership-remove",
    ),
    path("projects/<uuid:project_id>/ssh-keys/", keys.project_ssh_keys, name="project-ssh-keys"),
    path("projects/<uuid:project_id>/api-keys/", keys.project_api_keys, name="project-api-keys"),
    path(
        "projects/<uuid:project_id>/api-keys/<uuid:key_id>/delete/",
        keys.project_api_key_delete,
        name="project-api-key-delete",
    ),
    path(
        "projects/<uuid:project_id>/timeline/", projects.project_timeline, name="project-timeline"
    ),
]
