"""The steps of a run; each is a plain function the Cloud Functions and the CLI call."""
