"""Adapters: implementations of the storage ports (``relevo.ports``) on real storage engines."""
