"""The delivery-method form read into a `Channel`, each problem next to its field (the
domain's `channel_problem` and the push guard's; the library checks again on save).
"""

from collections.abc import Mapping
from typing import Any

from msgspec.structs import replace
from tidings.domain import Channel, EmailChannel, PollChannel, UrlChannel
from tidings.domain.values import Fallback, channel_problem

from ..numbers import whole_number
from ..push.transport import AddressGuard, Refused

__all__ = ["METHODS", "channel_fields", "read_channel"]

METHODS = (("poll", "Poll queue (poll-req / poll-ack)"), ("url", "URL (HTTP POST)"),
           ("email", "E-mail"))  # fmt: skip


def _statuses(raw: str) -> frozenset[int] | str:
    # ASCII digits only: `int` would read "٢٠٠", "2_00" and "+200" as 200
    found = [whole_number(part) for part in raw.replace(",", " ").split()]
    if None in found:
        return "HTTP statuses, as numbers separated by commas (e.g. 200, 204)"
    return frozenset(n for n in found if n is not None) or "name at least one HTTP status"


def _url(raw: str, guard: AddressGuard) -> tuple[str | None, str | None]:
    """(the URL or None when empty, its problem or None)."""
    url = raw.strip()
    if not url:
        return None, None
    if problem := channel_problem(UrlChannel(success_url=url)):
        return url, problem
    try:
        guard.check_url(url)
    except (Refused, ValueError) as refused:
        return url, f"refused: {refused}"
    return url, None


def read_channel(
    form: Mapping[str, str], guard: AddressGuard, current: Channel
) -> tuple[Channel | None, dict[str, str]]:
    """The channel `form` describes, or None and the problems by field name. Settings the
    form does not show (timeouts, endpoint health) are kept from `current` when the
    method stays the same: saving the form must not undo what an operator set."""
    channel, errors = _read(form, guard)
    match channel, current:
        case UrlChannel(), UrlChannel():
            channel = replace(channel, connect_timeout=current.connect_timeout,
                              timeout=current.timeout, pause_after=current.pause_after,
                              probe_every=current.probe_every)  # fmt: skip
        case EmailChannel(), EmailChannel():
            channel = replace(channel, timeout=current.timeout, pause_after=current.pause_after,
                              probe_every=current.probe_every)  # fmt: skip
    return channel, errors


def _read(form: Mapping[str, str], guard: AddressGuard) -> tuple[Channel | None, dict[str, str]]:
    method = form.get("method", "poll")
    fallback: Fallback = "poll" if form.get("fallback") == "poll" else "none"
    errors: dict[str, str] = {}
    if method == "poll":
        return PollChannel(), errors
    if method == "email":
        address = form.get("address", "").strip()
        email = EmailChannel(address=address, fallback=fallback)
        if problem := channel_problem(email):
            return None, {"address": problem}
        return email, errors
    if method != "url":
        return None, {"method": "choose the poll queue, a URL or e-mail"}
    success, problem = _url(form.get("success_url", ""), guard)
    if problem:
        errors["success_url"] = problem
    error_url, problem = _url(form.get("error_url", ""), guard)
    if problem:
        errors["error_url"] = problem
    if success is None and error_url is None and not errors:
        errors["success_url"] = "give a success URL, an error URL or both"
    statuses = _statuses(form.get("expected_status", "200"))
    if isinstance(statuses, str):
        errors["expected_status"] = statuses
    body_format = form.get("body_format", "wapi-form")
    if body_format not in ("wapi-form", "jobresult"):
        errors["body_format"] = "choose the WAPI form or JobResult"
    if errors or isinstance(statuses, str):
        return None, errors
    channel = UrlChannel(
        success_url=success,
        error_url=error_url,
        expected_status=statuses,
        body_format="jobresult" if body_format == "jobresult" else "wapi-form",
        fallback=fallback,
        ordered=form.get("ordered") == "yes",
    )
    if problem := channel_problem(channel):
        return None, {"expected_status": problem}
    return channel, errors


def channel_fields(channel: Channel) -> dict[str, Any]:
    """The form's values for `channel` (what the page shows before any edit); the URL
    fields show their defaults until a URL channel is saved."""
    defaults = {"expected_status": "200", "body_format": "wapi-form"}
    match channel:
        case UrlChannel():
            return {
                "method": "url",
                "success_url": channel.success_url or "",
                "error_url": channel.error_url or "",
                "expected_status": ", ".join(map(str, sorted(channel.expected_status))),
                "body_format": channel.body_format,
                "fallback": channel.fallback,
                "ordered": "yes" if channel.ordered else "",
            }
        case EmailChannel():
            return {**defaults, "method": "email", "address": channel.address,
                    "fallback": channel.fallback}  # fmt: skip
    return {**defaults, "method": "poll"}
