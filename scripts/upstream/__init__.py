"""scripts/upstream-tests in pieces: the DLM it starts (server), the upstream sources and their
virtualenv (sources), the two modes (rest, client), the command line (cli) and what they share
(common). The files under harness/ are not imported here: they are copied into the work directory
and run there, by upstream's virtualenv or by DLM's python."""
