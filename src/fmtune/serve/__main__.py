"""`python -m fmtune.serve MODEL [options]` = `fmtune deploy MODEL [options]` (what `start_endpoint` runs)."""

import sys

from fmtune.cli.main import main

sys.exit(main(["deploy", *sys.argv[1:]]))
