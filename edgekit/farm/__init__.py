"""Device farms on labgrid: emulated devices exported as labgrid resources (exporter.py), places reserved and
locked through labgrid's coordinator for a bench (place.py), the resource classes edgekit reads (resources.py), the
flash service of a farm's microcontroller (flash_service.py). labgrid is imported only when a farm is used."""
from .place import checked_coordinator, coordinator_address, place_profile, reserved_place

__all__ = ["checked_coordinator", "coordinator_address", "place_profile", "reserved_place"]
