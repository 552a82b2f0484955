"""What a push sends: the body (a WAPI form `request=<notify>...`, a Merchants JobResult,
or for e-mail the `<notify>` XML, written as xmltodict's `unparse(pretty=True, indent="
", full_document=False)` would), and the Standard Webhooks headers that sign it: a
`webhook-id` stable across retries, a signature over exactly the bytes sent, by the
secrets the domain picks (`dispatch.signing_secrets`)."""

import hashlib
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from standardwebhooks import Webhook
from tidings.domain import BodyFormat, Notification
from tidings.domain.delivery import key
from tidings.domain.dispatch import ROTATION_GRACE, signing_secrets

from ..merchants import jobresult
from ..wapi.request import NOT_XML

__all__ = [
    "FORM",
    "http_body",
    "notify_fields",
    "render_notify",
    "signed_headers",
    "webhook_id",
    "xml_document",
]

FORM = "application/x-www-form-urlencoded; charset=utf-8"


def http_body(notification: Notification, body_format: BodyFormat) -> tuple[str, bytes]:
    """(content type, body) of an HTTP push of `notification`."""
    if body_format == "jobresult":
        return jobresult.encode(notification.outcome)
    return FORM, urlencode({"request": render_notify(notification).decode("utf-8")}).encode("ascii")


def render_notify(notification: Notification) -> bytes:
    """A pushed notification: always XML, `<notify>` ending with `<ID>`."""
    return xml_document("notify", notify_fields(notification, id_name="ID"))


def notify_fields(notification: Notification, *, id_name: str = "id") -> dict[str, Any]:
    """The fields of a notification in WAPI order: poll-req's `notify` (lowercase `id`)
    or, with `id_name="ID"`, a pushed `<notify>`."""
    outcome = notification.outcome
    fields: dict[str, Any] = {
        "code": outcome.code,
        "result": outcome.result,
        "timestamp": int(outcome.timestamp.timestamp()),
        "clTRID": outcome.cltrid,
        "svTRID": outcome.svtrid,
        "command": outcome.command,
    }
    if outcome.data:
        fields["data"] = outcome.data
    fields[id_name] = notification.id
    return fields


def xml_document(root: str, fields: dict[str, Any]) -> bytes:
    """`fields` as the XML element `root`, UTF-8 (see the module docstring)."""
    out: list[str] = []
    _element(out, root, _xml_value(fields), 0)
    return "".join(out).encode("utf-8")


def _xml_value(value: Any) -> Any:
    """Values as XML text; characters XML cannot carry are replaced. Keys are written as
    they are: `data` keys are XML names, the domain refuses any other
    (`tidings.domain.document`)."""
    if isinstance(value, dict):
        return {k: _xml_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_xml_value(item) for item in value]
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    return NOT_XML.sub("\ufffd", str(value))


def _escaped(text: str) -> str:
    """Character data as XML writers escape it (xml.sax.saxutils.escape)."""
    return text.replace("&", "&amp;").replace(">", "&gt;").replace("<", "&lt;")


def _element(out: list[str], name: str, value: Any, depth: int) -> None:
    """`value` (as `_xml_value` gives it) as element `name`, indented one space a level:
    a list as one element per item; a dict as child elements, one per line (an empty
    list leaves its child out); None or an empty dict as an empty element; text escaped."""
    pad = " " * depth
    end = "\n" if depth else ""
    for item in value if isinstance(value, list) else (value,):
        if isinstance(item, dict):
            children = [(k, v) for k, v in item.items() if not (isinstance(v, list) and not v)]
            if children:
                out.append(f"{pad}<{name}>\n")
                for child_name, child in children:
                    _element(out, child_name, child, depth + 1)
                out.append(f"{pad}</{name}>{end}")
                continue
            item = None
        if item is None:
            out.append(f"{pad}<{name}></{name}>{end}")
        else:
            text = item if isinstance(item, str) else str(item)
            out.append(f"{pad}<{name}>{_escaped(text)}</{name}>{end}")


def webhook_id(login: str, notification_id: int) -> str:
    """The stable message id of one notification of one account."""
    digest = hashlib.sha256(key(login, notification_id).encode()).hexdigest()[:24]
    return f"msg_{digest}"


def signed_headers(
    msg_id: str,
    body: bytes,
    now: datetime,
    secret: str,
    previous: str = "",
    rotated_at: datetime | None = None,
    grace: timedelta = ROTATION_GRACE,
) -> dict[str, str]:
    """The three Standard Webhooks headers for `body`, signed with `secret` and, within
    `grace` of a rotation, also with `previous`."""
    text = body.decode("utf-8")
    secrets = signing_secrets(secret, previous, rotated_at, now, grace)
    signatures = " ".join(Webhook(s).sign(msg_id, now, text) for s in secrets)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signatures,
    }
