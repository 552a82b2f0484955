"""The library's use cases, one module per business line, each with its one
implementation of every command and the calls `Tidings` (`adapters.library`) offers."""

__all__: list[str] = []
