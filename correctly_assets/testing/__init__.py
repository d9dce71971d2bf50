"""Test and benchmark helpers, not shipped in the package: a real `dagster dev` and a local
OpenAI-compatible server."""
