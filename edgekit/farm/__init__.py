"""Device farms on labgrid: emulated devices exported as labgrid resources (exporter.py), places reserved and
locked through labgrid's coordinator for a bench (place.py), the resource classes edgekit reads (resources.py), the
flash service of a farm's microcontroller (flash_service.py). labgrid is imported only when a farm is used."""
from .place import coordinator_address, reserved_place

__all__ = ["coordinator_address", "reserved_place"]
