"""``python -m tallyhouse_cli`` is the ``tallyhouse`` command."""

import sys

from tallyhouse_cli.main import main

sys.exit(main())
