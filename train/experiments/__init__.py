"""Experiments that informed the design: runnable, not part of the product's data flow."""
