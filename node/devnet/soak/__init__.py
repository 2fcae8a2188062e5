"""A chaos soak of a devnet (scripts/soak.py): steady load, crashes and restarts, then invariants.

Modules, one job each:
  load     the transfer load (pre-signed, paced per sender) and the ledger of what the sequencer answered
  chaos    the kill/restart schedule with one long settler outage, and each role's recovery time
  checks   the end-of-run checks: nothing acknowledged lost, roots agree, balances conserved, no honest
           output defeated
"""
