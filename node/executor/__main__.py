"""`python -m node.executor --config FILE`: run the executor until SIGTERM/SIGINT."""

import sys

from node.executor.role import ROLE
from node.lifecycle import role_main

sys.exit(role_main(ROLE))
