"""Lead Recovery: the library behind every Cloud Function and the CLI."""

__version__ = "0.1.0"
