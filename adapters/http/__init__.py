"""The Starlette app served by uvicorn: WAPI, the JSON API with OpenAPI, Merchants jobs,
health and the access log."""
