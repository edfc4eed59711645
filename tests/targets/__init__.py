"""The registry of targets (gateway/targets/, gateway/http/targets.py)."""
