"""`edge-agent`: the process on each edge server that enrolls with the admin and heartbeats.

It talks to the admin only over the agent API (/agent/v1), so it imports nothing from the
admin's domain, application or adapters.
"""
