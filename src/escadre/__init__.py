"""Escadre: one Docker Compose application, any orchestrator, with safe progressive delivery."""

__version__ = "0.1.0"
