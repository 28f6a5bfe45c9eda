"""Evaluation of trained models (held-out data only)."""
