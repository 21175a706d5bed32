"""One module per page's JSON API; each exposes ``routes(ctx) -> list`` of Starlette routes."""
