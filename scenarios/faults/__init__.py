"""Byzantine behaviours, protocol adversaries and mutants.
"""
