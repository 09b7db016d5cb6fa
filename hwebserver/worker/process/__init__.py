"""The worker process: launch, control pipe, serving loop, shared state, config, threads."""
