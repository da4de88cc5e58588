"""The HTTP edge: turns Chalice requests into service calls and domain errors into HTTP answers."""
