"""T2-to-T1 alignment: rigid (3-D) or similarity (single sagittal slice) with mutual information."""
