"""Files of a new recipe (`lead-recovery recipes new NAME`)."""

from __future__ import annotations

from pathlib import Path

META_TEMPLATE = """\
# Recipe {name}. `lead-recovery recipes schema` prints every key with its meaning.
recipe_schema_version: 2
description: TODO say which leads this recipe finds and why.
timezone: UTC
shard_size: 500
python_processors:
  - module: TemporalProcessor
  - module: MessageMetadataProcessor
output_columns:
  - lead_key
  - last_message_sender
  - last_user_message_text
  - HOURS_SINCE_LAST_MESSAGE
  - NO_USER_MESSAGES_EXIST
# schedule:
#   cron: "0 10-18 * * 1-5"
#   timezone: America/Mexico_City
# gsheets:
#   sheet_id: <the id in the sheet URL>
#   worksheet: Leads
"""

LEADS_SQL = """\
-- Target leads; must return lead_key. Parameters: @as_of (TIMESTAMP), @recipe (STRING).
SELECT lead_key
FROM my_dataset.leads
WHERE created_at >= TIMESTAMP_SUB(@as_of, INTERVAL 30 DAY)
"""

CONVERSATIONS_SQL = """\
-- Messages of a shard's leads; must return message_id, lead_key, sent_at, sender, text.
-- @lead_keys is an ARRAY<STRING> query parameter.
SELECT message_id, lead_key, sent_at, sender, text
FROM my_dataset.messages
WHERE lead_key IN UNNEST(@lead_keys)
"""

PROMPT = """\
You read a sales conversation and say why the customer stalled.
"""


def write_scaffold(target: Path) -> None:
    """Create the recipe folder with a minimal valid recipe."""
    target.mkdir(parents=True)
    (target / "meta.yml").write_text(META_TEMPLATE.format(name=target.name), encoding="utf-8")
    (target / "leads.sql").write_text(LEADS_SQL, encoding="utf-8")
    (target / "conversations.sql").write_text(CONVERSATIONS_SQL, encoding="utf-8")
    (target / "prompt.txt").write_text(PROMPT, encoding="utf-8")
