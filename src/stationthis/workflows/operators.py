"""The operators' use cases behind the admin console: the instance at a glance, helping a
user (ban, grant, deduct, tier), jobs (list, cancel), moderation (rules, refusals, the review
queue). Every action writes an audit entry (who, what, before, after, why).

The caller (the web console) checks ``is_admin`` first; these methods take the acting
admin's account as ``actor``. The command line, run by an operator at the server, acts as
``None``: its entries name the actor ``cli`` (with no account id).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from stationthis.core.accounts_admin import AccountsAdmin
from stationthis.core.audit import AuditEntry, AuditLog
from stationthis.core.db import Database, as_utc, new_id, utcnow
from stationthis.core.engine import EngineHealth
from stationthis.core.errors import InvalidInput
from stationthis.core.jobs import ACTIVE, Job, JobService, job_from_row
from stationthis.core.leases import JobLeases
from stationthis.core.moderation_rules import ModerationEvent, ModerationRules, Rule
from stationthis.core.points import Balance, Ledger, LedgerEntry
from stationthis.core.purchases import PaymentProvider, Purchase
from stationthis.core.refunds import ClawBack
from stationthis.core.review import HELD, OutputCheck
from stationthis.core.schema import jobs, ledger
from stationthis.core.server_loras import ServerLora
from stationthis.core.users import Account, Identity, Users
from stationthis.workflows.admin import AdminWorkflow
from stationthis.workflows.purchases import Purchases
from stationthis.workflows.server_loras import ServerLoras

MAX_REASON = 500
CLI_ACTOR = "cli"  # who the audit log says acted when an operator ran `stationthis …`
RUNNING = ("preparing", "running", "uploading")


@dataclass(frozen=True)
class Overview:
    jobs_per_minute: float  # created, over the last 10 minutes
    finished_per_minute: float
    queued: int
    oldest_wait_seconds: float | None  # the longest-waiting queued job
    mean_wait_seconds: float | None  # queued → started, jobs started in the last hour
    running: int
    held: int
    failures: dict[str, int]  # error code → jobs failed in the last 24 hours
    engine: EngineHealth
    workers: list[dict[str, object]]
    points_today: dict[str, int]  # granted, spent, bought, deducted (since 00:00 UTC)
    refused_today: int


@dataclass(frozen=True)
class UserView:
    account: Account
    identities: list[Identity]
    tier: str
    balance: Balance
    ledger: list[LedgerEntry]
    jobs: list[Job]
    is_admin: bool
    audit: list[AuditEntry] = field(default_factory=list)


class Operators:
    def __init__(self, db: Database, users: Users, ledger: Ledger, jobs: JobService,
                 admin: AdminWorkflow, accounts: AccountsAdmin, audit: AuditLog,
                 rules: ModerationRules, review: OutputCheck, engine_health: Any) -> None:
        self.db = db
        self.users = users
        self.ledger = ledger
        self.jobs = jobs
        self.admin = admin
        self.accounts = accounts
        self.audit = audit
        self.rules = rules
        self.review = review
        self._engine_health = engine_health  # () -> Awaitable[EngineHealth]

    async def is_admin(self, account: Account | None) -> bool:
        return account is not None and await self.accounts.is_admin(account.id)

    # ----- the overview ------------------------------------------------------------------

    async def overview(self) -> Overview:
        now = utcnow()
        day = now.replace(hour=0, minute=0, second=0, microsecond=0)
        async with self.db.read(offload=True) as conn:  # counts over the whole jobs table
            def count(*where: Any) -> Any:
                return select(func.count()).select_from(jobs).where(*where)

            created = (await conn.execute(count(jobs.c.created_at >= now - timedelta(minutes=10)))
                       ).scalar_one()
            finished = (await conn.execute(count(
                jobs.c.finished_at >= now - timedelta(minutes=10)))).scalar_one()
            by_state: dict[str, int] = dict((await conn.execute(
                select(jobs.c.state, func.count()).where(jobs.c.state.in_((*ACTIVE, HELD)))
                .group_by(jobs.c.state))).all())
            oldest = (await conn.execute(select(func.min(jobs.c.created_at))
                                         .where(jobs.c.state == "queued"))).scalar()
            waits = (await conn.execute(select(jobs.c.created_at, jobs.c.started_at).where(
                jobs.c.started_at >= now - timedelta(hours=1)))).all()
            failures: dict[str | None, int] = dict((await conn.execute(
                select(jobs.c.error_code, func.count())
                .where(jobs.c.state == "failed", jobs.c.finished_at >= now - timedelta(days=1))
                .group_by(jobs.c.error_code))).all())
            rows = (await conn.execute(
                select(ledger.c.kind, func.sum(ledger.c.amount), func.sum(ledger.c.charged))
                .where(ledger.c.created_at >= day,
                       ledger.c.kind.in_(("grant", "purchase", "capture", "deduct")))
                .group_by(ledger.c.kind))).all()
        sums = {kind: (amount, charged) for kind, amount, charged in rows}
        spans = [(as_utc(s) - as_utc(c)).total_seconds() for c, s in waits]

        def total(kind: str, charged: bool = False) -> int:
            amount, charge = sums.get(kind, (0, 0))
            return int((charge if charged else amount) or 0)

        return Overview(
            jobs_per_minute=round(created / 10, 2), finished_per_minute=round(finished / 10, 2),
            queued=int(by_state.get("queued", 0)),
            oldest_wait_seconds=(now - as_utc(oldest)).total_seconds() if oldest else None,
            mean_wait_seconds=round(sum(spans) / len(spans), 1) if spans else None,
            running=sum([int(by_state.get(s, 0)) for s in RUNNING]),
            held=int(by_state.get(HELD, 0)),
            failures={str(k or "unknown"): int(v) for k, v in failures.items()},
            engine=await self._engine_health(),
            workers=await JobLeases(self.db).live_workers(),
            points_today={"granted": total("grant"), "spent": total("capture", True),
                          "bought": total("purchase"), "deducted": -total("deduct")},
            refused_today=len([e for e in await self.rules.events("refused", limit=1000)
                               if e.created_at >= day]),
        )

    # ----- users -------------------------------------------------------------------------

    async def find_users(self, text: str) -> list[Account]:
        return await self.accounts.search(text)

    async def user(self, account_id: str) -> UserView:
        account = await self.users.get(account_id)
        view = await self.admin.show(account)
        return UserView(
            view.account, view.identities, view.tier, view.balance,
            await self.ledger.history(account.id, limit=50),
            await self.jobs.recent(account.id, limit=20),
            await self.accounts.is_admin(account.id),
            await self.audit.recent(target=f"account:{account.id}", limit=20),
        )

    async def ban(self, actor: Account, account_id: str, reason: str, banned: bool = True
                  ) -> Account:
        reason = _reason(reason)
        account = await self.users.get(account_id)
        after = await (self.admin.ban(account) if banned else self.admin.unban(account))
        await self._audit(actor, "ban" if banned else "unban", account, reason,
                          {"banned": account.banned}, {"banned": after.banned})
        return after

    async def grant(self, actor: Account, account_id: str, amount: int, reason: str) -> Balance:
        reason = _reason(reason)
        account = await self.users.get(account_id)
        before = await self.ledger.balance(account.id)
        await self.ledger.grant(account.id, amount, key=f"admin:{new_id()}:grant",
                                memo=f"by {actor.name}: {reason}"[:300])
        after = await self.ledger.balance(account.id)
        await self._audit(actor, "grant", account, reason, {"balance": before.total},
                          {"balance": after.total, "granted": amount})
        return after

    async def deduct(self, actor: Account, account_id: str, amount: int, reason: str) -> Balance:
        reason = _reason(reason)
        account = await self.users.get(account_id)
        before = await self.ledger.balance(account.id)
        await self.accounts.deduct(account.id, amount, f"by {actor.name}: {reason}")
        after = await self.ledger.balance(account.id)
        await self._audit(actor, "deduct", account, reason, {"balance": before.total},
                          {"balance": after.total, "deducted": amount})
        return after

    async def set_tier(self, actor: Account, account_id: str, tier: str, reason: str = ""
                       ) -> Account:
        account = await self.users.get(account_id)
        after = await self.admin.set_tier(account, tier)
        await self._audit(actor, "tier", account, reason.strip()[:MAX_REASON],
                          {"tier": account.tier}, {"tier": after.tier})
        return after

    async def set_admin(self, actor: Account | None, account: Account, admin: bool) -> None:
        before = await self.accounts.is_admin(account.id)
        await self.accounts.set_admin(account.id, admin)
        await self._audit(actor, "admin" if admin else "unadmin", account, "",
                          {"is_admin": before}, {"is_admin": admin})

    # ----- jobs --------------------------------------------------------------------------

    async def list_jobs(self, *, state: str = "", tool: str = "", user: str = "",
                        limit: int = 100) -> list[Job]:
        query = select(jobs)
        if state == "active":
            query = query.where(jobs.c.state.in_(ACTIVE))
        elif state:
            query = query.where(jobs.c.state == state)
        if tool:
            query = query.where(jobs.c.tool == tool)
        if user:
            query = query.where(jobs.c.owner_id == user)
        query = query.order_by(jobs.c.created_at.desc(), jobs.c.id).limit(limit)
        async with self.db.read() as conn:
            return [job_from_row(r) for r in (await conn.execute(query)).all()]

    async def cancel_job(self, actor: Account, job_id: str, reason: str = "") -> Job:
        job = await self.jobs.get(job_id)
        after = await self.jobs.cancel(job_id)
        await self._audit(actor, "cancel job", None, reason.strip()[:MAX_REASON],
                          {"state": job.state}, {"state": after.state}, target=f"job:{job_id}")
        return after

    # ----- moderation --------------------------------------------------------------------

    async def add_rule(self, actor: Account, kind: str, value: str) -> Rule:
        rule = await self.rules.add(kind, value, by=actor.id)
        await self._audit(actor, f"block {kind}", None, "", None, {"value": rule.value},
                          target=f"rule:{rule.id}")
        return rule

    async def remove_rule(self, actor: Account, rule_id: int) -> Rule:
        rule = await self.rules.remove(rule_id)
        await self._audit(actor, f"unblock {rule.kind}", None, "", {"value": rule.value}, None,
                          target=f"rule:{rule.id}")
        return rule

    async def refused(self, limit: int = 100) -> list[ModerationEvent]:
        return await self.rules.events("refused", limit=limit)

    async def flagged(self, status: str | None = None, limit: int = 100) -> list[ModerationEvent]:
        return await self.rules.events("flagged", status=status, limit=limit)

    async def release(self, actor: Account, job_id: str) -> Job:
        job = await self.review.release(job_id, by=actor.id)
        await self._audit(actor, "release output", None, "", {"state": HELD},
                          {"state": job.state, "cost": job.cost}, target=f"job:{job_id}")
        return job

    async def reject(self, actor: Account, job_id: str, reason: str = "") -> Job:
        job = await self.review.reject(job_id, by=actor.id)
        await self._audit(actor, "reject output", None, reason.strip()[:MAX_REASON],
                          {"state": HELD}, {"state": job.state}, target=f"job:{job_id}")
        return job

    async def refund_purchase(
        self, actor: Account, purchase: Purchase, purchases: Purchases,
        provider_for: Callable[[str], PaymentProvider], reason: str,
    ) -> ClawBack:
        """Refund a paid purchase at its provider and take its points back (once)."""
        reason = _reason(reason)
        provider = provider_for(purchase.channel)
        try:
            done = await purchases.refund(purchase.id, provider)
        finally:
            close = getattr(provider, "aclose", None)
            if close is not None:
                await close()
        after = await purchases.get(purchase.id)
        await self._audit(actor, "refund purchase", None, reason,
                          {"status": purchase.status, "points": purchase.points},
                          {"status": after.status, "points_taken_back": done.total},
                          target=f"purchase:{purchase.id}")
        return done

    async def set_server_lora(self, actor: Account | None, loras: ServerLoras, file_name: str,
                              **changes: Any) -> ServerLora:
        """Set a server LoRA's name, triggers, preview, price factor or hidden flag (``file_name``
        may leave out the extension); the audit entry holds what it was and what it is now."""
        known = {lora.file_name: lora for lora in await loras.all(include_hidden=True)}
        lora = await loras.set(file_name, by=actor.id if actor else None, **changes)
        before = known.get(lora.file_name)
        await self._audit(actor, "set LoRA", None, "", before.as_dict() if before else None,
                          lora.as_dict(), target=f"lora:{lora.file_name}")
        return lora

    async def recent_audit(self, limit: int = 100) -> list[AuditEntry]:
        return await self.audit.recent(limit=limit)

    async def _audit(self, actor: Account | None, action: str, account: Account | None,
                     reason: str, before: Any, after: Any, *, target: str | None = None) -> None:
        await self.audit.record(actor.id if actor else None, actor.name if actor else CLI_ACTOR,
                                action,
                                target or (f"account:{account.id}" if account else None),
                                before=before, after=after, reason=reason or None)


def _reason(reason: str) -> str:
    reason = reason.strip()
    if not reason:
        raise InvalidInput("say why (the reason goes to the audit log)", input="reason")
    if len(reason) > MAX_REASON:
        raise InvalidInput(f"a reason is at most {MAX_REASON} characters", input="reason")
    return reason
