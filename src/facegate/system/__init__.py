"""The login service: a daemon on a Unix socket, the pam_exec client, PAM install.

Modules: ``client`` (wire format, socket client and the pam_exec entry point; standard
library only), ``paths`` and ``config`` (where things live, ``/etc/facegate/config.toml``),
``camera`` (the configured camera, or a file as a test aid), ``authenticate`` (the one
call into the unlock decision), ``attempts`` (the attempt log), ``daemon`` (the socket
server), ``admission`` (which uid may hold a connection), ``pam_config`` and ``unit``
(what ``facegate system install`` writes) and ``trusted_paths`` (its refusal to make
root run code anyone else can change).

Nothing is imported here: the PAM process runs ``client.py`` by path and must load
neither NumPy, OpenCV nor any model.
"""
