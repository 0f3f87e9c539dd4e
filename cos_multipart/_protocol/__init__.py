"""The rules of COS and OSS as pure code: limits, errors, values, signers, dialects, request builders and parsers."""
