"""The shared chat texts of /describe and /loras: long prompts are shortened to fit one
message (▶️ still makes the whole prompt), the ▶️ labels, and a long LoRA list in pages."""

from __future__ import annotations

from stationthis.core.notify import JobNotice
from stationthis.core.server_loras import ServerLora
from stationthis.platforms.chat.describe import prompts_text, run_labels
from stationthis.platforms.chat.loras import loras_text
from stationthis.platforms.telegram.callbacks import pack

NOTICE = JobNotice("a" * 32, "u", "describe", "succeeded", cost=2)


def test_long_prompts_fit_one_message_each_numbered() -> None:
    prompts = [f"{n} " + "a very long prompt " * 120 for n in range(1, 5)]
    for limit in (2000, 4096):
        text = prompts_text(NOTICE, prompts, limit)
        assert len(text) <= limit
        assert all(f"{n}. {n} a very long" in text for n in range(1, 5))
        assert text.startswith("📝 describe: 4 prompts · 2 points")
    assert "found nothing" in prompts_text(NOTICE, [], 2000)


def test_run_buttons_are_numbered_and_fit_telegram() -> None:
    assert run_labels(1) == [("▶️ Run this", "0")]
    assert run_labels(4)[3] == ("▶️ Run 4", "3")
    assert len(pack("dr", "f" * 32, "3").encode()) <= 64


def test_a_long_lora_list_comes_in_pages() -> None:
    loras = [ServerLora(f"l{n:02}.safetensors", f"L{n:02}", ("word",) if n == 0 else (),
                        price_factor=2.0 if n == 0 else 1.0) for n in range(25)]
    first = loras_text(loras, 1, "/loras {page}")
    second = loras_text(loras, 2, "/loras {page}")
    last = loras_text(loras, 9, "/loras {page}")  # past the end: the last page
    assert "page 1 of 3" in first and "More: /loras 2" in first
    assert "• L00 · <lora:L00:0.8> · triggers: word · price ×2" in first
    assert "L10" in second and "L09" not in second and "More: /loras 3" in second
    assert "page 3 of 3" in last and "More:" not in last and "L24" in last
    assert "list no LoRAs" in loras_text([], 1, "/loras {page}")
