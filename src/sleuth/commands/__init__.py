"""CLI command groups; each module exposes `app` (a typer sub-app) or `register(app)`."""
