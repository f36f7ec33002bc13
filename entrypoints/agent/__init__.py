"""`edge-agent`: the process on each edge server that enrolls with the admin and heartbeats.

It talks to the admin only over the agent API (/agent/v1), so of the admin's code it imports
only the wire contract both sides share, application/agent_protocol.py (lint-imports checks).
"""
