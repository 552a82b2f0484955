"""The edges of tidings: storage, wire formats, HTTP. `Tidings` is the embeddable library."""

from .library import Answer, Conflict, Pending, PollAnswer, Rejected, Tidings, TrailEntry

__all__ = ["Answer", "Conflict", "Pending", "PollAnswer", "Rejected", "Tidings", "TrailEntry"]
