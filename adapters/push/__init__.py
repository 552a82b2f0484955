"""Push delivery: the due-work runner that follows the log and makes the attempts, the
HTTP deliverer (WAPI form and JobResult), the address guard, the Standard Webhooks
signer and the SMTP sender."""

__all__: list[str] = []
