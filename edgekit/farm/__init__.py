"""Device farms on labgrid: emulated devices exported as labgrid resources (exporter.py), places reserved and
locked through labgrid's coordinator for a bench (place.py), the resource classes edgekit reads (resources.py)."""
from .place import coordinator_address, reserved_place
from .resources import EdgekitTarget, PlaceLink

__all__ = ["EdgekitTarget", "PlaceLink", "coordinator_address", "reserved_place"]
