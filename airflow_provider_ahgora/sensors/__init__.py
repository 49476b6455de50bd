"""Sensors: wait for PontoWeb work to finish (import the modules, not this package)."""
