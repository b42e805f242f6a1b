"""`python -m agent.daemon ...`: the same daemon as `python -m agent run ...`."""

import sys

from agent.daemon.service import main

raise SystemExit(main(sys.argv[1:]))
