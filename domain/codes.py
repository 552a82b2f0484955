"""Result codes: the one table every surface answers with.

The 1xxx and 20xx-21xx codes and their texts are WAPI's own (the Wedos WAPI code list);
2302-2304 and 2400 are borrowed from EPP (RFC 5730, section 3), our tie-breaker where
WAPI is silent; 2053 is ours. WAPI itself spells 1002 "Notification aquired"; we send the
corrected spelling because clients match the code, never the text.

| code | text                                              | when                                 |
|------|---------------------------------------------------|--------------------------------------|
| 1000 | OK                                                | success, poll-req returned a message |
| 1001 | Request pending                                   | operation accepted, ends later       |
| 1002 | Notification acquired                             | poll-ack of the head (or its re-ack) |
| 1003 | Empty notifications queue                         | poll-req on an empty queue           |
| 2000 | Request parse error                               | malformed XML / JSON / form          |
| 2001 | Invalid request - required parameter missing: user| no `user`                            |
| 2002 | Invalid request - required parameter missing: auth| no `auth`                            |
| 2003 | Invalid request - required parameter missing: command | no `command`                     |
| 2004 | Invalid request - only one data element is allowed| duplicate elements                   |
| 2005 | Invalid request - clTRID parameter is too long    | clTRID over 64 characters            |
| 2007 | Invalid request - maximum request size exceeded   | body over the size limit             |
| 2008 | Invalid request - request is too complex          | too deep or too many elements        |
| 2009 | Invalid request - request is empty                | empty body / no `request` field      |
| 2010 | Unknown command                                   | command not known                    |
| 2050 | Authentication failure                            | bad login or auth (same answer)      |
| 2051 | Access not allowed from this IP address           | IP not on the account's allow-list   |
| 2053 | Account suspended                                 | the account is suspended             |
| 2100 | Required parameter missing                        | a command parameter is missing       |
| 2101 | Parameters mismatch                               | a parameter has a wrong type / value |
| 2102 | Invalid request - input data encoding mismatch    | invalid UTF-8                        |
| 2150 | Notification polling not allowed for this account | poll on a push (url/email) account   |
| 2151 | Notification does not exist                       | ack of anything but the head         |
| 2302 | Object exists                                     | open/accept/schedule twice           |
| 2303 | Object does not exist                             | unknown account/operation/delivery   |
| 2304 | Object status prohibits operation                 | e.g. ending an ended operation       |
| 2400 | Command failed                                    | the store could not complete it      |
"""

from enum import IntEnum

__all__ = ["Code"]


class Code(IntEnum):
    """A result code; `Code.X.text` is the text sent with it."""

    OK = 1000
    PENDING = 1001
    ACKED = 1002
    QUEUE_EMPTY = 1003
    PARSE_ERROR = 2000
    MISSING_USER = 2001
    MISSING_AUTH = 2002
    MISSING_COMMAND = 2003
    DUPLICATE_ELEMENT = 2004
    CLTRID_TOO_LONG = 2005
    TOO_LARGE = 2007
    TOO_COMPLEX = 2008
    EMPTY_REQUEST = 2009
    UNKNOWN_COMMAND = 2010
    AUTH_FAILED = 2050
    IP_NOT_ALLOWED = 2051
    ACCOUNT_SUSPENDED = 2053
    MISSING_PARAMETER = 2100
    INVALID_PARAMETER = 2101
    ENCODING_MISMATCH = 2102
    POLL_NOT_ALLOWED = 2150
    NOTIFICATION_NOT_FOUND = 2151
    OBJECT_EXISTS = 2302
    OBJECT_NOT_FOUND = 2303
    STATUS_PROHIBITS = 2304
    COMMAND_FAILED = 2400

    @property
    def text(self) -> str:
        return _TEXTS[self]

    @property
    def is_success(self) -> bool:
        return self.value < 2000


_TEXTS: dict[Code, str] = {
    Code.OK: "OK",
    Code.PENDING: "Request pending",
    Code.ACKED: "Notification acquired",
    Code.QUEUE_EMPTY: "Empty notifications queue",
    Code.PARSE_ERROR: "Request parse error",
    Code.MISSING_USER: "Invalid request - required parameter missing: user",
    Code.MISSING_AUTH: "Invalid request - required parameter missing: auth",
    Code.MISSING_COMMAND: "Invalid request - required parameter missing: command",
    Code.DUPLICATE_ELEMENT: "Invalid request - only one data element is allowed",
    Code.CLTRID_TOO_LONG: "Invalid request - clTRID parameter is too long",
    Code.TOO_LARGE: "Invalid request - maximum request size exceeded",
    Code.TOO_COMPLEX: "Invalid request - request is too complex",
    Code.EMPTY_REQUEST: "Invalid request - request is empty",
    Code.UNKNOWN_COMMAND: "Unknown command",
    Code.AUTH_FAILED: "Authentication failure",
    Code.IP_NOT_ALLOWED: "Access not allowed from this IP address",
    Code.ACCOUNT_SUSPENDED: "Account suspended",
    Code.MISSING_PARAMETER: "Required parameter missing",
    Code.INVALID_PARAMETER: "Parameters mismatch",
    Code.ENCODING_MISMATCH: "Invalid request - input data encoding mismatch",
    Code.POLL_NOT_ALLOWED: "Notification polling not allowed for this account",
    Code.NOTIFICATION_NOT_FOUND: "Notification does not exist",
    Code.OBJECT_EXISTS: "Object exists",
    Code.OBJECT_NOT_FOUND: "Object does not exist",
    Code.STATUS_PROHIBITS: "Object status prohibits operation",
    Code.COMMAND_FAILED: "Command failed",
}
