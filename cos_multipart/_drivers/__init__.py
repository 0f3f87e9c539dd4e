"""The executors that run an upload: threads, asyncio, directory runs, the cluster's worker steps."""
