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

from stationthis.config import Settings
from stationthis.core.datasets import DatasetService
from stationthis.core.jobs import JobService
from stationthis.core.media import MediaService
from stationthis.core.points import Ledger
from stationthis.core.ratelimit import Limits
from stationthis.core.tools import ToolRegistry
from stationthis.core.users import Users
from stationthis.workflows.account import AccountWorkflow
from stationthis.workflows.again import Again
from stationthis.workflows.auth import AuthWorkflow
from stationthis.workflows.collections import Collections
from stationthis.workflows.cook import Cook
from stationthis.workflows.groups import Groups
from stationthis.workflows.history import History
from stationthis.workflows.limits import TierPolicy
from stationthis.workflows.make_image import MakeImage
from stationthis.workflows.operators import Operators
from stationthis.workflows.purchases import Purchases
from stationthis.workflows.server_loras import ServerLoras
from stationthis.workflows.settings import SettingsWorkflow
from stationthis.workflows.status import Status
from stationthis.workflows.styles import Styles
from stationthis.workflows.training import Training


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
    from stationthis.workflows.app import App

    def _app_serves(app: App) -> Services:  # mypy: App has everything Services names
        return app
