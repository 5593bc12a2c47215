"""The dramatiq runtime of Levier: broker, task runtime, worker and scheduler processes."""
