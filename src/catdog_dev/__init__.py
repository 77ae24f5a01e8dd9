"""What the tests and the benchmarks share: a copy of the project in a temporary git repository
(`catdog_dev.repo`), photos written on the spot (`catdog_dev.photos`), and the measurement of a
child process's time and peak memory (`catdog_dev.measure`). Not used by the pipeline itself."""
