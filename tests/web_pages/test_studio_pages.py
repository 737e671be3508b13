"""The studio, a job's page and the actions on its images, through the real app."""

from __future__ import annotations

from collections.abc import Callable

from stationthis.workflows.app import App
from tests.web_pages.conftest import Browser


async def _run(browser: Browser, app: App, **fields: str) -> str:
    """Post the studio form; the job's id, once the job has finished."""
    response = await browser.post("/studio/run", {"tool": "make", **fields})
    assert response.status_code == 303, response.text
    job_id = response.headers["location"].removeprefix("/jobs/")
    await app.jobs.wait(job_id, timeout=60)
    return job_id


async def test_the_studio_form_is_built_from_the_tool_inputs(
    web: Callable[[], Browser],
) -> None:
    browser = web()
    await browser.sign_up("alice")
    studio = (await browser.get("/")).text
    assert 'name="prompt"' in studio
    assert 'name="width" type="number" value="512" step="1" min="64" max="2048"' in studio
    assert 'name="cfg" type="number" value="7.0" step="any"' in studio
    assert 'id="price"' in studio  # filled by the live quote
    assert '<span id="balance">6000</span>' in studio  # allowance 1000 + grant 5000
    upscale = (await browser.get("/?tool=upscale")).text
    assert '<option value="2" selected>2</option>' in upscale
    assert 'data-upload-for="image"' in upscale
    assert 'name="prompt"' not in upscale
    missing = await browser.get("/?tool=nope")
    assert missing.status_code == 404 and "unknown tool" in missing.text


async def test_run_shows_the_job_with_its_images_and_actions(
    web: Callable[[], Browser], station_app: App,
) -> None:
    browser = web()
    await browser.sign_up("alice")
    job_id = await _run(browser, station_app, prompt="a red fox", seed="7", steps="",
                        width="640")
    page = (await browser.get(f"/jobs/{job_id}")).text
    job = await station_app.jobs.get(job_id)
    assert job.state == "succeeded" and job.params["width"] == 640 and job.params["seed"] == 7
    assert 'data-state="succeeded"' in page
    assert '<progress id="bar" max="100" value="100">' in page
    media_id = job.outputs[0]
    assert f"/api/v1/media/{media_id}/thumbnail" in page
    for action in ("variations", "upscale", "rmbg"):
        assert f'action="/media/{media_id}/{action}"' in page
    assert f'action="/jobs/{job_id}/regenerate"' in page
    results = await browser.get(f"/jobs/{job_id}/results")  # what the page's JS fetches
    assert results.status_code == 200 and 'id="done"' in results.text


async def test_actions_start_new_jobs_from_a_result(
    web: Callable[[], Browser], station_app: App,
) -> None:
    browser = web()
    await browser.sign_up("alice")
    job_id = await _run(browser, station_app, prompt="a red fox", seed="7")
    media_id = (await station_app.jobs.get(job_id)).outputs[0]
    await browser.get(f"/jobs/{job_id}")

    upscaled = await browser.post(f"/media/{media_id}/upscale", {"scale": "2"})
    up = await station_app.jobs.wait(upscaled.headers["location"].removeprefix("/jobs/"), 60)
    assert up.tool == "upscale" and up.state == "succeeded"
    assert (await station_app.media.get(up.outputs[0])).width == 1024

    again = await browser.post(f"/jobs/{job_id}/regenerate")
    regen = await station_app.jobs.get(again.headers["location"].removeprefix("/jobs/"))
    assert regen.origin == "regenerate" and regen.parent_id == job_id
    assert regen.params["prompt"] == "a red fox"

    varied = await browser.post(f"/media/{media_id}/variations", {"strength": "0.3"})
    variation = await station_app.jobs.get(varied.headers["location"].removeprefix("/jobs/"))
    assert variation.origin == "variation" and variation.params["strength"] == 0.3
    assert variation.inputs["image"] == media_id
    bad = await browser.post(f"/media/{media_id}/variations", {"strength": "lots"})
    assert bad.status_code == 400 and "strength must be a number" in bad.text

    unknown = await browser.post(f"/media/{media_id}/explode")
    assert unknown.status_code == 404


async def test_a_refused_run_says_why_and_keeps_the_form(
    web: Callable[[], Browser], station_app: App,
) -> None:
    browser = web()
    await browser.sign_up("alice")
    refused = await browser.post("/studio/run", {"tool": "make", "prompt": "a fox",
                                                 "width": "99999"})
    assert refused.status_code == 400
    assert "width must be between 64 and 2048" in refused.text
    assert "a fox</textarea>" in refused.text and 'value="99999"' in refused.text
    assert await station_app.jobs.recent(await _me(station_app, "alice")) == []


async def test_changes_without_the_csrf_token_are_refused(
    web: Callable[[], Browser], station_app: App,
) -> None:
    browser = web()
    await browser.sign_up("alice")
    for token in ("", "0" * 40):
        refused = await browser.post("/studio/run", {"tool": "make", "prompt": "a fox"},
                                     csrf=token)
        assert refused.status_code == 403
    assert await station_app.jobs.recent(await _me(station_app, "alice")) == []


async def test_what_people_typed_is_escaped(
    web: Callable[[], Browser], station_app: App,
) -> None:
    browser = web()
    await browser.sign_up("alice")
    job_id = await _run(browser, station_app, prompt="<script>alert(1)</script> fox")
    for path in (f"/jobs/{job_id}", "/gallery"):
        text = (await browser.get(path)).text
        assert "<script>alert(1)</script>" not in text, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt; fox" in text, path


async def test_another_users_jobs_and_images_do_not_exist(
    web: Callable[[], Browser], station_app: App,
) -> None:
    alice, bob = web(), web()
    await alice.sign_up("alice")
    await bob.sign_up("bob")
    job_id = await _run(alice, station_app, prompt="alice's fox")
    media_id = (await station_app.jobs.get(job_id)).outputs[0]
    for path in (f"/jobs/{job_id}", f"/jobs/{job_id}/results", f"/gallery/{media_id}"):
        response = await bob.get(path)
        assert response.status_code == 404, path
        assert "alice" not in response.text, path
    for path in (f"/media/{media_id}/upscale", f"/jobs/{job_id}/regenerate",
                 f"/jobs/{job_id}/cancel", f"/gallery/{media_id}/rerun"):
        assert (await bob.post(path)).status_code == 404, path
    thumb = await bob.client.get(f"/api/v1/media/{media_id}/thumbnail")
    assert thumb.status_code == 404
    assert await station_app.jobs.recent(await _me(station_app, "bob")) == []


async def _me(app: App, name: str) -> str:
    account = await app.auth.store.identity_account("web", name)
    assert account is not None
    return account
