"""Notifiers: deliver the outbox (`deliveries`) to units and outside systems."""
