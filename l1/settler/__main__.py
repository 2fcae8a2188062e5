"""`python -m l1.settler --config FILE`: run the settler until SIGTERM/SIGINT."""

import sys

from node.lifecycle import role_main
from l1.settler.role import ROLE

sys.exit(role_main(ROLE))
