"""`python -m gateway.cli`: the console script `olconnect-gateway`."""

import sys

from gateway.cli.commands import main

sys.exit(main())
