"""The HTTP API and the review page (Litestar): ``api.app.create_app(settings)``."""
