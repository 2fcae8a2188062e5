"""`python -m sequencer --config FILE`: run the sequencer until SIGTERM/SIGINT."""

import sys

from node.lifecycle import role_main
from sequencer.role import ROLE

sys.exit(role_main(ROLE))
