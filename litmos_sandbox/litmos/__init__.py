"""The Litmos sandbox: a generated tenant (``tenant/``) served over HTTP like Litmos."""
