"""Google Cloud adapters: BigQuery, Cloud Storage, Firestore and Pub/Sub.

These are the only modules that import the Google SDKs; steps reach them through
the ports in `common.ports`, wired by `common.backends.build_backends`. Each
client honours its emulator variable (``FIRESTORE_EMULATOR_HOST``,
``PUBSUB_EMULATOR_HOST``, ``STORAGE_EMULATOR_HOST``), so the same code runs
against the local emulators in tests.
"""
