"""Campaigns: one-shot communications to a target at a time."""
