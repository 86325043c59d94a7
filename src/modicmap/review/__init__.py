"""Reader review of a study's grades: ``review.csv`` rows and the local review server."""
