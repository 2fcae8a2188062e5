"""`python -m l1.chain --config FILE`: run the l1 until SIGTERM/SIGINT."""

import sys

from node.lifecycle import role_main
from l1.chain.role import ROLE

sys.exit(role_main(ROLE))
