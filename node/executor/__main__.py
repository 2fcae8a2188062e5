"""`python -m node.executor --config FILE`: run the executor until SIGTERM/SIGINT."""

import sys

from node.lifecycle import role_main
from node.executor.role import ROLE

sys.exit(role_main(ROLE))
