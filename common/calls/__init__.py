"""Voice calls: the provider's webhook, call dispositions, retry plans, outcomes in the report.

Modules: `models` (server messages), `auth` (shared secret / HMAC), `events`
(message → `CallEvent`), `state` (how an event changes a call and its lead),
`disposition`, `retry`, `webhook` (the HTTP handler), `report_join` (outcomes
onto the report), `transcripts` (calls as conversations). See docs/calls.md.
"""
