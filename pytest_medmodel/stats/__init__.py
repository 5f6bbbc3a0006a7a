"""Statistics: the significance tests behind the gates and what a gate can detect (power)."""
