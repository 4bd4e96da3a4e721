"""``python -m geocolor.cli``: the same as the ``geocolor`` command."""

import sys

from geocolor.cli.main import main

sys.exit(main())
