"""Privacy: identifiers masked before text goes to an LLM or embedding provider.

- `detectors`: the `Detector` interface and the offline `LocalDetector`
  (regexes + check digits + `phonenumbers`); `dlp`: Google Cloud Sensitive Data
  Protection behind the same interface.
- `masker`: per-conversation placeholders (``<PHONE_1>``, ``<NAME>``) and their
  restoration in the answers.
- `config`: the recipe's `privacy` section and `build_masker`.
- `cli`: ``lead-recovery privacy check``.

See docs/privacy.md.
"""
