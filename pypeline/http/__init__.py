"""Flask plumbing shared by both faces (`api/`, `web/`): authentication, request context, names, input checks."""
