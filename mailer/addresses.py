"""Moved to :mod:`responsemaster.addresses` (returned mail and the API check addresses the same way).

Kept as an alias so code written against the old place keeps working.
"""

from responsemaster.addresses import InvalidAddress, is_real_address, validate_address

__all__ = ["InvalidAddress", "is_real_address", "validate_address"]
