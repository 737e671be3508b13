"""The slash commands, as Discord's bulk-overwrite endpoint takes them
(``stationthis discord register``)."""

from __future__ import annotations

from typing import Any

SUB, STRING, INTEGER, ATTACHMENT, NUMBER = 1, 3, 4, 11, 10
USER = 6
BOOLEAN = 5
Option = dict[str, Any]


def option(kind: int, name: str, description: str, required: bool = False,
           **extra: Any) -> Option:
    return {"type": kind, "name": name, "description": description, "required": required,
            **extra}


def images(count: int, first_required: bool = True) -> list[Option]:
    return [option(ATTACHMENT, f"image{n}", f"image {n}", required=first_required and n == 1)
            for n in range(1, count + 1)]


def command(name: str, description: str, *options: Option) -> dict[str, Any]:
    # contexts 0, 1: servers and the bot's direct messages
    return {"name": name, "type": 1, "description": description, "options": list(options),
            "contexts": [0, 1]}


DATASET = option(STRING, "dataset", "the dataset's name", required=True)
REFERENCE_KINDS = (("edges (canny)", "canny"), ("pose", "pose"), ("depth", "depth"),
                   ("style (its look)", "style"))


def commands() -> list[dict[str, Any]]:
    return [
        command("make", "Make an image from a prompt",
                option(STRING, "prompt", "what to draw", True, max_length=2000),
                option(ATTACHMENT, "image", "start from this image (image-to-image)"),
                option(STRING, "negative", "what to avoid", max_length=2000),
                option(INTEGER, "width", "pixels", min_value=64, max_value=2048),
                option(INTEGER, "height", "pixels", min_value=64, max_value=2048),
                option(INTEGER, "steps", "sampling steps", min_value=1, max_value=150),
                option(INTEGER, "seed", "same prompt + seed = same image", min_value=-1),
                option(INTEGER, "batch", "images at once", min_value=1, max_value=6),
                option(NUMBER, "cfg", "prompt strength", min_value=0, max_value=30)),
        command("upscale", "Upscale an image",
                option(ATTACHMENT, "image", "the image", True),
                option(INTEGER, "scale", "×2 or ×4",
                       choices=[{"name": "×2", "value": 2}, {"name": "×4", "value": 4}])),
        command("rmbg", "Remove an image's background",
                option(ATTACHMENT, "image", "the image", True)),
        command("inpaint", "Repaint the region of an image that a mask marks",
                option(STRING, "prompt", "what the region shows", True, max_length=2000),
                option(ATTACHMENT, "image", "the image", True),
                option(ATTACHMENT, "mask", "its size: white = repaint, black = keep", True),
                option(STRING, "negative", "what to avoid", max_length=2000),
                option(INTEGER, "steps", "sampling steps", min_value=1, max_value=150),
                option(INTEGER, "seed", "same prompt + seed = same image", min_value=-1)),
        command("ref", "A new picture that follows a reference image",
                option(STRING, "prompt", "what to draw", True, max_length=2000),
                option(ATTACHMENT, "image", "the reference image", True),
                option(STRING, "kind", "what to follow (default: its edges)", choices=[
                    {"name": n, "value": v} for n, v in REFERENCE_KINDS]),
                option(NUMBER, "strength", "how closely to follow it", min_value=0,
                       max_value=2),
                option(STRING, "negative", "what to avoid", max_length=2000),
                option(INTEGER, "steps", "sampling steps", min_value=1, max_value=150),
                option(INTEGER, "seed", "same prompt + seed = same image", min_value=-1)),
        command("describe", "Prompts for a picture, each ready to run",
                option(ATTACHMENT, "image", "the picture to describe", True)),
        command("loras", "The server's LoRAs and how to use them",
                option(INTEGER, "page", "which page of the list", min_value=1)),
        command("settings", "Your defaults for new images"),
        command("server", "This server's defaults and who pays (Manage Server to change)"),
        command("balance", "Your points and when the free allowance refills"),
        command("history", "Your last jobs"),
        command("status", "Your running and queued jobs"),
        command("cancel", "Cancel a job", option(STRING, "which", "its number in /status, or all")),
        command("link", "Join this account with Telegram or the web",
                option(STRING, "code", "a code from /link elsewhere (none: get a code)")),
        command("models", "Your trained models"),
        command("help", "What StationThis can do"),
        *style_commands(),
        *recall_commands(),
        command("buy", "Buy points (you pay by card on the web studio)"),
        command("train", "Datasets and trainings",
                option(SUB, "create", "Create a dataset"),
                option(SUB, "list", "Your datasets"),
                option(SUB, "add", "Add images to a dataset", options=[
                    DATASET, *images(1), option(STRING, "caption", "caption for these images"),
                    *images(10, False)[1:]]),
                option(SUB, "caption", "Caption one image", options=[
                    DATASET, option(INTEGER, "number", "the image's number", True, min_value=1),
                    option(STRING, "text", "the caption", True, max_length=1000)]),
                option(SUB, "view", "A dataset and its readiness", options=[DATASET]),
                option(SUB, "submit", "Quote and start a training", options=[
                    DATASET, option(INTEGER, "steps", "training steps", min_value=10,
                                    max_value=10000)]),
                option(SUB, "delete", "Delete a dataset", options=[DATASET])),
        collections_command(),
    ]


COLLECTION = option(STRING, "collection", "the collection's name", required=True)


def collections_command() -> dict[str, Any]:
    return command(
        "collections", "Collections: share, cook from traits, review, export",
        option(SUB, "list", "Your collections and those shared with you"),
        option(SUB, "new", "Create a collection (no name: a form)", options=[
            option(STRING, "name", "its name", max_length=100),
            option(STRING, "description", "what it is", max_length=2000)]),
        option(SUB, "view", "A collection, its images and buttons", options=[COLLECTION]),
        option(SUB, "rename", "Rename or describe a collection", options=[
            COLLECTION, option(STRING, "name", "the new name", max_length=100),
            option(STRING, "description", "the new description",
                              max_length=2000)]),
        option(SUB, "delete", "Delete a collection (asks first)", options=[COLLECTION]),
        option(SUB, "share", "Share with a user (view or edit), or stop sharing", options=[
            COLLECTION, option(USER, "user", "a Discord user"),
            option(STRING, "identity", "or a StationThis user: telegram:123, a web name"),
            option(STRING, "permission", "view (default), edit or remove", choices=[
                {"name": n, "value": n} for n in ("view", "edit", "remove")])]),
        option(SUB, "links", "Read-only share links: create, list, revoke",
               options=[COLLECTION]),
        option(SUB, "cook", "Cook pieces from a master prompt and traits (a form)",
               options=[COLLECTION]),
        option(SUB, "review", "Keep, reject or remake cooked pieces", options=[COLLECTION]),
        option(SUB, "export", "Download the NFT and captions zips", options=[
            COLLECTION, option(STRING, "layout", "both (default), nft or captions", choices=[
                {"name": n, "value": n} for n in ("both", "nft", "captions")])]),
    )


def recall_commands() -> list[dict[str, Any]]:
    which = option(INTEGER, "which", "1 = your last image job (default), 2 = the one before",
                   min_value=1, max_value=50)
    return [command("regen", "Your last image again with a new seed", which),
            command("seed", "The seed(s) of your last image job", which),
            command("card", "How to make your last image again exactly", which),
            *(message_command(name) for name in MESSAGE_COMMANDS)]


# Message commands (a message's menu → Apps): /regen, /seed and /card on that result.
# Discord allows 5 message commands per application.
MESSAGE_COMMANDS = ("Regenerate", "Seed", "Card")


def message_command(name: str) -> dict[str, Any]:
    return {"name": name, "type": 3, "description": "", "contexts": [0, 1]}


def style_commands() -> list[dict[str, Any]]:
    """/styles, /style, /wildcards and /wildcard (platforms/discord/handlers/styles.py)."""
    return [
        command("styles", "Your saved styles and wildcard lists, and the server's"),
        command("style", "Show, save or remove a style (use it: --style NAME in a prompt)",
                option(STRING, "name", "the style's name", True, max_length=40),
                option(STRING, "template", "e.g. film noir photo of {prompt}, grainy",
                       max_length=2000),
                option(STRING, "negative", "what the style keeps out", max_length=2000),
                option(INTEGER, "steps", "sampling steps", min_value=1, max_value=150),
                option(NUMBER, "cfg", "prompt strength", min_value=0, max_value=30),
                option(STRING, "ar", "aspect ratio W:H, e.g. 16:9", max_length=9),
                option(BOOLEAN, "server", "the server's style (Manage Server)"),
                option(BOOLEAN, "remove", "remove this style")),
        command("wildcards", "Your wildcard lists (__name__ in a prompt), and the server's"),
        command("wildcard", "Show, save or remove a wildcard list (use it: __name__ in a prompt)",
                option(STRING, "name", "the list's name", True, max_length=40),
                option(STRING, "values", "e.g. red | teal:3 | gold (:3 = three times as likely)",
                       max_length=4000),
                option(BOOLEAN, "server", "the server's list (Manage Server)"),
                option(BOOLEAN, "remove", "remove this list")),
    ]
