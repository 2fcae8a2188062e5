"""`python -m prover --config FILE`: run the challenger until SIGTERM/SIGINT."""

import sys

from node.lifecycle import role_main
from prover.role import ROLE

sys.exit(role_main(ROLE))
