"""Stand-in for ska-ser-logging (SKAO's registry only), imported by ska_dlm.dlm_request."""

import logging


def configure_logging(level=logging.INFO, *args, **kwargs):
    logging.basicConfig(level=level)
