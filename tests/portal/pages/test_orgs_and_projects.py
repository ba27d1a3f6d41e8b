"""Organizations (switcher, create, settings, delete) and projects (create, rename, delete,
members)."""

from django.urls import reverse

from portal.models import Organization, Project, ProjectMembership


def test_switcher_lists_every_organization_of_the_user(client, carol, acme):
    client.force_login(carol)
    page = client.get(reverse("portal:org-projects", args=[acme.uuid]))
    names = [org.name for org in page.context["nav"].orgs]
    assert sorted(names) == ["Acme", "Carol's organization"]
    assert page.context["nav"].current_org == acme


def test_switcher_remembers_the_last_organization_on_account_pages(client, carol, acme):
    client.force_login(carol)
    client.get(reverse("portal:org-team", args=[acme.uuid]))
    assert client.get(reverse("portal:profile")).context["nav"].current_org == acme


def test_create_organization_makes_the_creator_owner(client, charlie):
    client.force_login(charlie)
    response = client.post(
        reverse("portal:org-create"), {"name": "Globex", "website": "globex.test"}
    )
    org = Organization.objects.get(name="Globex")
    assert response["Location"] == reverse("portal:org-projects", args=[org.uuid])
    assert org.members.get().user == charlie
    assert org.website == "https://globex.test"


def test_org_settings_save(client, adam, acme):
    client.force_login(adam)
    client.post(
        reverse("portal:org-settings", args=[acme.uuid]),
        {"name": "Acme Corp", "description": "Rockets", "website": ""},
    )
    acme.refresh_from_db()
    assert (acme.name, acme.description) == ("Acme Corp", "Rockets")


def test_org_settings_blank_name_is_a_form_error(client, alice, acme):
    client.force_login(alice)
    response = client.post(reverse("portal:org-settings", args=[acme.uuid]), {"name": "  "})
    assert response.status_code == 200
    assert response.context["form"].errors["name"]


def test_org_settings_over_long_website_is_a_form_error(client, alice, acme):
    # Longer than its column: a 500 on PostgreSQL.
    client.force_login(alice)
    website = "https://example.com/" + "a" * 200
    response = client.post(
        reverse("portal:org-settings", args=[acme.uuid]), {"name": "Acme", "website": website}
    )
    assert response.context["form"].errors["website"] == ["Must be at most 200 characters."]
    acme.refresh_from_db()
    assert acme.website == ""


def test_owner_deletes_an_organization_without_projects(client, alice):
    org = Organization.objects.create(name="Empty")
    org.members.create(user=alice, role="owner")
    client.force_login(alice)
    response = client.post(reverse("portal:org-delete", args=[org.uuid]))
    assert response["Location"] == reverse("portal:home")
    assert not Organization.objects.filter(pk=org.pk).exists()


def test_organization_with_projects_is_not_deleted(client, alice, acme, web):
    client.force_login(alice)
    response = client.post(reverse("portal:org-delete", args=[acme.uuid]), follow=True)
    assert Organization.objects.filter(pk=acme.pk).exists()
    assert b"Delete the organization&#x27;s projects first" in response.content


def test_admin_creates_a_project(client, adam, acme):
    client.force_login(adam)
    response = client.post(reverse("portal:org-projects", args=[acme.uuid]), {"name": "data"})
    project = Project.objects.get(organization=acme, name="data")
    assert response["Location"] == reverse("portal:project", args=[project.uuid])


def test_project_create_over_htmx_redirects_with_hx_redirect(client, alice, acme):
    client.force_login(alice)
    response = client.post(
        reverse("portal:org-projects", args=[acme.uuid]),
        {"name": "data"},
        headers={"HX-Request": "true"},
    )
    project = Project.objects.get(organization=acme, name="data")
    assert response.status_code == 200
    assert response["HX-Redirect"] == reverse("portal:project", args=[project.uuid])


def test_projects_list_shows_only_the_collaborators_projects(client, carol, acme, web, ops):
    client.force_login(carol)
    page = client.get(reverse("portal:org-projects", args=[acme.uuid]))
    assert list(page.context["projects"]) == [web]
    assert b"New project" not in page.content


def test_project_rename(client, alice, web):
    client.force_login(alice)
    client.post(reverse("portal:project-settings", args=[web.uuid]), {"name": "www"})
    web.refresh_from_db()
    assert web.name == "www"


def test_project_settings_are_read_only_for_collaborators(client, carol, web):
    client.force_login(carol)
    page = client.get(reverse("portal:project-settings", args=[web.uuid]))
    assert page.status_code == 200
    assert b"Rename" not in page.content
    assert b"Delete project" not in page.content


def test_empty_project_delete_asks_for_confirmation_and_deletes(client, alice, acme, ops):
    client.force_login(alice)
    page = client.get(reverse("portal:project-settings", args=[ops.uuid]))
    assert b"hx-confirm" in page.content
    response = client.post(reverse("portal:project-delete", args=[ops.uuid]))
    assert response["Location"] == reverse("portal:org-projects", args=[acme.uuid])
    assert not Project.objects.filter(pk=ops.pk).exists()


def test_project_members_lists_admins_and_assigned_people(client, carol, lena, web):
    client.force_login(carol)
    page = client.get(reverse("portal:project-members", args=[web.uuid]))
    content = page.content.decode()
    for email in ("alice@example.com", "carol@example.com", "lena@example.com"):
        assert email in content


def test_collaborator_leaves_a_project(client, carol, web):
    membership = ProjectMembership.objects.get(project=web, member__user=carol)
    client.force_login(carol)
    client.post(reverse("portal:project-membership-remove", args=[web.uuid, membership.uuid]))
    assert not ProjectMembership.objects.filter(pk=membership.pk).exists()
    assert client.get(reverse("portal:project", args=[web.uuid])).status_code == 404


def test_project_overview_shows_counts_and_recent_events(client, alice, carol, web, web_ssh_key):
    client.force_login(alice)
    page = client.get(reverse("portal:project", args=[web.uuid]))
    assert page.context["ssh_key_count"] == 1
    assert page.context["people_count"] == 2  # alice (owner) and carol (assigned)
    assert "added SSH key deploy" in page.content.decode()
