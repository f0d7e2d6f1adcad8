"""``python -m aioparticipant.cli``: the console script without the script."""

from . import main

raise SystemExit(main())
