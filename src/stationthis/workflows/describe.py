"""Describe: an image → 3–4 prompts someone can run with one tap.

A describe job is an ordinary paid job of the tool in category ``describe`` (quoted, held,
refunded when it fails — so a server that lacks the captioning nodes costs nothing); its
result is one text output with a prompt on each line. Platforms read the prompts here and
offer each with a "run this" action, which is a plain make-image request of that prompt.
"""

from __future__ import annotations

from stationthis.core.errors import InvalidInput
from stationthis.core.job_queries import JobListing
from stationthis.core.jobs import Job
from stationthis.core.media import MediaService
from stationthis.core.tools import ToolRegistry

CATEGORY = "describe"
MAX_PROMPTS = 4


def describe_tool(tools: ToolRegistry) -> str:
    """The name of the describe tool (the first of its category)."""
    found = tools.by_category(CATEGORY)
    if not found:
        raise InvalidInput("describing images needs a describe tool, and none is installed")
    return found[0].name


async def prompts(media: MediaService, job: Job | JobListing) -> list[str]:
    """The prompts a succeeded describe job found (empty for any other job)."""
    if job.category != CATEGORY or job.state != "succeeded":
        return []
    found: list[str] = []
    for media_id in job.outputs:
        item = await media.get(media_id)
        if not item.media_type.startswith("text/"):
            continue
        text = (await media.read(item)).decode("utf-8", "replace")
        found += [" ".join(line.split()) for line in text.splitlines() if line.strip()]
    return list(dict.fromkeys(found))[:MAX_PROMPTS]
