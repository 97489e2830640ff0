"""Issue 18: the HTTP analysis answers client errors with a 4xx naming the field, never a 500."""

from __future__ import annotations

import io

from tests.e2e.test_analyze_http import LEAD, _auth, client  # noqa: F401  (fixture)


def test_a_prompt_field_missing_from_fields_is_a_400(client) -> None:  # noqa: F811
    lead = {**LEAD, "fields": {"country": "MX", "product": "personal_loan"}}
    response = client.post("/", json={"recipe": "stall_reasons", "leads": [lead]}, headers=_auth())
    assert response.status_code == 400, response.data
    error = response.get_json()["error"]
    assert "leads[0].fields" in error and "`name`" in error


def test_mixed_type_fields_are_a_400(client) -> None:  # noqa: F811
    second = {**LEAD, "lead_key": "+52155000002", "fields": {**LEAD["fields"], "name": 7}}
    third = {**LEAD, "lead_key": "+52155000003", "fields": {**LEAD["fields"], "name": ["x"]}}
    response = client.post(
        "/", json={"recipe": "stall_reasons", "leads": [LEAD, second, third]}, headers=_auth()
    )
    assert response.status_code == 400, response.data
    assert "`name`" in response.get_json()["error"]


def test_a_chunked_body_is_refused_once_it_passes_the_limit(client) -> None:  # noqa: F811
    class Upload(io.BytesIO):
        """A 32 MiB chunked upload that counts what the handler reads of it."""

        taken = 0

        def read(self, size: int | None = -1) -> bytes:
            chunk = super().read(size)
            Upload.taken += len(chunk)
            return chunk

        def readinto(self, buffer) -> int:  # type: ignore[override]
            count = super().readinto(buffer)
            Upload.taken += count
            return count

    body = Upload(b"{" + b" " * (32 * 1024 * 1024) + b"}")
    response = client.post(
        "/",
        input_stream=body,
        headers={**_auth(), "Transfer-Encoding": "chunked", "Content-Type": "application/json"},
        # What gunicorn sets for a chunked request (the body's end is the stream's end).
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.status_code == 413, response.data
    assert Upload.taken <= 3 * 1024 * 1024  # stopped near the 2 MiB limit, not read whole
