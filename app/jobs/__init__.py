"""Background and scheduled work: assignment processing and nightly aging."""
