"""Figures and the HTML report a clinician opens."""
