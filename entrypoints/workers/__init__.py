"""Background workers: scheduler, sweeper, membership, relay and webhook runners. A worker calls
application services; NATS and the databases are reached through adapters wired in bootstrap."""
