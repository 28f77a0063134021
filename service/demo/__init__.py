"""The demo dataset and the bundled demo sources (imported only by the CLI)."""
