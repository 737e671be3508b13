"""Parameters written in the prompt over the REST API: the job gets them and the prompt
loses them; a bad one is a 400 with the usual error shape; a web name made on the command
line cannot be claimed by signing up, and the answer says who can give it a password."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from stationthis.core.users import Identity
from stationthis.workflows.app import App
from tests.api.conftest import PASSWORD, error_of, finished
from tests.support.scripted import ScriptedEngine


async def test_a_prompt_with_parameters_makes_the_job_they_say(
    engine: ScriptedEngine, alice: httpx.AsyncClient
) -> None:
    body = {"tool": "make", "options": {
        "prompt": "a red fox at dusk --ar 9:16 --seed 5 --batch 2 --no text", "seed": 7}}
    quote = (await alice.post("/api/v1/quotes", json=body)).json()
    assert quote["points"] == 30  # two images
    made = await alice.post("/api/v1/jobs", json=body)
    assert made.status_code == 202, made.text
    done = await finished(alice, made.json()["id"])
    job = (await alice.get(f"/api/v1/jobs/{done['id']}")).json()
    params = job["params"]
    assert params["prompt"] == "a red fox at dusk"
    assert (params["width"], params["height"]) == (384, 680)
    assert (params["seed"], params["batch"], params["negative"]) == (5, 2, "text")


async def test_a_bad_parameter_is_refused_before_anything_is_held(
    alice: httpx.AsyncClient,
) -> None:
    for prompt, message in (
        ("a fox --batch 9", "batch must be between 1 and 6 (got 9)"),
        ("a fox --ar 16-9", "--ar takes W:H, e.g. --ar 16:9 (got '16-9')"),
        ("a fox --sref raw", "unknown parameter --sref in the prompt"),
        ("a fox --style raw", "there is no style 'raw' (your styles: none yet"),
    ):
        answer = await alice.post("/api/v1/jobs", json={"options": {"prompt": prompt}})
        assert answer.status_code == 400, answer.text
        assert error_of(answer)["message"].startswith(message), answer.text
    assert (await alice.get("/api/v1/balance")).json()["total"] == 1000


async def test_signing_up_as_a_name_made_on_the_command_line_is_refused_with_the_way_out(
    app: App, web: Callable[..., httpx.AsyncClient],
) -> None:
    await app.users.resolve(Identity("web", "carol"))  # `stationthis users add carol`
    taken = await web().post("/api/v1/auth/signup",
                             json={"username": "carol", "password": PASSWORD})
    assert taken.status_code == 409
    assert error_of(taken)["message"] == (
        "that username is taken; if it is yours, ask the operator to run "
        "`stationthis users password carol`")
    await app.auth.set_password_for("carol", PASSWORD)
    signed_in = await web().post("/api/v1/auth/signin",
                                 json={"username": "carol", "password": PASSWORD})
    assert signed_in.status_code == 200, signed_in.text
