"""Push delivery: the due-work runner, the HTTP and SMTP senders, the address guard."""

__all__: list[str] = []
