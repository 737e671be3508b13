"""``Services``: what a platform's handlers may use — the workflows, and a few domain reads
they still need — and not the runtime.

``App`` (workflows/app.py) is both: the workflows, and the process around them (start, stop,
the database, the event bus, the engine, the outbox relay, the worker, notifications). A
platform's *composition* (``create_app``, the Telegram and Discord apps) is handed the
``App``: it starts it, subscribes notifiers, reads health. A platform's *handlers* reach it
through a service locator (the web's ``station(request)``) typed as ``Services``, so a handler
that wants ``db``, ``bus``, ``engine`` or ``stop()`` does not type-check; the few web pages
that legitimately need the runtime (the status page, the event stream, the admin console's
server list) ask ``runtime(request)`` for the ``App`` by name. ``App`` satisfies this protocol
structurally (checked below for mypy). See docs/decisions/0024-services-and-capabilities.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from ..config import Settings
from ..core.datasets import DatasetService
from ..core.jobs import JobService
from ..core.media import MediaService
from ..core.points import Ledger
from ..core.ratelimit import Limits
from ..core.tools import ToolRegistry
from ..core.users import Users
from .account import AccountWorkflow
from .again import Again
from .auth import AuthWorkflow
from .collections import Collections
from .cook import Cook
from .groups import Groups
from .history import History
from .limits import TierPolicy
from .make_image import MakeImage
from .operators import Operators
from .purchases import Purchases
from .server_loras import ServerLoras
from .settings import SettingsWorkflow
from .status import Status
from .styles import Styles
from .training import Training


class Services(Protocol):
    """Read-only: a handler uses these, it never replaces them."""

    # ----- the workflows (use cases) -----
    @property
    def make_image(self) -> MakeImage: ...
    @property
    def again(self) -> Again: ...
    @property
    def history(self) -> History: ...
    @property
    def status(self) -> Status: ...
    @property
    def account(self) -> AccountWorkflow: ...
    @property
    def user_settings(self) -> SettingsWorkflow: ...
    @property
    def training(self) -> Training: ...
    @property
    def collections(self) -> Collections: ...
    @property
    def cook(self) -> Cook: ...
    @property
    def auth(self) -> AuthWorkflow: ...
    @property
    def groups(self) -> Groups: ...
    @property
    def purchases(self) -> Purchases: ...
    @property
    def operators(self) -> Operators | None: ...
    @property
    def server_loras(self) -> ServerLoras | None: ...
    @property
    def styles(self) -> Styles | None: ...

    # ----- configuration and tier limits -----
    @property
    def settings(self) -> Settings: ...
    @property
    def tiers(self) -> TierPolicy: ...

    # ----- domain services handlers still read directly (to move behind workflow methods;
    # the list in docs/decisions/0024) -----
    @property
    def tools(self) -> ToolRegistry: ...
    @property
    def media(self) -> MediaService: ...
    @property
    def jobs(self) -> JobService: ...
    @property
    def datasets(self) -> DatasetService: ...
    @property
    def users(self) -> Users: ...
    @property
    def ledger(self) -> Ledger: ...
    @property
    def limits(self) -> Limits: ...


if TYPE_CHECKING:
    from .app import App

    def _app_serves(app: App) -> Services:  # mypy: App has everything Services names
        return app
