"""Auth: sign up and sign in on the web (``web:<username>``), browser sessions, API keys for
programs, and one-time sign-in links that another platform (the Telegram bot's ``/web``)
makes for its user. Platforms keep the secrets in cookies or headers; this module never sees
a request.

Who a session or key belongs to is remembered for a short while (``auth_cache.AuthCache``):
a revocation through this workflow takes effect at once in this process, at once in the
others where Redis carries signals, and within ``AuthPolicy.cache_seconds`` otherwise."""

from __future__ import annotations

import asyncio
import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from stationthis.core.auth import (
    ApiKey,
    AuthStore,
    BadCredentials,
    Login,
    NotSignedIn,
    TooManyAttempts,
    secret_hash,
    verify_password,
)
from stationthis.core.db import utcnow
from stationthis.core.errors import Conflict, InvalidInput, NotFound
from stationthis.core.ratelimit import SignInBackoff
from stationthis.core.signals import Signals
from stationthis.core.throttle import Refused, SqlThrottle, Throttle, wait_text
from stationthis.core.users import Account, Identity, Users
from stationthis.workflows.auth_cache import DEFAULT_TTL, AuthCache

USERNAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{2,31}$")
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
PASSWORD_MIN, PASSWORD_MAX = 8, 200
KEY_TOUCH = timedelta(minutes=1)
LOGIN_LINK_PATH = "/auth/link/{token}"  # the web app's route for one-time sign-in links
# A hash to check a password against when the name is unknown, so both cases take as long.
_DUMMY = "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"


@dataclass(frozen=True)
class Session:
    token: str  # the secret for the cookie; stored only as a hash
    expires_at: datetime
    account: Account


@dataclass(frozen=True)
class NewApiKey:
    key: ApiKey
    secret: str  # shown once


@dataclass(frozen=True)
class AuthPolicy:
    session_lifetime: timedelta = timedelta(days=30)
    link_lifetime: timedelta = timedelta(minutes=10)
    free_failures: int = 3
    signups_per_hour: int = 5  # per client address
    # How long this process trusts what it read about a session or key (0: never cached).
    cache_seconds: float = DEFAULT_TTL


class AuthWorkflow:
    def __init__(self, store: AuthStore, users: Users, policy: AuthPolicy | None = None,
                 throttle: Throttle | None = None, backoff: SignInBackoff | None = None,
                 signals: Signals | None = None) -> None:
        self.store = store
        self.users = users
        self.policy = policy or AuthPolicy()
        self.throttle: Throttle = throttle or SqlThrottle(store.db)
        self.backoff: SignInBackoff = backoff or store  # shared in Redis when configured
        self.cache = AuthCache(self.policy.cache_seconds, signals=signals)

    # ----- accounts ----------------------------------------------------------------------

    async def sign_up(
        self, username: str, password: str, email: str | None = None, client: str = ""
    ) -> Account:
        """A new web user ``web:<username>`` with a password. A name that is already an
        identity here (made by the CLI or an earlier sign-up) is taken. From one client
        address, at most ``signups_per_hour`` sign-ups that pass the input checks are tried an
        hour (taken names count too); then TooManyAttempts says how long to wait."""
        name = username.strip().lower()
        if not USERNAME.match(name):
            raise InvalidInput(
                "a username is 3–32 characters: letters, digits, '.', '_' or '-', starting "
                "with a letter or digit", input="username")
        mail = email.strip().lower() if email and email.strip() else None
        if mail is not None and not EMAIL.match(mail):
            raise InvalidInput("that is not an email address", input="email")
        _check_password(password)
        if client:
            verdict = await self.throttle.hit(f"signup:{client}", self.policy.signups_per_hour,
                                              3600)
            if isinstance(verdict, Refused):
                raise TooManyAttempts(
                    "too many new accounts from this address: try again in "
                    f"{wait_text(verdict.retry_after)}", retry_after=verdict.retry_after)
        if await self.store.identity_account("web", name) is not None:
            if await self.store.find_login(name) is None:  # made on the command line
                raise Conflict(
                    "that username is taken; if it is yours, ask the operator to run "
                    f"`stationthis users password {name}`", input="username")
            raise Conflict("that username is already taken", input="username")
        await self.store.add_login(name, mail, password)
        return await self.users.resolve(Identity("web", name))

    async def sign_in(self, name: str, password: str, client: str = "") -> Account:
        """The account of a username (or email) and password. After a few failures from the
        same address for the same name, each further attempt waits longer (TooManyAttempts
        says how long); a success clears the count."""
        name = name.strip().lower()
        key = hashlib.sha256(f"{name}|{client}".encode()).hexdigest()
        # Counted before the password is checked, atomically: parallel guesses cannot all
        # pass one "not locked" check before any of them is counted.
        wait = await self.backoff.reserve_attempt(key, self.policy.free_failures)
        if wait is not None:
            raise TooManyAttempts(f"too many failed sign-ins: try again in {wait} s",
                                  retry_after=wait)
        login = await self.store.find_login(name) if name else None
        ok = await asyncio.to_thread(
            verify_password, password, login.password_hash if login else _DUMMY)
        if login is None or not ok:
            raise BadCredentials("wrong username or password")
        await self.backoff.clear_failures(key)
        # The identity's account now (linking may have moved it); made if it is missing.
        return await self.users.resolve(Identity("web", login.username))

    async def change_password(
        self, account: Account, old: str, new: str, *, keep_session: str | None = None
    ) -> None:
        """A new password; every other browser session of the account is signed out."""
        login = await self._login_of(account)
        if login is None or not await asyncio.to_thread(verify_password, old,
                                                        login.password_hash):
            raise BadCredentials("the current password is wrong")
        _check_password(new)
        await self.store.set_password(login.username, new)
        await self.store.end_other_sessions(account.id, keep_session)
        await self.cache.revoke(account_id=account.id)

    async def set_password_for(self, username: str, password: str) -> Account:
        """The operator sets the web password of ``username`` (a user made on the command
        line, or one who forgot theirs): it signs in with it from now on, and every session
        it had ends."""
        name = username.strip().lower()
        account_id = await self.store.identity_account("web", name)
        if account_id is None:
            raise NotFound(f"no web user {name!r}")
        _check_password(password)
        if await self.store.find_login(name) is None:
            await self.store.add_login(name, None, password)
        else:
            await self.store.set_password(name, password)
        await self.store.end_other_sessions(account_id, None)
        await self.cache.revoke(account_id=account_id)
        return await self.users.get(account_id)

    # ----- sessions ----------------------------------------------------------------------

    async def start_session(self, account: Account) -> Session:
        token, expires = await self.store.new_session(account.id, self.policy.session_lifetime)
        return Session(token, expires, account)

    async def session_account(self, token: str) -> Account | None:
        """The account of a live session (None: unknown, expired or signed out)."""
        if not token:
            return None
        digest = secret_hash(token)
        cached = self.cache.get(digest)
        if cached is not None:
            return cached
        epoch = self.cache.epoch
        found = await self.store.session_lookup(digest)
        if found is None:
            return None
        account = await self.users.get(found.account_id)
        self.cache.put(digest, account, owners={found.stored_account_id}, epoch=epoch,
                       seconds=(found.expires_at - utcnow()).total_seconds())
        return account

    async def end_session(self, token: str) -> None:
        await self.store.end_session(token)
        await self.cache.revoke(digest=secret_hash(token))

    # ----- one-time sign-in links --------------------------------------------------------

    async def create_login_link(self, account: Account) -> str:
        """A token for ``/auth/link/{token}``: signs a browser into ``account`` once, within
        the link lifetime (10 minutes by default)."""
        return await self.store.new_link(account.id, self.policy.link_lifetime)

    def login_url(self, base_url: str, token: str) -> str:
        """The address to send: ``<base_url>/auth/link/<token>`` (``base_url`` is the web
        app's public URL, ``STATIONTHIS_PUBLIC_URL``)."""
        return f"{base_url.rstrip('/')}{LOGIN_LINK_PATH.format(token=token)}"

    async def use_login_link(self, token: str) -> Session:
        account_id = await self.store.use_link(token) if token else None
        if account_id is None:
            raise NotSignedIn("this sign-in link is unknown, expired or already used")
        return await self.start_session(await self.users.get(account_id))

    # ----- API keys ----------------------------------------------------------------------

    async def create_api_key(self, account: Account, name: str) -> NewApiKey:
        label = " ".join(name.split())
        if not 1 <= len(label) <= 100:
            raise InvalidInput("an API key name is 1–100 characters", input="name")
        key, secret = await self.store.new_key(account.id, label)
        return NewApiKey(key, secret)

    async def api_keys(self, account: Account) -> list[ApiKey]:
        return await self.store.keys_of(account.id)

    async def revoke_api_key(self, account: Account, key_id: str) -> None:
        await self.store.revoke_key(account.id, key_id)
        await self.cache.revoke(account_id=account.id)

    async def api_key_account(self, secret: str) -> Account | None:
        if not secret:
            return None
        digest = secret_hash(secret)
        cached = self.cache.get(digest)
        if cached is not None:
            return cached
        epoch = self.cache.epoch
        found = await self.store.key_lookup(digest, KEY_TOUCH)
        if found is None:
            return None
        account = await self.users.get(found.account_id)
        self.cache.put(digest, account, owners={found.stored_account_id}, epoch=epoch)
        return account

    # ----- changes elsewhere -------------------------------------------------------------

    async def forget_account(self, account_id: str) -> None:
        """The account changed in a way its sessions and keys must see at once (linked into
        another account): what every process remembers about them is dropped."""
        await self.cache.revoke(account_id=account_id)

    async def close(self) -> None:
        await self.cache.close()

    # ----- internals ---------------------------------------------------------------------

    async def _login_of(self, account: Account) -> Login | None:
        for ident in await self.users.identities_of(account.id):
            if ident.platform == "web":
                found = await self.store.find_login(ident.external_id)
                if found is not None:
                    return found
        return None


def _check_password(password: str) -> None:
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise InvalidInput(
            f"a password is {PASSWORD_MIN}–{PASSWORD_MAX} characters", input="password")

