"""``python -m common.cli``: the same as the `lead-recovery` command."""

from common.cli import main

main()
