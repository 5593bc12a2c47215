"""Live content: blocks filled at open time, not send time (see docs/MESSAGING.md)."""
