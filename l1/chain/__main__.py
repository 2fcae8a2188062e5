"""`python -m l1.chain --config FILE`: run the l1 until SIGTERM/SIGINT."""

import sys

from l1.chain.role import ROLE
from node.lifecycle import role_main

sys.exit(role_main(ROLE))
