"""Portunus: a planner for World of Warcraft combat. The umbrella package.

Holds what every part shares: character profiles, input errors, and (later)
the barcode protocol and configuration. The simulator lives in `sim`.
"""

from portunus.errors import InputError
from portunus.profile import CharacterProfile, parse_profile, load_profile

__all__ = ["InputError", "CharacterProfile", "parse_profile", "load_profile"]
__version__ = "0.1.0"
