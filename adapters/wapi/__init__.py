"""WAPI's wire format: `<request>` parsing (XML, JSON, form), `<response>` and `<notify>`
rendering, and the auth token."""
