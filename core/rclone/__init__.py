"""DLM's rclone client.

Every part of DLM that touches storage goes through here. The work is done by an ``rclone rcd``
daemon that each DLM process starts for itself on first use and supervises: it listens on a unix
socket in a private directory, with random credentials, and is started again if it dies. A
remote is never configured in the daemon: each call carries its definition (built from a
``StorageConfig``), so secrets touch neither the disk nor a command line, and password-type
options are obscured as rclone requires. Every call has a timeout, and rclone's own error text
is passed on with every secret value replaced by ``***`` (the daemon's answers echo their input,
which is never passed on).

The daemon is handed to callers only once it answers, and it is started from a thread that lives
as long as the process (see ``rcd.Spawner``). A call that does not get through to it is made
again where that is safe (see ``daemon._READS``), on a new daemon if the old one is gone;
otherwise the error says "rclone could not be reached" and why, and the log has the cause.
``error_is_permanent`` tells the errors that trying again cannot cure from the passing ones.

``errors`` holds the errors and the masking of secrets, ``rcd`` one daemon process and its
socket, ``daemon`` this process's daemon and its calls, ``remotes`` the remote definitions as
calls carry them, ``operations`` what is asked and waited for, ``direct`` a plain local disk's
files described in this process as rclone would (``operations`` asks it first), ``copies``
copies, purges and the background jobs that run them. Callers use what this package exposes.
"""

from core.rclone.copies import (
    copy_file,
    copy_start,
    hashsum_start,
    job_stats,
    job_status,
    job_stop,
    purge_start,
    stats_delete,
)
from core.rclone.daemon import DAEMON, Daemon
from core.rclone.errors import RcloneError, error_is_not_found, error_is_permanent, mask, secret_values
from core.rclone.listing import Listing, hashes_cheap, list_stream
from core.rclone.moves import move
from core.rclone.operations import Reachability, about, hash_types, list_files, remote_reachable, remove, size, stat
from core.rclone.rcd import rclone_binary
from core.rclone.remotes import full_path, obscure

__all__ = [
    "DAEMON",
    "Daemon",
    "Listing",
    "RcloneError",
    "Reachability",
    "about",
    "copy_file",
    "copy_start",
    "error_is_not_found",
    "error_is_permanent",
    "full_path",
    "hash_types",
    "hashes_cheap",
    "hashsum_start",
    "job_stats",
    "job_status",
    "job_stop",
    "list_files",
    "list_stream",
    "mask",
    "move",
    "obscure",
    "purge_start",
    "rclone_binary",
    "remote_reachable",
    "remove",
    "secret_values",
    "size",
    "stat",
    "stats_delete",
]
