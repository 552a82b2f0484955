"""What a push sends: the bytes of a notification in the account's chosen form.

- WAPI form: `request=<notify>...</notify>` as `application/x-www-form-urlencoded`,
  UTF-8, the way WAPI calls a client's script ("by using the POST method in parameter
  request");
- JobResult: the Merchants document (see `merchants.jobresult`), XML or JSON after the
  original request;
- e-mail: the `<notify>` XML itself.
"""

from urllib.parse import urlencode

from tidings.domain import BodyFormat, Notification

from ..merchants import jobresult
from ..wapi.response import render_notify

__all__ = ["FORM", "http_body"]

FORM = "application/x-www-form-urlencoded; charset=utf-8"


def http_body(notification: Notification, body_format: BodyFormat) -> tuple[str, bytes]:
    """(content type, body) of an HTTP push of `notification`."""
    if body_format == "jobresult":
        return jobresult.encode(notification.outcome)
    xml = render_notify(notification).decode("utf-8")
    return FORM, urlencode({"request": xml}).encode("ascii")
