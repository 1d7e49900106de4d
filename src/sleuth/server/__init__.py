"""The HTTP API and web page: `sleuth.server.app.create_app(settings, sleuth=...)`, run by `sleuth serve`."""
