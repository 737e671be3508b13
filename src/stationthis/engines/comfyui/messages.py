"""ComfyUI's error payloads turned into sentences a user can act on."""

from __future__ import annotations

from typing import Any

_KINDS = {
    "required_input_missing": "is missing",
    "value_smaller_than_min": "is too small",
    "value_bigger_than_max": "is too large",
    "value_not_in_list": "is not one of the server's choices",
    "invalid_input_type": "has the wrong type",
}


def rejected(payload: dict[str, Any], bindings: dict[str, tuple[str, str]]) -> str:
    """The message for a 400 from POST /prompt, naming our input where we know it."""
    by_field = {target: name for name, target in bindings.items()}
    problems: list[str] = []
    for node_id, node in (payload.get("node_errors") or {}).items():
        for error in node.get("errors", []):
            field = (error.get("extra_info") or {}).get("input_name")
            ours = by_field.get((str(node_id), str(field))) if field else None
            what = f"the input '{ours}'" if ours else (
                f"{node.get('class_type', 'node ' + str(node_id))}.{field}" if field
                else str(node.get("class_type", f"node {node_id}"))
            )
            detail = error.get("details") or error.get("message") or error.get("type", "")
            verb = _KINDS.get(str(error.get("type")), "was rejected")
            problems.append(f"{what} {verb}: {detail}".strip().rstrip(":"))
    if not problems:
        error = payload.get("error") or {}
        message = error.get("message") if isinstance(error, dict) else str(error)
        problems.append(str(message or "the workflow was rejected"))
    return "ComfyUI rejected this job: " + "; ".join(problems[:3])


def runtime(data: dict[str, Any]) -> str:
    """The message for an ``execution_error`` frame or history message."""
    node = data.get("node_type") or f"node {data.get('node_id', '?')}"
    message = str(data.get("exception_message") or "unknown error").strip()
    first_line = message.splitlines()[0] if message else "unknown error"
    if "out of memory" in message.lower():
        return f"the GPU ran out of memory in {node}; try a smaller size or batch"
    return f"ComfyUI failed in {node}: {first_line[:300]}"


def from_history(entry: dict[str, Any]) -> str | None:
    """The runtime error recorded in a history entry, if any."""
    for item in (entry.get("status") or {}).get("messages", []):
        if isinstance(item, list) and len(item) == 2 and item[0] == "execution_error":
            return runtime(item[1])
    return None


def was_interrupted(entry: dict[str, Any]) -> bool:
    return any(
        isinstance(item, list) and item and item[0] == "execution_interrupted"
        for item in (entry.get("status") or {}).get("messages", [])
    )
