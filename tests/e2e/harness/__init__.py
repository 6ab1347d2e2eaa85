"""Helpers for the sockguard end-to-end suite: a raw HTTP/1.1 client over a
unix socket, a docker CLI runner, the sockguard process handle and the
engine-side checks. Nothing here knows about pytest except `config`."""
