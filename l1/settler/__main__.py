"""`python -m l1.settler --config FILE`: run the settler until SIGTERM/SIGINT."""

import sys

from l1.settler.role import ROLE
from node.lifecycle import role_main

sys.exit(role_main(ROLE))
