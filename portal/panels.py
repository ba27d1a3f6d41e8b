"""What higher apps add to a project's pages: side-navigation tabs and overview panels.

The portal core never imports provisioning; provisioning registers its tabs (Servers, IPs)
and its dashboard panel here from its AppConfig.ready(), as it does for hrefs.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.http import HttpRequest
from django.utils.safestring import SafeString


@dataclass(frozen=True)
class ProjectTab:
    """A link in the project's side navigation: `url_name` takes the project's uuid."""

    key: str
    label: str
    url_name: str


# A panel renders itself (its own queries, constant in the rows) for a project's overview.
ProjectPanel = Callable[[HttpRequest, object], SafeString]

_tabs: list[ProjectTab] = []
_panels: list[ProjectPanel] = []


def register_tab(tab: ProjectTab) -> None:
    """Add a side-navigation tab (after Overview, in registration order)."""
    if tab not in _tabs:
        _tabs.append(tab)


def register_panel(panel: ProjectPanel) -> None:
    """Add a panel to the top of the project's overview page."""
    if panel not in _panels:
        _panels.append(panel)


def project_tabs() -> list[ProjectTab]:
    return list(_tabs)


def render_panels(request: HttpRequest, project) -> list[SafeString]:
    return [panel(request, project) for panel in _panels]
