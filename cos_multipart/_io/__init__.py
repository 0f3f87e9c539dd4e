"""What touches the outside world: transports and clients, sources and part readers, checkpoints on disk, locks."""
