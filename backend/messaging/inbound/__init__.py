"""Messages people send to a brand: SMS keywords (STOP, START…) changing SMS consent."""
