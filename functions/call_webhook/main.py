"""Cloud Function `call-webhook`: the voice-call provider's server messages (docs/calls.md).

Status updates and end-of-call reports land on the call (``calls/{call_id}``)
and on the lead (``lead_outcomes/{lead_key}``): disposition, attempts and the
next attempt. The provider authenticates with a shared secret or an HMAC
signature (``LR_CALL_WEBHOOK_*``).
"""

import functions_framework


@functions_framework.http
def call_webhook(request):
    """POST {"message": {"type": ..., "call": {"id": ...}}} → 200 {"status": ...}."""
    # Imported on the first request, like every other function's step code.
    from common.calls.webhook import handle_call_webhook

    return handle_call_webhook(request)
