"""Layer package: automation."""
