"""The upload as values and decisions: plans, sessions, receipts, configuration; no sockets, no threads of its own."""
