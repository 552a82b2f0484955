"""The library's use cases, one module per business line: `accounts`, `operations`,
`pollqueue`, `deliveries`, `audit_reads`; each holds its async implementation (one
`async def` per command over the shared `runtime`) and the synchronous calls `Tidings`
offers for it (`AccountCalls`, ...). `Tidings` (`adapters.library`) composes them."""

__all__: list[str] = []
