"""Developer tooling: local provisioning, seeding and the local run. Never deployed."""
