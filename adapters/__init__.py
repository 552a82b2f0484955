"""The edges of tidings: storage, wire formats, HTTP, SMTP."""

__all__: list[str] = []
