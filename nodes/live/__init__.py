"""Adapters that run a node for real: the asyncio runtime, the MQTT transport, SQLite storage,
broker configuration and key files.

The only part of nodes/ that may import asyncio, sqlite3 or subprocess.
"""
