"""Command-line entry points: `python -m correctly_assets.cli.<name>`."""
