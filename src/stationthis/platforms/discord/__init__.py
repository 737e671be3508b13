"""The Discord platform over HTTP interactions, no gateway (docs/decisions/0016).

``app`` is the platform object the web app hosts (the interactions route, start/stop),
``verify`` checks Discord's Ed25519 signatures, ``rest`` talks to Discord's REST API with
httpx, ``handlers`` turn interactions into workflow calls, ``render`` turns results into
message payloads (content, embeds, components) and ``notifier`` edits the deferred response
as a job progresses and delivers its images.
"""
