"""Fuzzing: scenario strategies, the search, shrinking, stories and JUnit output.
"""
