"""The openlab stream agent ``congestion``: road intersections whose traffic crawls while it flows."""
