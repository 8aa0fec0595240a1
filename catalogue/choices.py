"""Enumerations of the catalogue, with the exact (case-sensitive) values of the ska-dlm API."""

from __future__ import annotations

from django.db import models


class LocationType(models.TextChoices):
    LOCAL_DEV = "local-dev"
    LOW_INTEGRATION = "low-integration"
    MID_INTEGRATION = "mid-integration"
    LOW_OPERATIONS = "low-operations"
    MID_OPERATIONS = "mid-operations"


class LocationCountry(models.TextChoices):
    AU = "AU"
    ZA = "ZA"
    UK = "UK"


class ConfigType(models.TextChoices):
    RCLONE = "rclone"
    SSH = "ssh"
    AWS = "aws"
    GCS = "gcs"


class StorageType(models.TextChoices):
    FILESYSTEM = "filesystem"
    OBJECTSTORE = "objectstore"
    TAPE = "tape"


class StorageInterface(models.TextChoices):
    POSIX = "posix"
    S3 = "s3"
    SFTP = "sftp"
    HTTPS = "https"


class PhaseType(models.TextChoices):
    """Resilience levels, lowest first. Compare with ``PHASE_WEIGHT``, never alphabetically."""

    PLASMA = "PLASMA"
    GAS = "GAS"
    LIQUID = "LIQUID"
    SOLID = "SOLID"


PHASE_WEIGHT = {PhaseType.PLASMA: 0, PhaseType.GAS: 1, PhaseType.LIQUID: 2, PhaseType.SOLID: 4}


class ItemType(models.TextChoices):
    UNKNOWN = "unknown"
    FILE = "file"
    CONTAINER = "container"


class ItemState(models.TextChoices):
    INITIALISED = "INITIALISED"
    READY = "READY"
    CORRUPTED = "CORRUPTED"
    EXPIRED = "EXPIRED"
    DELETED = "DELETED"


class ChecksumMethod(models.TextChoices):
    NONE = "none"
    ADLER32 = "adler32"
    BLAKE2B = "blake2b"
    BLAKE2S = "blake2s"
    CRC32 = "crc32"
    CRC32C = "crc32c"
    FLETCHER32 = "fletcher32"
    HIGHWAYHASH = "highwayhash"
    JENKINSLOOKUP3 = "jenkinslookup3"
    MD5 = "md5"
    METROHASH128 = "metrohash128"
    SHA1 = "sha1"
    SHA224 = "sha224"
    SHA256 = "sha256"
    SHA384 = "sha384"
    SHA3_224 = "sha3_224"
    SHA3_256 = "sha3_256"
    SHA3_384 = "sha3_384"
    SHA3_512 = "sha3_512"
    SHA512 = "sha512"
    SHAKE_128 = "shake_128"
    SHAKE_256 = "shake_256"
    SPOOKYHASH = "spookyhash"
    XXH3 = "xxh3"


_MIME_TYPES = [
    "application/fits", "application/gzip", "application/json", "application/mp4", "application/msword",
    "application/octet-stream", "application/pdf", "application/postscript", "application/rtf",
    "application/vnd.ms-cab-compressed", "application/vnd.ms-excel", "application/vnd.ms-powerpoint",
    "application/vnd.msv2", "application/vnd.msv3", "application/vnd.msv4", "application/vnd.rar",
    "application/vnd.sqlite3", "application/vnd.zarr", "application/x-7z-compressed", "application/x-bzip",
    "application/x-bzip2", "application/x-cpio", "application/x-debian-package", "application/x-gzip",
    "application/x-hdf", "application/x-iso9660-image", "application/x-ms-application",
    "application/x-msdownload", "application/x-rar-compressed", "application/x-sh", "application/x-shellscript",
    "application/x-tar", "application/x-tex", "application/x-zip-compressed", "application/xml",
    "application/yaml", "application/zip", "application/zip-compressed", "audio/mp4", "image/jpeg",
    "image/png", "image/tiff", "text/csv", "text/html", "text/javascript", "text/markdown", "text/plain",
    "text/tab-separated-values", "text/x-c", "text/x-fortran", "text/x-java-source", "text/x-python",
    "video/mp4",
]  # fmt: skip

MimeType = models.TextChoices(
    "MimeType", [(value.upper().replace("/", "_").replace("-", "_").replace(".", "_"), value) for value in _MIME_TYPES]
)
