"""Masking of e-mail and IP addresses."""

import ipaddress
import re

from datatrove.pipeline.base import PipelineStep
from datatrove.utils.batching import batched

EMAIL_PLACEHOLDER = "<EMAIL>"
IP_PLACEHOLDER = "<IP_ADDRESS>"

_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}(?![\w-])")
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?!\w|\.\d)")
# Candidate IPv6 runs; ipaddress decides which are real (so "12:30" or "a:b" stay untouched).
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")


def _valid_ip(candidate: str, version: int) -> bool:
    try:
        return ipaddress.ip_address(candidate).version == version
    except ValueError:
        return False


def mask_pii(text: str, email: bool = True, ip: bool = True, hint: int | None = None) -> tuple[str, int, int]:
    """Return the text with e-mail and IP addresses replaced, and how many of each were masked.

    `hint` (from `native.hints`) skips the expressions that cannot match; it changes no result.
    """
    from langmill import native

    if hint is not None:
        email = email and bool(hint & native.HINT_AT)
        ipv4 = ip and bool(hint & native.HINT_IPV4)
        ipv6 = ip and bool(hint & native.HINT_IPV6)
    else:
        ipv4 = ipv6 = ip
    n_email = n_ip = 0
    if email and "@" in text:
        text, n_email = _EMAIL.subn(EMAIL_PLACEHOLDER, text)
    if ipv4 or ipv6:
        counter = [0]

        def replace(version):
            def _sub(match):
                if _valid_ip(match.group(0), version):
                    counter[0] += 1
                    return IP_PLACEHOLDER
                return match.group(0)

            return _sub

        if ipv4 and "." in text:
            text = _IPV4.sub(replace(4), text)
        if ipv6 and ("::" in text or text.count(":") >= 7):
            text = _IPV6.sub(replace(6), text)
        n_ip = counter[0]
    return text, n_email, n_ip


class PIIMasker(PipelineStep):
    """Replaces e-mail and IP addresses with placeholders; counts them in stats and `pii_masked`."""

    name = "🕵 PII masking"
    type = "✂️ - FORMAT"

    def __init__(self, email: bool = True, ip: bool = True, batch_size: int = 512):
        super().__init__()
        self.email = email
        self.ip = ip
        self.batch_size = batch_size

    def run(self, data, rank: int = 0, world_size: int = 1):
        from langmill import native

        for batch in batched(data, self.batch_size):
            with self.track_time("batch"):
                # One Rust pass tells which documents could hold an address at all.
                hints = native.hints([doc.text for doc in batch])
                for doc, hint in zip(batch, hints):
                    doc.text, n_email, n_ip = mask_pii(doc.text, self.email, self.ip, int(hint))
                    doc.metadata["pii_masked"] = n_email + n_ip
                    if n_email:
                        self.stat_update("pii_email", value=n_email)
                    if n_ip:
                        self.stat_update("pii_ip", value=n_ip)
            yield from batch
