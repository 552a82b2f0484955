"""Audit: trails, `state_at`, replay and verify over the notification log."""
