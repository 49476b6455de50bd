"""Triggers: the async pollers behind the deferrable sensors (import the modules, not this package)."""
