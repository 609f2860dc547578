"""The HTTP surface clients see: routing, middlewares, CORS, the gateway's own routes, OpenAPI."""
