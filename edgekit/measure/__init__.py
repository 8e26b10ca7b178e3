"""Measurements on a target and the report they make."""
