"""Reports: the run report and the weak-link report, self-contained HTML.
"""
