"""`manage.py seed_demo`: the demo login, a small team and the demo datacenter's catalogue.

Safe to run again and again. The demo's servers are enrolled through their BMCs by the virtual
rack that `make run` starts (`virtual_rack --enroll-as`).
"""

from django.core.management.base import BaseCommand
from django.db import transaction

from inventory import demo as inventory_demo
from portal import audit, services
from portal.models import Member, Organization, User
from portal.roles import Role

DEMO_EMAIL = "demo@ironyard.local"
DEMO_PASSWORD = "ironyard-demo"  # noqa: S105 (the published demo login)
TEAM_NAME = "Acme Robotics"
TEAM_PROJECTS = ("web", "ml-training")
TEAMMATE_EMAIL = "sam@ironyard.local"


class Command(BaseCommand):
    help = "Load the demo user, organization, projects and catalogue (idempotent)."

    @transaction.atomic
    def handle(self, *args, **options):
        token = audit.set_context(audit.AuditContext(via="cli"))
        try:
            demo = self._user(DEMO_EMAIL, "Demo", "User", staff=True)
            sam = self._user(TEAMMATE_EMAIL, "Sam", "Rivera", staff=False)
            team = Organization.objects.filter(
                members__user=demo, members__role=Role.OWNER, name=TEAM_NAME
            ).first() or services.create_organization(name=TEAM_NAME, acting_user=demo)
            projects = []
            for name in TEAM_PROJECTS:
                project = team.projects.filter(name=name).first() or services.create_project(
                    organization=team, name=name, acting_user=demo
                )
                projects.append(project)
            if not Member.objects.filter(organization=team, user=sam).exists():
                Member.objects.create(organization=team, user=sam, role=Role.COLLABORATOR)
                services.update_member(
                    member=team.members.get(user=sam), acting_user=demo, projects=projects[:1]
                )
            inventory_demo.seed_catalogue()
        finally:
            audit.reset_context(token)
        self.stdout.write(f"Demo data ready: log in as {DEMO_EMAIL} / {DEMO_PASSWORD}")

    def _user(self, email: str, first: str, last: str, *, staff: bool) -> User:
        user = User.objects.filter(email=email).first()
        if user is None:
            user = services.create_user(
                email=email,
                password=DEMO_PASSWORD,
                first_name=first,
                last_name=last,
                is_staff=staff,
            )
        return user
