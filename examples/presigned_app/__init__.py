"""A small asyncio web application whose page uploads a file straight to the bucket with presigned part URLs."""
