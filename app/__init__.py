"""Cartera: an open-source debt-collection platform (sistema de gestión de cobranza)."""

__version__ = "0.1.0"
