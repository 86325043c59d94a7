"""Reading and writing images: one reader for every format, one canonical orientation."""
