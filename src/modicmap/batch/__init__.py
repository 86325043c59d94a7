"""Cohort processing: many studies, one folder each, on a process pool or a Dask cluster."""
