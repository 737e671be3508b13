"""Quotes and jobs: price first, start, list, get, cancel, and a live event stream."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field

from stationthis.core.errors import InvalidInput
from stationthis.core.job_queries import JobQueries
from stationthis.core.jobs import ACTIVE, FINAL
from stationthis.core.users import Account
from stationthis.platforms.web.api.stream import job_events
from stationthis.platforms.web.api.views import WEB_REPLY, JobOut, QuoteOut, jobs_response
from stationthis.platforms.web.auth import current_account, runtime, station
from stationthis.platforms.web.errors import documented
from stationthis.workflows import describe as describing
from stationthis.workflows.make_image import Request as MakeRequest

router = APIRouter(prefix="/api/v1", tags=["jobs"])
_AUTH = (401, 403)


class JobRequest(BaseModel):
    tool: str | None = Field(None, max_length=100,
                             description="default: the user's text-to-image tool")
    options: dict[str, Any] = Field(default_factory=dict,
                                    description="tool inputs: prompt, width, seed, …")
    images: dict[str, str] = Field(default_factory=dict,
                                   description="image inputs: input name → media id")


class JobList(BaseModel):
    jobs: list[JobOut]


async def _request(request: Request, user: Account, body: JobRequest) -> MakeRequest:
    app = station(request)
    tool = body.tool or await app.make_image.default_tool(user)
    return MakeRequest(tool, dict(body.options), dict(body.images))


@router.post("/quotes", response_model=QuoteOut, responses=documented(*_AUTH, 400, 404, 422))
async def quote(
    body: JobRequest, request: Request, user: Account = Depends(current_account)
) -> QuoteOut:
    """The price of a request and the parameters it would run with; nothing is held."""
    app = station(request)
    return QuoteOut.of(await app.make_image.quote(user, await _request(request, user, body)))


@router.post("/jobs", status_code=202, response_model=JobOut,
             responses=documented(*_AUTH, 400, 402, 404, 422, 429))
async def create_job(
    body: JobRequest, request: Request, user: Account = Depends(current_account)
) -> JobOut:
    """Start a job: its quote is held now and settled when it ends. Follow it with
    ``GET /api/v1/jobs/{id}/events``."""
    app = station(request)
    job = await app.make_image.make(user, await _request(request, user, body), reply=WEB_REPLY)
    return JobOut.of(job)


@router.get("/jobs", response_model=JobList, responses=documented(*_AUTH, 422))
async def list_jobs(
    request: Request, user: Account = Depends(current_account),
    state: Literal["active", "finished", "all"] = "all",
    limit: int = Query(20, ge=1, le=100),
) -> Response:
    """The user's jobs, newest first."""
    states = {"active": ACTIVE, "finished": FINAL, "all": None}[state]
    found = await JobQueries(runtime(request).db).listing(user.id, states=states, limit=limit)
    media = station(request).media
    prompts = {job.id: await describing.prompts(media, job)
               for job in found if job.category == describing.CATEGORY}
    return jobs_response(found, prompts)  # a JobList


@router.get("/jobs/{job_id}", response_model=JobOut, responses=documented(*_AUTH, 404))
async def get_job(
    job_id: str, request: Request, user: Account = Depends(current_account)
) -> JobOut:
    app = station(request)
    job = await app.jobs.get_owned(job_id, user.id)
    out = JobOut.of(job)
    if job.category == describing.CATEGORY:
        out.prompts = await describing.prompts(app.media, job)
    return out


@router.post("/jobs/{job_id}/cancel", response_model=JobOut,
             responses=documented(*_AUTH, 404, 409))
async def cancel_job(
    job_id: str, request: Request, user: Account = Depends(current_account)
) -> JobOut:
    """Cancel a job: a queued one ends at once, a running one when its engine confirms
    (``cancel_requested`` until then). The whole hold is released."""
    app = station(request)
    await app.status.cancel(user, job_id)
    return JobOut.of(await app.jobs.get_owned(job_id, user.id))


@router.get(
    "/jobs/{job_id}/events", response_class=StreamingResponse,
    responses={200: {"description": "server-sent events: `job` (the whole job, first and "
                     "last), `progress` (percent, step, ETA, a preview image as a data URL); "
                     "the stream ends with the job's final state",
                     "content": {"text/event-stream": {"schema": {"type": "string"}}}},
               **documented(*_AUTH, 404)},
)
async def stream_job(
    job_id: str, request: Request, user: Account = Depends(current_account)
) -> StreamingResponse:
    app = runtime(request)  # the stream listens on the bus and the signals
    await app.jobs.get_owned(job_id, user.id)
    return StreamingResponse(
        job_events(app, job_id), media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


# ----- again: the same job with a new seed, or with some inputs changed ---------------------

class Tweak(BaseModel):
    changes: dict[str, Any] = Field(description="inputs to change: steps, cfg, prompt, …")

    def checked(self) -> dict[str, Any]:
        clash = sorted(set(self.changes) & {"payer", "reply", "group"})
        if clash:
            raise InvalidInput(f"{clash[0]!r} is not an input that can be changed")
        return dict(self.changes)


_ACTION = documented(*_AUTH, 400, 402, 404, 422, 429)
_QUOTE = documented(*_AUTH, 400, 404, 409, 422)


@router.post("/jobs/{job_id}/regenerate", status_code=202, response_model=JobOut,
             responses=_ACTION)
async def regenerate(job_id: str, request: Request,
                     user: Account = Depends(current_account)) -> JobOut:
    """The same tool, inputs and images with a new random seed."""
    return JobOut.of(await station(request).again.regenerate(user, job_id, reply=WEB_REPLY))


@router.post("/jobs/{job_id}/regenerate/quote", response_model=QuoteOut, responses=_QUOTE)
async def quote_regenerate(job_id: str, request: Request,
                           user: Account = Depends(current_account)) -> QuoteOut:
    return QuoteOut.of(await station(request).again.quote_regenerate(user, job_id))


@router.post("/jobs/{job_id}/tweak", status_code=202, response_model=JobOut, responses=_ACTION)
async def tweak(job_id: str, body: Tweak, request: Request,
                user: Account = Depends(current_account)) -> JobOut:
    """The same job (and seed, unless changed) with some inputs changed."""
    job = await station(request).again.tweak(user, job_id, reply=WEB_REPLY, **body.checked())
    return JobOut.of(job)


@router.post("/jobs/{job_id}/tweak/quote", response_model=QuoteOut, responses=_QUOTE)
async def quote_tweak(job_id: str, body: Tweak, request: Request,
                      user: Account = Depends(current_account)) -> QuoteOut:
    return QuoteOut.of(await station(request).again.quote_tweak(user, job_id, **body.checked()))
