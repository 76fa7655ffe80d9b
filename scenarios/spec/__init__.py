"""The scenario language: the schema, the TOML loader and its errors, and the writer back to TOML.

Imports nodes (for the registry's reference data) and nothing else of scenarios.
"""
