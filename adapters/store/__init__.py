"""Storage: the eventsourcing application, msgspec codec, chained recorders, the unit of
work and group commit."""
