"""Event sources for producing and evaluating: MovieLens-100K, synthetic streams, files."""
