"""Adapters: `local` (embedded, no account) and `gcp` (Google Cloud) for every port."""
