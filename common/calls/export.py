"""``python -m common.calls.export [--out PATH]``: write every stored call transcript as Parquet.

Builds the CallStore from the ``LR_*`` settings and hands it to
`common.calls.transcripts.export_transcripts` (which knows no backend).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from common.calls.transcripts import export_transcripts


def main(argv: Sequence[str] | None = None) -> int:
    """Export with the LR_* settings; prints how many call messages were written where."""
    from common.backends import build_call_store
    from common.settings import get_settings

    settings = get_settings()
    parser = argparse.ArgumentParser(
        description="Call transcripts as conversations, so a recipe can analyse calls like chats."
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=settings.warehouse_dir / "calls" / "messages.parquet",
        help="Parquet file to write (default: <LR_WAREHOUSE_DIR>/calls/messages.parquet)",
    )
    args = parser.parse_args(argv)
    rows = export_transcripts(build_call_store(settings), args.out)
    print(f"{rows} call messages written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
