"""Live clusters: a scenario file run on real `chemtrace node` processes through a broker.
"""
