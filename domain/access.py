"""Access: whether an account's client may run a command, and which answer refuses it.

One rule for every path (the library, WAPI, the Merchants API): a client command
(accepting an operation, poll, ack) runs only for an opened, active account, and, when
the caller came over the network, only if it authenticated from an address on the
account's allow-list. Checked in this order, the first failure answers:

| caller  | failure                                   | code |
|---------|-------------------------------------------|------|
| Trusted | the account was never opened, or closed   | 2303 |
| Remote  | not authenticated, an unknown login, or a | 2050 |
|         | closed account                            |      |
| Remote  | the address is not on the allow-list      | 2051 |
| both    | the account is suspended                  | 2053 |

A remote caller with an unknown login gets 2050, the answer of a wrong password, so the
answer never tells whether a login exists; a closed account's login answers the same (its
stream stays for audit, but for its clients the account is gone: RFC 5730's 2303 "object
does not exist" to the backend, which may ask). Checking the credentials themselves (WAPI's
hourly token, the Merchants token) is the wire format's business: it tells this rule
only whether they matched. The backend's own commands (a step, an ending) and the
operator's (suspend, resume, settings) are not client commands: an operation accepted
before a suspension still ends, and its notification waits for the account's return.
"""

from msgspec import Struct

from .account import AccountState
from .allowlist import ip_allowed
from .codes import Code
from .rejection import Rejection, reject

__all__ = ["Caller", "Remote", "Trusted", "refusal"]


class Trusted(Struct, frozen=True, gc=False):
    """The embedding backend or the operator, calling the library directly."""


class Remote(Struct, frozen=True, gc=False, kw_only=True):
    """A client over the network: whether its credentials matched, and its address."""

    authenticated: bool
    client_ip: str | None


Caller = Trusted | Remote


def refusal(account: AccountState, caller: Caller) -> Rejection | None:
    """Why `caller` may not run a client command on `account`, or None when it may
    (rules and codes in the module docstring)."""
    if isinstance(caller, Trusted):
        if not account.opened:
            return reject(Code.OBJECT_NOT_FOUND, "account does not exist")
        if account.closed:
            return reject(Code.OBJECT_NOT_FOUND, "account is closed")
    elif isinstance(caller, Remote):
        if not caller.authenticated or not account.opened or account.closed:
            return reject(Code.AUTH_FAILED)
        if not ip_allowed(account.allowed_ips, caller.client_ip):
            return reject(Code.IP_NOT_ALLOWED)
    if account.suspended:
        return reject(Code.ACCOUNT_SUSPENDED)
    return None
