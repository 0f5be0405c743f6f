"""The original's `pypeline.flask.api` package (only `utils.chain_helper` is public)."""
